"""Internal: the in-memory registry's outbox, the notices of its ends kept in this process's
memory (see :mod:`flask_import_abort.processes.notices`): best effort, lost with the process,
where the SQL registry's outbox table keeps them through crashes."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .notices import Notice, is_due
from .tokens import new_token


class MemoryOutbox:
    """Notices behind a lock of their own, on the registry's ``clock``. The registry adds one
    under its own lock as it records an end; this lock is only ever taken after that one."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._notices: dict[str, Notice] = {}
        self._claims: dict[str, tuple[str, datetime]] = {}

    def add(self, token: str, now: datetime) -> None:
        """Keep a notice of the end of ``token``, due at once."""
        notice = Notice(new_token(), token, "pending", now, next_attempt_at=now)
        with self._lock:
            self._notices[notice.id] = notice

    def claim_notices(self, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds."""
        with self._lock:
            now = self._clock()
            claimed: list[Notice] = []
            for notice in sorted(self._notices.values(), key=lambda n: n.next_attempt_at or now):
                if len(claimed) >= limit:
                    break
                held = self._claims.get(notice.id)
                if not is_due(notice, None if held is None else held[1], now):
                    continue
                claim = new_token()
                self._claims[notice.id] = (claim, now + timedelta(seconds=lease))
                claimed.append(dataclasses.replace(notice, claim=claim))
            return claimed

    def record_attempt(
        self,
        notice: Notice,
        *,
        delivered_to: Sequence[str],
        error: str | None,
        state: str,
        wait: float,
    ) -> bool:
        """Record one attempt of ``notice`` under its claim; whether the claim still held."""
        with self._lock:
            held = self._claims.get(notice.id)
            if held is None or held[0] != notice.claim:
                return False
            del self._claims[notice.id]
            now = self._clock()
            self._notices[notice.id] = dataclasses.replace(
                self._notices[notice.id],
                attempts=self._notices[notice.id].attempts + 1,
                last_attempt_at=now,
                delivered_to=tuple(delivered_to),
                last_error=error,
                state=state,
                next_attempt_at=now + timedelta(seconds=wait),
                finished_at=None if state == "pending" else now,
            )
            return True

    def notices(self, token: str) -> list[Notice]:
        """The notices of the process ``token``, oldest first."""
        with self._lock:
            return [notice for notice in self._notices.values() if notice.token == token]

    def retry_failed(self) -> int:
        """Make every failed notice due again, its attempts from zero; how many."""
        with self._lock:
            now = self._clock()
            failed = [n for n in self._notices.values() if n.state == "failed"]
            for notice in failed:
                self._notices[notice.id] = dataclasses.replace(
                    notice, state="pending", attempts=0, next_attempt_at=now, finished_at=None
                )
            return len(failed)

    def purge_delivered(self, older_than: float) -> int:
        """Remove the notices delivered more than ``older_than`` seconds ago; how many."""
        with self._lock:
            before = self._clock() - timedelta(seconds=older_than)
            gone = [
                notice.id
                for notice in self._notices.values()
                if notice.state == "delivered"
                and notice.finished_at
                and notice.finished_at < before
            ]
            for key in gone:
                del self._notices[key]
            return len(gone)


class NoticesInMemory:
    """The outbox's side of a registry that keeps its notices in a :class:`MemoryOutbox` (the
    in-memory registry): what a dispatcher calls, handed to that outbox."""

    _outbox: MemoryOutbox

    def claim_notices(self, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds."""
        return self._outbox.claim_notices(limit, lease)

    def record_attempt(self, notice: Notice, **attempt: Any) -> bool:
        """Record one attempt of ``notice`` under its claim; whether the claim still held."""
        return self._outbox.record_attempt(notice, **attempt)

    def notices(self, token: str) -> list[Notice]:
        """The notices of the process ``token``, oldest first."""
        return self._outbox.notices(token)

    def retry_failed(self) -> int:
        """Make every failed notice due again, its attempts from zero; how many."""
        return self._outbox.retry_failed()

    def purge_delivered(self, older_than: float) -> int:
        """Remove the notices delivered more than ``older_than`` seconds ago; how many."""
        return self._outbox.purge_delivered(older_than)
