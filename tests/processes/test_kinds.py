"""A process is an import or an export: every registry the package ships records its kind, and
an abort that names a kind never reaches a process of the other."""

from __future__ import annotations

import pytest

from flask_import_abort import AbortOutcome, AbortRequest, ImportState
from flask_import_abort.processes import (
    ImportRun,
    Kinded,
    ProcessKind,
    WorkerRegistry,
)
from flask_import_abort.processes.capabilities import chunked

EXPORT = AbortRequest(kind=ProcessKind.EXPORT)
IMPORT = AbortRequest(kind=ProcessKind.IMPORT)


def test_every_shipped_registry_records_both_kinds(worker_registry: WorkerRegistry) -> None:
    assert isinstance(worker_registry, Kinded)
    assert worker_registry.kinds == {ProcessKind.IMPORT, ProcessKind.EXPORT}


def test_a_process_is_an_import_unless_registered_as_an_export(
    worker_registry: WorkerRegistry,
) -> None:
    imported = worker_registry.register()
    exported = worker_registry.register(kind="export")

    assert worker_registry.snapshot(imported).kind is ProcessKind.IMPORT
    assert worker_registry.snapshot(exported).kind is ProcessKind.EXPORT


def test_a_kind_that_is_neither_is_refused_and_nothing_is_registered(
    worker_registry: WorkerRegistry,
) -> None:
    with pytest.raises(ValueError, match="kind is 'import' or 'export'"):
        worker_registry.register(kind="backup", token="not-registered")

    assert worker_registry.abort("not-registered") is AbortOutcome.NOT_FOUND


@pytest.mark.parametrize("started", [False, True], ids=["pending", "running"])
def test_an_abort_naming_the_other_kind_finds_nothing_and_changes_nothing(
    worker_registry: WorkerRegistry, started: bool
) -> None:
    imported = worker_registry.register()
    exported = worker_registry.register(kind=ProcessKind.EXPORT)
    if started:
        worker_registry.start(imported)
        worker_registry.start(exported)

    assert worker_registry.abort(imported, EXPORT) is AbortOutcome.NOT_FOUND
    assert worker_registry.abort(exported, IMPORT) is AbortOutcome.NOT_FOUND
    assert not worker_registry.snapshot(imported).abort_requested
    assert not worker_registry.snapshot(exported).abort_requested

    assert worker_registry.abort(exported, EXPORT) is AbortOutcome.REQUESTED
    assert worker_registry.abort(imported, IMPORT) is AbortOutcome.REQUESTED


def test_an_ended_process_of_the_other_kind_is_not_found_rather_than_finished(
    worker_registry: WorkerRegistry,
) -> None:
    exported = worker_registry.register(kind="export")
    worker_registry.start(exported)
    worker_registry.finish(exported, ImportState.SUCCEEDED)

    assert worker_registry.abort(exported, IMPORT) is AbortOutcome.NOT_FOUND
    assert worker_registry.abort(exported, EXPORT) is AbortOutcome.FINISHED


def test_an_abort_that_names_no_kind_reaches_either(worker_registry: WorkerRegistry) -> None:
    exported = worker_registry.register(kind="export")

    assert worker_registry.abort(exported, AbortRequest(actor="cli:ops")) is (
        AbortOutcome.REQUESTED
    )
    assert worker_registry.snapshot(exported).state is ImportState.ABORTED


def test_a_parallel_export_and_its_chunks_are_exports(worker_registry: WorkerRegistry) -> None:
    parallel = chunked(worker_registry).register_chunks(2, kind="export")

    assert worker_registry.snapshot(parallel.token).kind is ProcessKind.EXPORT
    chunks = chunked(worker_registry).chunks(parallel.token)
    assert [chunk.kind for chunk in chunks] == [ProcessKind.EXPORT] * 2
    # a chunk's token stands for its export: an import's abort finds neither
    assert worker_registry.abort(parallel.chunks[0], IMPORT) is AbortOutcome.NOT_FOUND
    assert worker_registry.abort(parallel.chunks[0], EXPORT) is AbortOutcome.REQUESTED
    assert worker_registry.snapshot(parallel.token).state is ImportState.ABORTED


def test_an_export_runs_as_an_import_does_and_stops_after_its_batch(
    worker_registry: WorkerRegistry,
) -> None:
    exported = worker_registry.register(total=3, kind="export")
    written: list[list[int]] = []
    with ImportRun(worker_registry, exported) as run:
        for batch in run.batches([[1], [2], [3]]):
            written.append(batch)
            assert worker_registry.abort(exported, EXPORT) is not AbortOutcome.NOT_FOUND

    assert written == [[1]]
    snapshot = worker_registry.snapshot(exported)
    assert (snapshot.state, snapshot.processed, snapshot.kind) == (
        ImportState.ABORTED,
        1,
        ProcessKind.EXPORT,
    )


def test_the_listing_chooses_a_kind(worker_registry: WorkerRegistry) -> None:
    imported = worker_registry.register()
    exported = worker_registry.register(kind="export")

    assert [s.token for s in worker_registry.recent(kind="export")] == [exported]
    assert [s.token for s in worker_registry.recent(kind=ProcessKind.IMPORT)] == [imported]
    assert {s.token for s in worker_registry.recent()} == {imported, exported}


def test_a_worker_adds_to_the_metadata_as_it_learns_and_it_is_checked(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register(kind="export", metadata={"format": "json"})
    link = "https://files.example.com/exports/products.json"

    worker_registry.update_metadata(token, {"fileLink": link})
    worker_registry.update_metadata(token, {"format": "csv"})

    assert worker_registry.snapshot(token).metadata == {"format": "csv", "fileLink": link}
    with pytest.raises(TypeError, match="mapping"):
        worker_registry.update_metadata(token, ["fileLink", link])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 4000"):
        worker_registry.update_metadata(token, {"fileLink": "x" * 5000})
    with pytest.raises(KeyError):
        worker_registry.update_metadata("no-such-process", {"fileLink": link})
    assert worker_registry.snapshot(token).metadata == {"format": "csv", "fileLink": link}
