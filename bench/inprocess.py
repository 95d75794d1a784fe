"""In-process cost per request: each route called through ``app.wsgi_app``, no server between."""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from werkzeug.test import EnvironBuilder

from . import apps
from .stats import interleaved, median, paired_ratio, spread


class Route(NamedTuple):
    """One path measured: the token, the Authorization sent, the status expected, the variants
    measured on it, the JSON body, if any, and the Accept-Language sent, if any."""

    token: str
    authorization: str | None
    status: int
    names: tuple[str, ...]
    body: bytes = b""
    language: str | None = None


#: The variants of the paths that ask for a language.
LANGUAGES = ("plugin", "bare", "monolingual")
#: path kind -> what is sent, and to which variants
PATHS = {
    "success": Route(apps.RUNNING, apps.AUTH, 200, ("plugin", "bare", "smorest", "floor")),
    "404": Route(apps.UNKNOWN, apps.AUTH, 404, ("plugin", "bare")),
    "401": Route(apps.RUNNING, None, 401, ("plugin", "bare")),
    "reason": Route(apps.RUNNING, apps.AUTH, 200, ("plugin", "bare"), apps.REASON_BODY),
    # A browser's header asking for English, and one asking for German.
    "404 en": Route(apps.UNKNOWN, apps.AUTH, 404, LANGUAGES, language=apps.ENGLISH),
    "404 de": Route(apps.UNKNOWN, apps.AUTH, 404, LANGUAGES, language=apps.GERMAN),
}
#: An abort with an access token of OCC's sign-in, on the variant that takes them: measured
#: against the plugin's abort with its static token (``success``) by the sign-in section.
SIGNED_PATHS = {"signed": Route(apps.RUNNING, apps.SIGNED_AUTH, 200, ("signed",))}


def environ(route: Route) -> dict[str, Any]:
    """The WSGI environ of one request on ``route``."""
    path = apps.PATH.format(token=route.token)
    body = route.body
    headers = {} if route.authorization is None else {"Authorization": route.authorization}
    if route.language is not None:
        headers["Accept-Language"] = route.language
    if body:
        headers["Content-Type"] = "application/json"
    built: dict[str, Any] = EnvironBuilder(
        path=path, method="POST", headers=headers, data=body or None
    ).get_environ()
    return built


def caller(
    wsgi: Callable[..., Any], base: dict[str, Any], status: int, calls: int, sent: bytes = b""
) -> Callable[[], float]:
    """A measure: microseconds per request over ``calls`` requests, each from a fresh environ."""
    expected = str(status)
    seen: list[str] = []

    def start_response(status_line: str, headers: Any, exc_info: Any = None) -> None:
        seen.append(status_line)

    def measure() -> float:
        gc.collect()
        started = time.perf_counter_ns()
        for _ in range(calls):
            env = base.copy()
            env["wsgi.input"] = io.BytesIO(sent)
            body = wsgi(env, start_response)
            b"".join(body)
            if hasattr(body, "close"):
                body.close()
        elapsed = time.perf_counter_ns() - started
        if not all(line.startswith(expected) for line in seen):
            raise AssertionError(f"expected {expected}, got {set(seen)}")
        seen.clear()
        return elapsed / calls / 1000

    return measure


def run(rounds: int = 15, calls: int = 2_000) -> dict[str, Any]:
    """Each path's variants, interleaved: microseconds per request, and plugin / bare."""
    wsgi = apps.variants()
    results: dict[str, Any] = {}
    for kind, route in PATHS.items():
        request = environ(route)
        measures = {
            name: caller(wsgi[name], request, route.status, calls, route.body)
            for name in route.names
        }
        for measure in measures.values():  # warm up: imports, caches, the first abort
            measure()
        samples = interleaved(measures, rounds)
        row: dict[str, Any] = {
            name: {"us_per_request": median(values), "spread": spread(values), "samples": values}
            for name, values in samples.items()
        }
        # Throughput ratios: time of the bare view over time of the other, round by round.
        row.update(paired_ratio(samples["bare"], samples["plugin"]))
        if "smorest" in row:
            row["smorest_ratio"] = paired_ratio(samples["bare"], samples["smorest"])["ratio"]
        if "monolingual" in row:
            languages = paired_ratio(samples["monolingual"], samples["plugin"])["ratio"]
            row["languages_ratio"] = languages
        results[kind] = row
    return results
