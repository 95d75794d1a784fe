"""The process layer: import processes, their store and their workers, with no Flask in it.

What a worker imports: ``from flask_import_abort.processes import ImportRun``. It loads
neither Flask nor werkzeug, flask-smorest, marshmallow or apispec, and needs no app context.
The SQL registry is :mod:`flask_import_abort.processes.sql` (extra ``[sql]``), the job engines
:mod:`flask_import_abort.processes.integrations.celery` and ``.rq``.
"""

from .capabilities import Chunked, Kinded, Listing, Reapable, Snapshots, WorkerRegistry
from .contract import (
    AbortOutcome,
    AbortRequest,
    ImportRegistry,
    ProcessKind,
    StoreOutdated,
    StoreUnavailable,
)
from .lifecycle import (
    ABORTABLE_STATES,
    DEFAULT_LEASE,
    RUNNING_STATES,
    ChunkedImport,
    EndReason,
    ImportState,
    InvalidTransition,
    ProcessSnapshot,
    UnknownImport,
)
from .memory import InMemoryImportRegistry
from .parallel import ThreadChunks, ThreadedImport, split
from .reaping import ForceStop, Reaper, reap
from .run import ImportRun, run_import
from .signals import chunk_ended, process_ended, process_started

__all__ = [
    "ABORTABLE_STATES",
    "DEFAULT_LEASE",
    "RUNNING_STATES",
    "AbortOutcome",
    "AbortRequest",
    "Chunked",
    "ChunkedImport",
    "EndReason",
    "ForceStop",
    "ImportRegistry",
    "ImportRun",
    "ImportState",
    "InMemoryImportRegistry",
    "InvalidTransition",
    "Kinded",
    "Listing",
    "ProcessKind",
    "ProcessSnapshot",
    "Reapable",
    "Reaper",
    "Snapshots",
    "StoreOutdated",
    "StoreUnavailable",
    "ThreadChunks",
    "ThreadedImport",
    "UnknownImport",
    "WorkerRegistry",
    "chunk_ended",
    "process_ended",
    "process_started",
    "reap",
    "run_import",
    "split",
]
