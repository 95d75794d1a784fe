"""Blinker signals of the life cycle of import processes, sent with the registry as sender.

Each is sent only when something listens; a receiver that raises is logged, and changes
nothing else. A worker sends them too, so they know nothing of Flask.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blinker import NamedSignal, Namespace

from .contract import FAILURES
from .tokens import token_for_log

if TYPE_CHECKING:
    from .lifecycle import ProcessSnapshot

log = logging.getLogger("flask_import_abort")

#: The namespace of the package's signals (the endpoint's are in ``flask_import_abort.signals``).
namespace = Namespace()

#: Sent when a worker's :class:`ImportRun` has started its process, with the registry as
#: sender and ``token``.
process_started = namespace.signal("process_started")

#: Sent when a process has ended, with the registry as sender and ``token``, ``state`` (its
#: end), ``forced`` (bool: a stop deadline forced it), ``end_reason`` (an :class:`EndReason`
#: when the package ended it, else None) and ``snapshot`` (the process as it ended). Sent by
#: the worker's :class:`ImportRun`, by ``reap`` for each end it records, and by the endpoint
#: for an abort that ends a pending or lost process at once.
process_ended = namespace.signal("process_ended")


def announce(signal: NamedSignal, sender: Any, **details: Any) -> None:
    """Send ``signal`` when something listens; a receiver that fails is logged (ERROR, with its
    traceback), and the caller goes on as if it had not."""
    if not signal.receivers:
        return
    try:
        signal.send(sender, **details)
    except FAILURES:
        log.exception("a receiver of %s failed", signal.name)


def announce_end(registry: Any, snapshot: ProcessSnapshot) -> None:
    """Send ``process_ended`` for ``snapshot``, a process that has ended, from ``registry``."""
    announce(
        process_ended,
        registry,
        token=snapshot.token,
        state=snapshot.state,
        forced=snapshot.forced,
        end_reason=snapshot.end_reason,
        snapshot=snapshot,
    )


def announce_end_of(registry: Any, token: str) -> None:
    """Send ``process_ended`` for the process ``token`` when something listens and it has
    ended, as ``registry`` reads it now (a registry that cannot read it is logged)."""
    if not process_ended.receivers:
        return
    snapshot_of = getattr(registry, "snapshot", None)
    if not callable(snapshot_of):
        return  # a host's one-method registry: nothing to read the end from
    try:
        ended = snapshot_of(token)
    except FAILURES:
        log.exception("import process %s: its end could not be read", token_for_log(token))
        return
    if ended.state.is_final:
        announce_end(registry, ended)
