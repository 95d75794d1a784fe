"""Internal: reaping an app's registry with the app's settings (stop deadline, force_stop)."""

from __future__ import annotations

from flask import Flask

from .._context import app_object
from ..endpoint._settings import settings_of
from ..processes.capabilities import Reapable
from ..processes.lifecycle import ProcessSnapshot
from ..processes.reaping import Reaper
from ..processes.reaping import reap as reap_registry
from ._settings import operators_of

__all__ = ["reap_app", "reaper"]


def reap_app(app: Flask | None = None, *, dry_run: bool = False) -> list[ProcessSnapshot]:
    """End the app's lost processes and unheeded aborts; return them as ended.

    :func:`flask_import_abort.processes.reap` on the app's registry, with its
    ``IMPORT_ABORT_FORCE_STOP`` and ``IMPORT_ABORT_FORCE_STOP_TIMEOUT``. ``app`` is the current
    app by default. ``dry_run`` lists what would be ended and changes nothing.
    """
    app = app if app is not None else app_object()
    operators = operators_of(app)
    return reap_registry(
        _reapable(app),
        force_stop=operators.force_stop,
        force_stop_timeout=operators.force_stop_timeout,
        dry_run=dry_run,
        engines=operators.engines,
    )


def reaper(app: Flask, interval: float) -> Reaper:
    """A :class:`~flask_import_abort.processes.Reaper` of the app's registry, with its
    settings, each round in an app context: ``reaper(app, 5).start()`` or ``with reaper(app,
    5):``. With ``IMPORT_ABORT_WEBHOOK_URLS`` set, each round delivers the notices due too."""
    operators = operators_of(app)
    return Reaper(
        _reapable(app),
        interval,
        force_stop=operators.force_stop,
        force_stop_timeout=operators.force_stop_timeout,
        context=app.app_context,
        engines=operators.engines,
        dispatcher=operators.dispatcher,
    )


def _reapable(app: Flask) -> Reapable:
    settings = settings_of(app)
    if settings.reapable is None:
        raise TypeError(
            f"{type(settings.registry).__name__} has no reap(): reaping needs a registry that "
            "keeps heartbeats, such as the ones the package ships."
        )
    return settings.reapable
