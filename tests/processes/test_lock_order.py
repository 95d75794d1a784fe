"""On PostgreSQL every transaction that changes a parallel import and its chunks locks the import's
row first, then its chunks' rows by token: an abort racing a chunk's failure, or a reap of a lost
chunk, waits its turn and never dies of a deadlock (which the endpoint would answer 503)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flask_import_abort.processes import AbortOutcome, ImportState
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import require_postgres, sql_registry

pytestmark = pytest.mark.slow  # 200 races on a real PostgreSQL

TRIALS = 100
CHUNKS = 200
LEASE = 0.5


@pytest.fixture(scope="module")
def registry() -> Iterator[SQLImportRegistry]:
    with sql_registry(require_postgres(), lease=LEASE, webhooks=True) as made:
        yield made


def _race(first: Callable[[], Any], abort: Callable[[], AbortOutcome], delay: float) -> list[Any]:
    """``first`` and, ``delay`` seconds later, ``abort``, each in a thread: what each answered
    or raised."""
    answers: list[Any] = [None, None]

    def run(place: int, call: Callable[[], Any], wait: float) -> None:
        time.sleep(wait)
        try:
            answers[place] = call()
        except Exception as error:  # what the race raised is the test's answer
            answers[place] = error

    threads = [
        threading.Thread(target=run, args=(0, first, 0.0)),
        threading.Thread(target=run, args=(1, abort, delay)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _started(registry: SQLImportRegistry) -> tuple[str, str]:
    """A parallel import of 200 chunks: the first running, the others queued."""
    imported = registry.register_chunks(CHUNKS)
    registry.start(imported.chunks[0])
    return imported.token, imported.chunks[0]


def _check(registry: SQLImportRegistry, token: str, abort: Any) -> None:
    assert not isinstance(abort, Exception), f"the abort raised {abort!r}"
    ended = registry.snapshot(token)
    assert ended.state.is_final, f"the import is left {ended.state.value}"
    if abort is AbortOutcome.REQUESTED:  # a 200 ends aborted
        assert ended.state is ImportState.ABORTED
    assert all(chunk.state.is_final for chunk in registry.chunks(token))


def test_an_abort_racing_a_chunks_failure_never_deadlocks(
    registry: SQLImportRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    delays = random.Random(14)
    with caplog.at_level(logging.WARNING):
        for _ in range(TRIALS):
            token, running = _started(registry)
            failed, abort = _race(
                lambda running=running: registry.finish(running, ImportState.FAILED),
                lambda token=token: registry.abort(token),
                delays.uniform(0, 0.03),
            )
            assert not isinstance(failed, Exception), f"the chunk's end raised {failed!r}"
            _check(registry, token, abort)
    assert "could not be brought up to date" not in caplog.text  # no end left to a reap
    assert "deadlock" not in caplog.text.lower()


def test_an_abort_racing_a_reap_of_a_lost_chunk_never_deadlocks(
    registry: SQLImportRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    delays = random.Random(7)
    imports = [_started(registry) for _ in range(TRIALS)]
    time.sleep(LEASE + 0.2)  # every first chunk's worker is lost now
    with caplog.at_level(logging.WARNING):
        for token, _ in imports:
            reaped, abort = _race(
                registry.reap, lambda token=token: registry.abort(token), delays.uniform(0, 0.03)
            )
            assert not isinstance(reaped, Exception), f"the reap raised {reaped!r}"
            _check(registry, token, abort)
    assert "deadlock" not in caplog.text.lower()
