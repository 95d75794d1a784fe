"""Internal: a bound on the time a database call may take, even when the server stops answering.

A server that stops answering on an open connection (a frozen process, a relay that swallows
every byte) is never noticed by TCP: the kernel acknowledges what is sent, and the driver waits
for a reply for ever. A :class:`Watchdog` shuts the socket of a call that outlives its deadline
down, so the driver's wait ends at once with a connection error.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("flask_import_abort")


class Watchdog:
    """One thread that cuts the connections of calls past their deadline.

    Arming and disarming a call costs a dict write each, and never wakes the thread: it looks
    every ``tick`` seconds, so a call is cut at most ``tick`` seconds after its deadline.
    """

    def __init__(self, tick: float = 0.1) -> None:
        self.tick = tick
        self._armed: dict[int, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def bound(self, dbapi_connection: Any, deadline: float) -> Iterator[Cut]:
        """Cut ``dbapi_connection``'s socket if the block runs past ``deadline``
        (``time.monotonic()``); says afterwards whether it was cut."""
        cut = Cut()
        fileno = getattr(dbapi_connection, "fileno", None)
        if fileno is None:  # a driver without a socket (SQLite): its own timeouts bound it
            yield cut
            return
        if self._thread is None:
            self._start()
        ticket = next(self._tickets)
        self._armed[ticket] = (deadline, (fileno, cut))
        try:
            yield cut
        finally:
            with self._lock:
                self._armed.pop(ticket, None)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="flask-import-abort-watchdog", daemon=True
                )
                self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            for ticket, (deadline, (fileno, cut)) in list(self._armed.items()):
                if deadline <= now:
                    with self._lock:
                        if self._armed.pop(ticket, None) is not None:
                            cut.cut = _shut_down(fileno)


class Cut:
    """Whether the watchdog cut a call's connection."""

    cut = False


def _shut_down(fileno: Any) -> bool:
    try:
        descriptor = fileno()
        with socket.socket(fileno=os.dup(descriptor)) as connection:
            connection.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError) as error:  # already closed, or no socket
        log.debug("watchdog could not cut a connection: %s", error)
        return False
    return True
