"""What the endpoint needs on each request, resolved once per app by ``init_app``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .auth import Check
from .registry import ImportRegistry

#: Where the state lives: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "import_abort"


@dataclass(frozen=True)
class EndpointState:
    registry: ImportRegistry
    #: None when anonymous access is allowed.
    check: Check | None
    token_max_length: int
    max_body_bytes: int
    url_prefix: str
    #: None when the plugin serves no OpenAPI document of its own.
    openapi_url: str | None
    #: The plugin's own OpenAPI document, rendered on first request.
    openapi_cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
