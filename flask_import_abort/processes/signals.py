"""Blinker signals of the life cycle of import processes, sent with the registry as sender.

Each is sent only when something listens; a receiver that raises is logged, and changes
nothing else. A worker sends them too, so they know nothing of Flask.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blinker import NamedSignal, Namespace

from .contract import failures
from .tokens import token_for_log

if TYPE_CHECKING:
    from .lifecycle import ProcessSnapshot

log = logging.getLogger("flask_import_abort")

#: The namespace of the package's signals (the endpoint's are in ``flask_import_abort.signals``).
namespace = Namespace()

#: Sent when a worker's :class:`~flask_import_abort.processes.ImportRun` has started its
#: process, with the registry as sender and ``token``.
process_started = namespace.signal("process_started")

#: Sent when a process has ended, with the registry as sender and ``token``, ``state`` (its
#: end), ``forced`` (bool: a stop deadline forced it), ``end_reason`` (an
#: :class:`~flask_import_abort.processes.EndReason` when the package ended it, else None) and
#: ``snapshot`` (the process as it ended). Sent by the worker's
#: :class:`~flask_import_abort.processes.ImportRun`, by ``reap`` for each end it records, and
#: by the endpoint for an abort that ends a pending or lost process at once. A parallel
#: import's end is sent once, by the registry that records it (its last chunk's end) or by
#: ``reap``; its chunks' ends are :data:`chunk_ended`'s.
process_ended = namespace.signal("process_ended")

#: Sent by a :class:`~flask_import_abort.processes.webhooks.WebhookDispatcher` (the sender)
#: for each attempt of a notice it records, with ``notice_id``, ``token`` and ``attempts``:
#: delivered to every URL, tried again later, or failed for good.
notice_delivered = namespace.signal("notice_delivered")
notice_retried = namespace.signal("notice_retried")
notice_failed = namespace.signal("notice_failed")

#: Sent when one chunk of a parallel import has ended, with the same arguments as
#: :data:`process_ended`; ``snapshot.parent`` is the import's token.
chunk_ended = namespace.signal("chunk_ended")


def announce(signal: NamedSignal, sender: Any, **details: Any) -> None:
    """Send ``signal`` when something listens; a receiver that fails is logged (ERROR, with its
    traceback), and the caller goes on as if it had not."""
    if not signal.receivers:
        return
    try:
        signal.send(sender, **details)
    except failures():
        log.exception("a receiver of %s failed", signal.name)


def announce_end(registry: Any, snapshot: ProcessSnapshot) -> None:
    """Send ``process_ended`` for ``snapshot``, a process that has ended, from ``registry``
    (``chunk_ended`` for a chunk of a parallel import)."""
    announce(
        chunk_ended if snapshot.parent is not None else process_ended,
        registry,
        token=snapshot.token,
        state=snapshot.state,
        forced=snapshot.forced,
        end_reason=snapshot.end_reason,
        snapshot=snapshot,
    )


def announce_end_of(registry: Any, token: str, *, of_import: bool = False) -> None:
    """Send ``process_ended`` for the process ``token`` when something listens and it has
    ended, as ``registry`` reads it now (a registry that cannot read it is logged); for a
    chunk, ``chunk_ended``, or with ``of_import`` (an abort of a chunk, which is its import's)
    ``process_ended`` of its parallel import."""
    if not (process_ended.receivers or chunk_ended.receivers):
        return
    snapshot_of = getattr(registry, "snapshot", None)
    if not callable(snapshot_of):
        return  # a host's one-method registry: nothing to read the end from
    try:
        ended = snapshot_of(token)
        if of_import and ended.parent is not None:
            ended = snapshot_of(ended.parent)
    except failures():
        log.exception("import process %s: its end could not be read", token_for_log(token))
        return
    if ended.state.is_final:
        announce_end(registry, ended)
