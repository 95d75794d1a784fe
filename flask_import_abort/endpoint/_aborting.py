"""Internal: what follows an abort the registry answered, from the endpoint or the command line:
one log line naming who asked, and the signals."""

from __future__ import annotations

import logging
from typing import Any

from ..processes.contract import AbortOutcome, AbortRequest, ImportRegistry
from ..processes.signals import announce, announce_end_of
from ..processes.tokens import token_for_log
from ..signals import abort_answered, abort_requested

log = logging.getLogger("flask_import_abort")

#: The longest ``X-Request-ID`` kept with an abort; a longer or odd one is not kept.
REQUEST_ID_MAX_LENGTH = 200


def request_id(value: str | None) -> str | None:
    """An ``X-Request-ID`` as an abort keeps it: short, printable, no spaces; else None."""
    if value and len(value) <= REQUEST_ID_MAX_LENGTH and value.isprintable() and " " not in value:
        return value
    return None


def answered(
    app: Any, registry: ImportRegistry, token: str, outcome: AbortOutcome, request: AbortRequest
) -> None:
    """Log the answer with its actor, and send the signals of an answered abort."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "abort of import process %s by %s: %s",
            token_for_log(token),
            request.actor,
            outcome.value,
        )
    announce(abort_answered, app, token=token, outcome=outcome)
    if outcome is not AbortOutcome.REQUESTED:
        return
    announce(
        abort_requested,
        app,
        token=token,
        actor=request.actor,
        reason=request.reason,
        request_id=request.request_id,
    )
    announce_end_of(registry, token, of_import=True)  # a pending or lost one ends at once
