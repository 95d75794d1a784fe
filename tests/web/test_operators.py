"""Who aborted, when and why: named credentials, identities, reasons, request ids, signals."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import (
    AbortOutcome,
    Identity,
    ImportAbort,
    ImportRun,
    ImportState,
    InMemoryImportRegistry,
)
from flask_import_abort.operators import reap_app
from flask_import_abort.processes import EndReason, WorkerRegistry
from flask_import_abort.signals import (
    abort_requested,
    abort_responded,
    process_ended,
    process_started,
)

from ..helpers import LEASE, Clock, SpyRegistry, abort_url, assert_error_model

TOKENS = {"ops-team": "ops-secret-1", "nightly-ci": "ci-secret-2"}


def _host(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(TESTING=True, IMPORT_ABORT_BEARER_TOKENS=TOKENS, **config)
    ImportAbort(app, registry=registry)
    return app


def _as(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def _running(registry: WorkerRegistry) -> str:
    token = registry.register()
    registry.start(token)
    return token


# Who.


def test_a_named_token_is_the_actor_and_its_secret_is_never_recorded(
    worker_registry: WorkerRegistry,
) -> None:
    token = _running(worker_registry)
    client = _host(worker_registry).test_client()

    assert client.post(abort_url(token), headers=_as("nightly-ci")).status_code == 200

    snapshot = worker_registry.snapshot(token)
    assert snapshot.aborted_by == "nightly-ci"
    assert TOKENS["nightly-ci"] not in json.dumps(snapshot.__dict__, default=str)
    assert snapshot.abort_requested_at is not None


def test_unnamed_tokens_keep_working_and_are_named_by_their_place() -> None:
    registry = InMemoryImportRegistry()
    first, second = _running(registry), _running(registry)
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=["one-secret", "two-secret"])
    ImportAbort(app, registry=registry)
    client = app.test_client()

    client.post(abort_url(first), headers={"Authorization": "Bearer one-secret"})
    client.post(abort_url(second), headers={"Authorization": "Bearer two-secret"})

    assert (registry.snapshot(first).aborted_by, registry.snapshot(second).aborted_by) == (
        "bearer-1",
        "bearer-2",
    )


@pytest.mark.parametrize(
    ("answer", "actor"),
    [
        (True, "authorizer"),
        (Identity("jane@example.com"), "jane@example.com"),
        # an OpenID Connect subject may be 255 characters long: kept whole
        (Identity("sub|" + "x" * 251), "sub|" + "x" * 251),
    ],
    ids=["True", "an identity", "a 255-character identity"],
)
def test_an_authorizer_may_name_the_actor(answer: object, actor: str) -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)
    app = Flask("host")
    app.config.update(IMPORT_ABORT_AUTHORIZE=lambda request: answer)
    ImportAbort(app, registry=registry)

    assert app.test_client().post(abort_url(token)).status_code == 200
    assert registry.snapshot(token).aborted_by == actor


def test_anonymous_access_records_anonymous() -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)
    app = Flask("host")
    app.config.update(IMPORT_ABORT_ALLOW_ANONYMOUS=True)
    ImportAbort(app, registry=registry)

    app.test_client().post(abort_url(token))

    assert registry.snapshot(token).aborted_by == "anonymous"


@pytest.mark.parametrize(
    ("tokens", "says"),
    [
        ({"": "secret-1"}, "names a token ''"),
        ({"  ": "secret-1"}, "names a token"),
        ({"ops": ""}, "non-empty strings"),
        ({"ops": "same-secret", "ci": "same-secret"}, "one token twice"),
        (["same-secret", "same-secret"], "one token twice"),
        ({"ops": 42}, "non-empty strings"),
        # longer than the column that records who aborted
        ({"n" * 256: "secret-1"}, "1 to 255 characters"),
        ({"right\u202eleft": "secret-1"}, "printable"),
    ],
)
def test_named_tokens_that_make_no_sense_fail_at_init_app_naming_the_setting(
    tokens: Any, says: str
) -> None:
    app = Flask("host")
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = tokens

    with pytest.raises(ValueError, match=f"IMPORT_ABORT_BEARER_TOKENS.*{says}"):
        ImportAbort(app, registry=SpyRegistry())


@pytest.mark.parametrize("secret", [12345, 987654321.5])
def test_a_token_that_is_not_a_string_is_refused_without_echoing_it(secret: object) -> None:
    app = Flask("host")
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = {"ops": secret}

    with pytest.raises(ValueError, match="IMPORT_ABORT_BEARER_TOKENS") as refused:
        ImportAbort(app, registry=SpyRegistry())
    assert str(secret) not in str(refused.value)


# Why, and which request.


def test_the_reason_and_the_request_id_are_recorded_with_the_abort(
    worker_registry: WorkerRegistry,
) -> None:
    token = _running(worker_registry)
    client = _host(worker_registry).test_client()

    answer = client.post(
        abort_url(token),
        json={"reason": "Wrong price list: the supplier sent last year's", "other": 1},
        headers={**_as("ops-team"), "X-Request-ID": "req-7f3a"},
    )

    assert answer.get_json() == {"success": True}
    snapshot = worker_registry.snapshot(token)
    assert (snapshot.abort_reason, snapshot.abort_request_id) == (
        "Wrong price list: the supplier sent last year's",
        "req-7f3a",
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"reason": "x" * 501}, "501 characters long"),
        ({"reason": 42}, "a JSON number"),
        ({"reason": ["stop"]}, "a JSON array"),
        ({"reason": {"why": "x"}}, "a JSON object"),
        ({"reason": None}, "a JSON null"),
        ({"reason": "line\nbreak"}, "control characters"),
        ({"reason": "tab\there"}, "control characters"),
        ({"reason": "bell\x07"}, "control characters"),
    ],
    ids=["too long", "number", "array", "object", "null", "line feed", "tab", "bell"],
)
def test_a_reason_that_is_not_a_short_printable_string_is_400_and_changes_nothing(
    body: dict[str, Any], says: str
) -> None:
    spy = SpyRegistry()
    client = _host(spy).test_client()

    answer = client.post(abort_url("t1"), json=body, headers=_as("ops-team"))

    error = assert_error_model(answer, 400, "30013")
    assert error["o:errorPath"] == "reason"
    assert says in error["devMessage"]
    assert spy.calls == []


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 201, "tab\tin"])
def test_an_unusable_request_id_is_not_kept_and_the_abort_goes_on(request_id: str) -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)

    answer = (
        _host(registry)
        .test_client()
        .post(abort_url(token), headers={**_as("ops-team"), "X-Request-ID": request_id})
    )

    assert answer.status_code == 200
    assert registry.snapshot(token).abort_request_id is None


def test_a_reason_reaches_a_host_registry_that_takes_the_abort_request() -> None:
    seen: list[Any] = []

    class Registry:
        def abort(self, token: str, request: Any = None) -> AbortOutcome:
            seen.append((token, request.actor, request.reason))
            return AbortOutcome.REQUESTED

    _host(Registry()).test_client().post(
        abort_url("t1"), json={"reason": "duplicate run"}, headers=_as("ops-team")
    )

    assert seen == [("t1", "ops-team", "duplicate run")]


# The first abort counts; repeats by others change nothing.


def test_the_first_aborts_actor_reason_and_time_survive_63_concurrent_repeats(
    worker_registry: WorkerRegistry,
) -> None:
    token = _running(worker_registry)
    tokens = {f"caller-{n}": f"secret-{n}" for n in range(64)}
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=tokens)
    ImportAbort(app, registry=worker_registry)
    client = app.test_client()
    first = client.post(
        abort_url(token), json={"reason": "the first"}, headers={"Authorization": "Bearer secret-0"}
    )
    before = worker_registry.snapshot(token)
    barrier = threading.Barrier(63)
    answers: list[int] = []

    def repeat(n: int) -> None:
        barrier.wait()
        response = app.test_client().post(
            abort_url(token),
            json={"reason": f"repeat {n}"},
            headers={"Authorization": f"Bearer secret-{n}", "X-Request-ID": f"r{n}"},
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=repeat, args=(n,)) for n in range(1, 64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    after = worker_registry.snapshot(token)
    assert first.status_code == 200
    assert Counter(answers) == {200: 63}
    assert (after.aborted_by, after.abort_reason, after.abort_request_id) == (
        "caller-0",
        "the first",
        None,
    )
    assert after.abort_requested_at == before.abort_requested_at


# Signals of the life cycle.


def test_signals_say_who_asked_and_when_a_process_started_and_ended(clock: Clock) -> None:
    registry = InMemoryImportRegistry(clock=clock)
    app = _host(registry)
    seen: list[tuple[str, dict[str, Any]]] = []

    def receiver(name: str) -> Any:
        return lambda sender, **details: seen.append((name, details))

    receivers = {
        signal: receiver(name)
        for signal, name in [
            (abort_requested, "requested"),
            (abort_responded, "responded"),
            (process_started, "started"),
            (process_ended, "ended"),
        ]
    }
    for signal, connected in receivers.items():
        signal.connect(connected)
    try:
        token = registry.register()
        with ImportRun(registry, token) as run:
            for _ in run.batches([[1], [2], [3]]):
                for _repeat in range(2):  # the abort, and its harmless repeat
                    app.test_client().post(
                        abort_url(token), json={"reason": "oops"}, headers=_as("ops-team")
                    )
        lost = _running(registry)
        clock.advance(LEASE + 1)
        with app.app_context():
            reap_app(app)
        app.test_client().post(abort_url("no_such"), headers=_as("ops-team"))
    finally:
        for signal, connected in receivers.items():
            signal.disconnect(connected)

    names = [name for name, _ in seen]
    assert names == [
        "started",
        "requested",
        "responded",
        "responded",
        "ended",
        "ended",
        "responded",
    ]
    requested = seen[1][1]
    assert (requested["token"], requested["actor"], requested["reason"]) == (
        token,
        "ops-team",
        "oops",
    )
    assert seen[2][1] == {"status": 200, "outcome": AbortOutcome.REQUESTED}
    assert seen[3][1] == {"status": 200, "outcome": AbortOutcome.ALREADY_REQUESTED}
    ended_by_worker, reaped = seen[4][1], seen[5][1]
    assert (ended_by_worker["token"], ended_by_worker["state"], ended_by_worker["forced"]) == (
        token,
        ImportState.ABORTED,
        False,
    )
    assert ended_by_worker["snapshot"].aborted_by == "ops-team"
    assert (reaped["token"], reaped["state"], reaped["end_reason"]) == (
        lost,
        ImportState.FAILED,
        EndReason.WORKER_LOST,
    )
    assert seen[6][1] == {"status": 404, "outcome": AbortOutcome.NOT_FOUND}
