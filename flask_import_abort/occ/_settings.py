"""Internal: OCC's settings: getImportProcess and its host fields, discovery and its version;
read and checked once per app, kept in ``app.extensions["import_abort.occ"]``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask.sansio.app import App

from .._config import Config, boolean, callable_of
from ..processes.capabilities import Snapshots
from ..processes.contract import ImportRegistry

#: Where an app's OCC settings live.
OCC_KEY = "import_abort.occ"


@dataclass(frozen=True)
class Occ:
    """OCC's admin API beside the abort, as the app's settings say."""

    #: Whether getImportProcess is served, and the host's hook that adds fields to it.
    status_route: bool
    status_fields: Callable[[Any], Any] | None
    #: Whether OCC's /verify and /registry are served, and the version /verify answers.
    discovery: bool
    version: str


def occ_of(app: App) -> Occ:
    """The OCC settings of an app the plugin is set up on."""
    occ: Occ = app.extensions[OCC_KEY]
    return occ


def read_occ(setting: Mapping[str, Any], registry: ImportRegistry) -> Occ:
    """OCC's keys of ``setting`` (the app's, by key name), each checked."""
    status_route, status_fields = read_status(setting, registry)
    return Occ(
        status_route=status_route,
        status_fields=status_fields,
        discovery=boolean(setting, Config.OCC_DISCOVERY.name),
        version=read_occ_version(setting[Config.OCC_VERSION.name]),
    )


def read_status(
    setting: Mapping[str, Any], registry: ImportRegistry
) -> tuple[bool, Callable[[Any], Any] | None]:
    """The status route's settings: whether it is on (only for a registry that reads
    snapshots), and the host's own fields of its answer."""
    status_route = boolean(setting, Config.STATUS_ROUTE.name)
    if status_route and not isinstance(registry, Snapshots):
        raise ValueError(
            f"{Config.STATUS_ROUTE.name} is on, but {type(registry).__name__} has no "
            "snapshot(token) method to read a process from."
        )
    fields = callable_of(
        setting[Config.STATUS_FIELDS.name], Config.STATUS_FIELDS.name, "a ProcessSnapshot"
    )
    return status_route, fields


def read_occ_version(value: object) -> str:
    if value is None:
        try:
            return version("flask-import-abort")
        except PackageNotFoundError:  # run from a checkout that was never installed
            return "0+unknown"
    if not isinstance(value, str) or not value.isprintable() or not value.strip():
        raise ValueError(f"{Config.OCC_VERSION.name} must be a printable string; got {value!r}.")
    return value
