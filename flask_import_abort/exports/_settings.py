"""Internal: the export routes' settings: whether they are served, where, and the registry they
call; read and checked once per app, kept in ``app.extensions["import_abort.exports"]``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask.sansio.app import App

from .._config import Config, boolean, prefixes
from ..endpoint._settings import Settings, abort_call, read_registry
from ..processes.capabilities import Kinded, Snapshots
from ..processes.contract import AbortOutcome, AbortRequest, ImportRegistry, ProcessKind

#: Where an app's export settings live.
EXPORTS_KEY = "import_abort.exports"


@dataclass(frozen=True)
class Exports:
    """The export routes, as the app's settings say."""

    #: Whether abortExportProcess (and, with the status route, getExportProcess) is served.
    on: bool
    #: Where the routes are mounted, and the other prefixes they answer under.
    url_prefix: str
    url_aliases: tuple[str, ...]
    #: The registry the routes call, and what they call of it.
    registry: ImportRegistry
    abort: Callable[[str, AbortRequest], AbortOutcome]
    snapshots: Snapshots | None
    #: The kind the routes name: ``export`` on a registry that records kinds, so that an
    #: import's token is unknown to them; None on a registry of exports alone.
    kind: ProcessKind | None


def exports_of(app: App) -> Exports:
    """The export settings of an app the plugin is set up on."""
    exports: Exports = app.extensions[EXPORTS_KEY]
    return exports


def read_exports(setting: Mapping[str, Any], endpoint: Settings, *, status_route: bool) -> Exports:
    """The export keys of ``setting`` (the app's, by key name), each checked; ``endpoint`` is
    the endpoint's settings, whose registry the routes call unless exports have their own;
    ``status_route``, whether getExportProcess is served too."""
    on = boolean(setting, Config.EXPORTS.name)
    prefix_key = Config.EXPORT_URL_PREFIX.name
    prefix, *aliases = prefixes(setting[prefix_key], prefix_key)
    own = setting[Config.EXPORT_REGISTRY.name]
    if own is not None:  # read whether exports are on or not: a typo is said at start-up
        own = read_registry(own, Config.EXPORT_REGISTRY.name)
    if not on:
        return Exports(False, prefix, tuple(aliases), endpoint.registry, endpoint.abort, None, None)
    taken = {prefix, *aliases} & {endpoint.url_prefix, *endpoint.url_aliases}
    if taken:
        raise ValueError(
            f"{prefix_key} and {Config.URL_PREFIX.name} both name {sorted(taken)}: the export "
            "routes need prefixes of their own."
        )
    registry = endpoint.registry if own is None else own
    if own is None and not isinstance(registry, Kinded):
        raise ValueError(
            f"{Config.EXPORTS.name} is on, but {type(registry).__name__} records no kinds, so "
            "an export's abort could reach an import: use a registry the package ships, or "
            f"give the exports a registry of their own as {Config.EXPORT_REGISTRY.name}."
        )
    if status_route and not isinstance(registry, Snapshots):
        raise ValueError(
            f"{Config.STATUS_ROUTE.name} is on, but the exports' registry "
            f"({type(registry).__name__}) has no snapshot(token) method to read a process from."
        )
    return Exports(
        on=True,
        url_prefix=prefix,
        url_aliases=tuple(aliases),
        registry=registry,
        abort=abort_call(registry, endpoint.stop_deadline),
        snapshots=registry if isinstance(registry, Snapshots) else None,
        kind=ProcessKind.EXPORT if own is None else None,
    )
