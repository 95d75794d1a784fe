"""Internal: OCC's keys read and checked: getImportProcess, its fields, discovery's version."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .._config import Config, boolean, callable_of
from ..processes.contract import ImportRegistry
from ..processes.lifecycle import Snapshots


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
