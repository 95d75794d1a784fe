"""Internal: reaping: ending lost processes and unheeded aborts, and calling the host's hook."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from .lifecycle import EndReason, ProcessSnapshot
from .settings import ForceStop, settings_of
from .signals import announce_end
from .tokens import token_for_log

__all__ = ["Reaper", "reap"]

log = logging.getLogger("flask_import_abort")


def reap(app: Flask | None = None, *, dry_run: bool = False) -> list[ProcessSnapshot]:
    """End the app's lost processes and unheeded aborts; return them as ended.

    Calls the app's registry's ``reap`` (see :meth:`WorkerRegistry.reap`), logs one WARNING
    line for each process it ended, and calls ``IMPORT_ABORT_FORCE_STOP`` once for each end it
    forced, waiting at most ``IMPORT_ABORT_FORCE_STOP_TIMEOUT`` seconds for them all. Safe from
    any number of processes at once: each end is recorded, and its hook called, exactly once.
    ``dry_run`` lists what would be ended and changes nothing.
    """
    app = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    settings = settings_of(app)
    registry = settings.registry
    if not callable(getattr(registry, "reap", None)):
        raise TypeError(
            f"{type(registry).__name__} has no reap(): reaping needs a registry that keeps "
            "heartbeats, such as the ones the package ships."
        )
    ended = registry.reap(dry_run=dry_run)  # type: ignore[attr-defined]
    if dry_run:
        return ended  # type: ignore[no-any-return]
    lease = getattr(registry, "lease", None)
    forced = []
    for snapshot in ended:
        announce_end(registry, snapshot)
        if snapshot.end_reason is EndReason.STOP_DEADLINE:
            forced.append(snapshot.token)
            log.warning(
                "import process %s did not stop within %s s of its abort: recorded aborted "
                "(forced); %s",
                token_for_log(snapshot.token),
                _format(settings.stop_deadline),
                "force_stop is called"
                if settings.force_stop is not None
                else "no IMPORT_ABORT_FORCE_STOP is set, so its worker is only told to stop",
            )
        else:
            log.warning(
                "import process %s lost its worker (no heartbeat for %s s): recorded %s",
                token_for_log(snapshot.token),
                _format(lease),
                snapshot.state.value,
            )
    if forced and settings.force_stop is not None:
        _force_stop(settings.force_stop, forced, settings.force_stop_timeout)
    return ended  # type: ignore[no-any-return]


def _format(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:g}"


def _force_stop(hook: ForceStop, tokens: list[str], timeout: float) -> None:
    """Call ``hook`` for each token, each in a thread of its own; wait ``timeout`` at most."""
    calls = [
        threading.Thread(
            target=_call, args=(hook, token), name=f"force-stop-{token[:8]}", daemon=True
        )
        for token in tokens
    ]
    for call in calls:
        call.start()
    deadline = time.monotonic() + timeout
    for token, call in zip(tokens, calls, strict=True):
        call.join(max(0.0, deadline - time.monotonic()))
        if call.is_alive():
            log.warning(
                "force_stop of import process %s still runs after %g s; reaping goes on "
                "without it (its end is recorded)",
                token_for_log(token),
                timeout,
            )


def _call(hook: ForceStop, token: str) -> None:
    try:
        hook(token)
    except Exception:
        log.exception("force_stop of import process %s failed", token_for_log(token))


class Reaper:
    """Reaps an app now and then every ``interval`` seconds, in a daemon thread of its own.

    Every process of every machine may run one: each end is recorded exactly once. ``stop()``
    ends the thread (it is also a context manager).
    """

    def __init__(self, app: Flask, interval: float) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds; got {interval!r}.")
        self.app = app
        self.interval = float(interval)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-reaper", daemon=True)

    def start(self) -> Reaper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Reaper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            try:
                with self.app.app_context():
                    reap(self.app)
            except Exception:  # the database may be down: the next round tries again
                log.exception("reaping import processes failed")
            if self._stopping.wait(self.interval):
                return
