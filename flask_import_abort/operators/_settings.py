"""Internal: the operators' settings: the webhooks' dispatcher, the reaper's ``force_stop`` hook,
the job engines told of aborts; read and checked once per app, kept in
``app.extensions["import_abort.operators"]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask.sansio.app import App

from .._config import Config, boolean, callable_of, kind, seconds
from ..processes.contract import ImportRegistry
from ..processes.notices import Outbox
from ..processes.reaping import ForceStop
from ..processes.webhooks import WebhookDispatcher, checked_url

#: Where an app's operators' settings live.
OPERATORS_KEY = "import_abort.operators"


@dataclass(frozen=True)
class Operators:
    """What the reaper, the commands and the metrics need beside the registry."""

    #: What delivers the webhooks' notices; None while no URL is configured.
    dispatcher: WebhookDispatcher | None
    #: The host's hook that stops a worker by force, called once per forced end.
    force_stop: ForceStop | None
    #: Seconds a reap waits for the ``force_stop`` calls before it goes on without them.
    force_stop_timeout: float
    #: The job engines given to ``mirror_aborts``: a reap also ends what they cancelled.
    engines: list[Any] = field(default_factory=list, compare=False, repr=False)


def operators_of(app: App) -> Operators:
    """The operators' settings of an app the plugin is set up on."""
    operators: Operators = app.extensions[OPERATORS_KEY]
    return operators


def read_operators(
    setting: Mapping[str, Any], registry: ImportRegistry, prefix: str, export_prefix: str = ""
) -> Operators:
    """The operators' keys of ``setting`` (the app's, by key name), each checked; ``prefix``
    and ``export_prefix`` are the import and export routes', which the notices link to."""
    force_stop, force_stop_timeout = read_force_stop(setting)
    return Operators(
        dispatcher=read_dispatcher(setting, registry, prefix, export_prefix),
        force_stop=force_stop,
        force_stop_timeout=force_stop_timeout,
    )


def read_dispatcher(
    setting: Mapping[str, Any], registry: ImportRegistry, prefix: str, export_prefix: str = ""
) -> WebhookDispatcher | None:
    """The webhooks' dispatcher, from the app's settings; None while no URL is set (for
    imports or for exports). Each setting that is wrong is a ``TypeError`` or ``ValueError``
    naming its key."""
    listed = _webhook_urls(setting, Config.WEBHOOK_URLS.name)
    exports = _webhook_urls(setting, Config.WEBHOOK_EXPORT_URLS.name)
    if not listed and not exports:
        return None
    allow_http = boolean(setting, Config.WEBHOOK_ALLOW_HTTP.name)
    secret = setting[Config.WEBHOOK_SECRET.name]
    if not isinstance(secret, str) or not secret:
        raise ValueError(
            f"{Config.WEBHOOK_SECRET.name} is required with {Config.WEBHOOK_URLS.name}: the "
            f"secret key the notices are signed with, a string ({kind(secret)} given)."
        )
    if not isinstance(registry, Outbox) or getattr(registry, "webhooks", None) is not True:
        raise ValueError(
            f"{Config.WEBHOOK_URLS.name} is set, but {type(registry).__name__} writes no "
            "notices: make it with webhooks=True (SQLImportRegistry(..., webhooks=True)), so "
            "that every end is written with its notice."
        )
    base_url = setting[Config.WEBHOOK_BASE_URL.name]
    if base_url is not None and (
        not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("https", "http")
    ):
        raise ValueError(
            f"{Config.WEBHOOK_BASE_URL.name} is the app's public address, such as "
            f"'https://admin.example.com'; got {base_url!r}."
        )
    try:
        return WebhookDispatcher(
            registry,
            listed,
            secret,
            base_url=base_url,
            path=prefix,
            export_urls=exports,
            export_path=export_prefix,
            timeout=seconds(setting, Config.WEBHOOK_TIMEOUT.name),
            retention=seconds(setting, Config.WEBHOOK_RETENTION.name),
            allow_http=allow_http,
            standard_headers=boolean(setting, Config.WEBHOOK_STANDARD_HEADERS.name),
            basic_auth=setting[Config.WEBHOOK_BASIC_AUTH.name],
            headers=setting[Config.WEBHOOK_HEADERS.name],
        )
    except TypeError as error:  # basic_auth or headers: the message says which
        raise TypeError(
            f"{Config.WEBHOOK_BASIC_AUTH.name} / {Config.WEBHOOK_HEADERS.name}: {error}"
        ) from None
    except ValueError as error:
        raise ValueError(f"{Config.WEBHOOK_HEADERS.name}: {error}") from None


def _webhook_urls(setting: Mapping[str, Any], key: str) -> list[str]:
    """The webhooks' URLs of ``key``, each checked; none while it is unset."""
    urls = setting[key]
    if urls is None or urls == []:
        return []
    listed = [urls] if isinstance(urls, str) else urls
    if not isinstance(listed, list | tuple) or not listed:
        raise TypeError(f"{key} is a URL or a list of them; got {urls!r}.")
    allow_http = boolean(setting, Config.WEBHOOK_ALLOW_HTTP.name)
    for url in listed:
        try:
            checked_url(url, allow_http=allow_http)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{key}: {error}") from None
    return list(listed)


def read_force_stop(setting: Mapping[str, Any]) -> tuple[ForceStop | None, float]:
    """The host's hook that stops a worker by force, and how long a reap waits for it."""
    key = Config.FORCE_STOP.name
    force_stop: ForceStop | None = callable_of(setting[key], key, "the token")
    return force_stop, seconds(setting, Config.FORCE_STOP_TIMEOUT.name)
