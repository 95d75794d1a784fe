"""Blinker signals of the endpoint, and those of the life cycle of import processes.

Each is sent only when something listens; a receiver that raises is logged, and changes
nothing else. Those of the endpoint have the app as sender; those of the life cycle
(:data:`process_started`, :data:`process_ended`, :data:`chunk_ended`, from
:mod:`flask_import_abort.processes`) the registry, since a worker has no app; those of the
webhooks (:data:`notice_delivered`, :data:`notice_retried`, :data:`notice_failed`) their
dispatcher.
"""

from __future__ import annotations

from .processes.signals import (
    chunk_ended,
    namespace,
    notice_delivered,
    notice_failed,
    notice_retried,
    process_ended,
    process_started,
)

__all__ = [
    "abort_answered",
    "abort_requested",
    "abort_responded",
    "chunk_ended",
    "notice_delivered",
    "notice_failed",
    "notice_retried",
    "process_ended",
    "process_started",
]

#: Sent after the registry answered an abort request, with the app as sender and the
#: keyword arguments ``token`` (str) and ``outcome`` (:class:`AbortOutcome`).
abort_answered = namespace.signal("abort_answered")

#: Sent after an abort that counted (the registry answered ``REQUESTED``), with the app as
#: sender and ``token``, ``actor``, ``reason`` and ``request_id`` (each a str or None).
abort_requested = namespace.signal("abort_requested")

#: Sent after every answer of the endpoint, with the app as sender and ``status`` (int) and
#: ``outcome`` (the :class:`AbortOutcome`, or None when the request never reached the
#: registry: refused, malformed, failed).
abort_responded = namespace.signal("abort_responded")
