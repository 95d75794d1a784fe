"""Internal: how the commands show what the registry holds (a process, a notice, as a line or as
JSON, every character a terminal could misread escaped), and the spans they are given."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from ..processes.contract import ProcessKind
from ..processes.lifecycle import ProcessSnapshot
from ..processes.notices import Notice

__all__ = ["Duration", "notice_dict", "notice_line", "process_dict", "process_line", "shown"]

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A time span: ``90s``, ``15m``, ``2h``, ``1d``, or together, ``1h30m``."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        """``value`` as a ``timedelta``, at most :data:`MAX_DURATION`; else a usage error
        naming the option."""
        if isinstance(value, timedelta):
            return value
        found = _DURATION.fullmatch(str(value).strip())
        if not value or found is None or not any(found.groups()):
            self.fail(f"{value!r} is not a duration: say 90s, 15m, 2h, 1d or 1h30m", param, ctx)
        days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
        try:
            span = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            span = timedelta.max
        if span > MAX_DURATION:
            self.fail(f"{value!r} is longer than {MAX_DURATION.days} days", param, ctx)
        return span


#: The longest --older-than: a century, which every database's dates reach back to.
MAX_DURATION = timedelta(days=36500)


def shown(text: str) -> str:
    """``text`` as a terminal or a log may show it: every character that is not printable
    (control characters, line separators, direction controls) as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def process_dict(snapshot: ProcessSnapshot) -> dict[str, Any]:
    """A process as ``--json`` shows it: its fields by name, times in ISO 8601, states and
    reasons as their values."""
    described = {
        "token": snapshot.token,
        "kind": snapshot.kind.value,
        "state": snapshot.state.value,
        "percentage": snapshot.percentage,
        "processed": snapshot.processed,
        "total": snapshot.total,
        "lost": snapshot.lost,
        "forced": snapshot.forced,
        "end_reason": None if snapshot.end_reason is None else snapshot.end_reason.value,
        "aborted_by": snapshot.aborted_by,
        "abort_reason": snapshot.abort_reason,
        "abort_request_id": snapshot.abort_request_id,
    }
    if snapshot.parent is not None:
        described["parent"] = snapshot.parent
    if snapshot.chunks:
        described["chunks"] = snapshot.chunks
        described["failed_chunk"] = snapshot.failed_chunk
    for moment in ("created_at", "started_at", "finished_at", "abort_requested_at", "stop_by"):
        value = getattr(snapshot, moment)
        described[moment] = None if value is None else value.isoformat(timespec="seconds")
    return described


def notice_dict(notice: Notice) -> dict[str, Any]:
    """A notice as ``--json`` shows it, its times in ISO 8601."""
    moments = ("created_at", "last_attempt_at", "next_attempt_at", "finished_at")
    described: dict[str, Any] = {
        "id": notice.id,
        "state": notice.state,
        "attempts": notice.attempts,
        "last_error": notice.last_error,
    }
    for moment in moments:
        value = getattr(notice, moment)
        described[moment] = None if value is None else value.isoformat(timespec="seconds")
    return described


def notice_line(notice: Notice) -> str:
    """A notice in one line: its state, its attempts, and when it is due again or why it
    failed."""
    line = f"{notice.state}, {notice.attempts} attempt(s)"
    if notice.state == "pending" and notice.next_attempt_at is not None:
        line += f", next {notice.next_attempt_at.isoformat(timespec='seconds')}"
    if notice.finished_at is not None:
        line += f", {notice.state} {notice.finished_at.isoformat(timespec='seconds')}"
    if notice.last_error:
        line += f"; last: {shown(notice.last_error)}"
    return line


def process_line(snapshot: ProcessSnapshot) -> str:
    """A process in one line: its kind when it is an export, its state (and why the package
    ended it), its progress and who asked for its abort."""
    state = snapshot.state.value + (", lost" if snapshot.lost else "")
    if snapshot.kind is not ProcessKind.IMPORT:  # an import's line is as it always was
        state = f"{snapshot.kind.value}, {state}"
    if snapshot.end_reason is not None:
        state += f" ({snapshot.end_reason.value})"
    when = snapshot.created_at.isoformat(timespec="seconds")
    who = f"  aborted by {shown(snapshot.aborted_by)}" if snapshot.aborted_by else ""
    why = f": {shown(snapshot.abort_reason)}" if snapshot.abort_reason else ""
    return f"{shown(snapshot.token)}  {state}  {snapshot.percentage}%  registered {when}{who}{why}"
