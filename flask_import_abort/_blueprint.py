"""Internal: the blueprint and its abort route, declared with flask-smorest's own decorators."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any, cast

from flask import Flask, Response, current_app, request
from flask.sansio.app import App
from flask.sansio.blueprints import BlueprintSetupState
from flask_smorest import Blueprint

from . import errors
from ._config import DEFAULT_URL_PREFIX, Config
from ._context import request_object
from ._install import setup
from .access._settings import Access, access_of
from .endpoint import _openapi
from .endpoint import _settings as settings
from .endpoint._answering import (
    ABORT_RULE,
    OTHER_METHODS_LIST,
    STATUS_RESPONSES,
    STATUS_RULE,
    BodyParser,
    abort_documented,
    answer_abort,
    answered_by_the_plugin,
    requested,
)
from .endpoint._schemas import (
    SECURITY_SCHEME,
    ImportProcessStatus,
    add_components,
    document_security,
    security_schemes,
    token_parameter,
)
from .exports._settings import exports_of
from .exports._views import (
    abort_export_process,
    export_docs,
    export_method_not_allowed,
    export_status_docs,
    get_export_process,
)
from .occ._routes import OPERATION_ATTRIBUTE, Operation, add_routes, path_taken
from .occ._settings import occ_of
from .occ._status import status_answer
from .operators import cli
from .processes.capabilities import Snapshots
from .processes.contract import ProcessKind

log = logging.getLogger("flask_import_abort")


#: The registry's two refusals, each the same every time (raised nowhere, only rendered).
NOT_FOUND = errors.ImportNotFound(error_path="token")
FINISHED = errors.ImportFinished(error_path="token")
#: The kind the import routes name in their aborts.
IMPORT = ProcessKind.IMPORT
ALLOW = "OPTIONS, POST"
#: What the document says of the methods other than POST, at the level of the path.
OTHER_METHODS = (
    "POST aborts. OPTIONS answers 200 with `Allow: OPTIONS, POST`; every other method answers "
    "405 with an errorModel body (errorCode 30009) and the same `Allow` header."
)
METHOD_NOT_ALLOWED = errors.MethodNotAllowed(
    more_info=f"Allowed methods: {ALLOW}.", headers=[("Allow", ALLOW)]
)


class AbortBlueprint(Blueprint):  # type: ignore[misc]
    """The plugin's blueprint: registered once per app, it sets the plugin up on it. Its
    registration is the one place that wires what the plugin adds to an app (its settings, its
    routes, its ``flask import-abort`` commands, its OpenAPI document), whether ``ImportAbort``
    or the host registers it."""

    ARGUMENTS_PARSER = BodyParser()

    def register(self, app: App, options: dict[str, Any]) -> None:
        """Set the plugin up on ``app`` (unless ``ImportAbort`` did), then add the routes
        under the settings' URL prefix, the commands and the OpenAPI document. A second
        registration on the same app is a ``RuntimeError``."""
        if any(blueprint is self for blueprint in app.blueprints.values()):
            raise RuntimeError(
                "flask-import-abort's blueprint is registered on this app already; register "
                "it once per app (a second name would mount a second abort route)."
            )
        found = setup(app, url_prefix=options.get("url_prefix"))
        super().register(app, {**options, "url_prefix": found.url_prefix})
        cli.add_commands(app)
        _openapi.add_route(app, self)

    def register_views_in_doc(
        self, api: Any, app: Flask, spec: Any, *, name: str, parameters: Any
    ) -> None:
        """Document the route as it is mounted on ``app``: the token as long as its settings
        allow, the error answers with the headers each carries, and what the URL answers to
        the methods the operation does not list. Called by the ``Api`` that documents it."""
        setup = settings.settings_of(app)
        access, status_route = access_of(app), occ_of(app).status_route
        setup.documented.add(spec)
        add_components(spec, with_status=status_route)
        oas3 = spec.openapi_version.major >= 3
        schemes = security_schemes(access.authorizer) if oas3 else {}
        exports = exports_of(app).on
        operations = ["abortImportProcess", "getImportProcess"]
        if exports:
            operations += ["abortExportProcess", "getExportProcess"]
        requirements = {
            operation: _security(access, operation, schemes) for operation in operations
        }
        document_security(spec, requirements, schemes)
        path_parameters = [*(parameters or []), token_parameter(setup.token_max_length, oas3)]
        super().register_views_in_doc(api, app, spec, name=name, parameters=path_parameters)
        documented = [abort_import_process]
        if status_route:
            status_docs.register_views_in_doc(api, app, spec, name=name, parameters=path_parameters)
        if exports:
            documented.append(abort_export_process)
            export_docs.register_views_in_doc(api, app, spec, name=name, parameters=path_parameters)
        if exports and status_route:
            export_status_docs.register_views_in_doc(
                api, app, spec, name=name, parameters=path_parameters
            )
        if oas3:  # OpenAPI 2 has no description of a path
            for view in documented:
                rule = next(app.url_map.iter_rules(f"{name}.{view.__name__}"))
                spec.path(rule=rule, parameters=path_parameters, description=OTHER_METHODS)


blp = AbortBlueprint(
    "import_abort",
    __name__,
    url_prefix=DEFAULT_URL_PREFIX,
    description="Abort an import process (Oracle Commerce Cloud's abortImportProcess).",
)


def _security(
    access: Access, operation: str, schemes: Mapping[str, Any]
) -> list[dict[str, list[str]]] | None:
    """The operation's ``security`` as the app authorizes it: none needed where anonymous
    access is on; the bearer scheme where bearer tokens or OCC's sign-in are configured; the
    authorizer's own where it declares one; left out where only an authorizer that declares
    nothing lets callers in (the document cannot say how)."""
    if access.check is None:
        return []
    found: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}] if access.takes_bearer else []
    if schemes:
        requirement = access.authorizer.security_requirement(operation)  # type: ignore[union-attr]
        found.append({name: list(scopes) for name, scopes in requirement.items()})
    return found or None


#: getImportProcess, documented with flask-smorest's decorators on a blueprint of its own that
#: is never registered: the abort's blueprint adds its rules where the settings turn it on.
status_docs = Blueprint("import_abort_status", __name__)


@blp.route(ABORT_RULE, methods=["POST"])
@functools.partial(answered_by_the_plugin, operation="abortImportProcess")
@abort_documented(blp, "abortImportProcess")
def abort_import_process(
    body: dict[str, Any], *, token: str, actor: str, app: Flask, setup: settings.Settings
) -> Response:
    """Abort Import Process

    Abort an import process. The import stops after the batch of records it is processing,
    and may leave partial data behind. `success: true` means the abort command was passed to
    the import process; poll the process until its progress is `aborted`.
    """
    environ = request_object().environ
    details = requested(setup, actor, body, IMPORT, environ)  # an export's token: unknown
    return answer_abort(
        app, setup.registry, setup.abort, token, details, NOT_FOUND, FINISHED, environ
    )


setattr(abort_import_process, OPERATION_ATTRIBUTE, Operation("abortImportProcess"))
# OPTIONS is answered by the rule below. Flask reads this attribute of a view when it adds its
# rule (flask-smorest's route keeps the argument of that name for itself).
abort_import_process.provide_automatic_options = False


@status_docs.route(STATUS_RULE, methods=["GET"])
@functools.partial(answered_by_the_plugin, operation="getImportProcess", announced=False)
@status_docs.doc(
    operationId="getImportProcess",
    responses=STATUS_RESPONSES,
)
@status_docs.response(
    200, ImportProcessStatus, description="Following model is returned when operation succeeds."
)
def get_import_process(*, token: str, actor: str, app: Flask, setup: settings.Settings) -> Response:
    """Get Import Process

    Get the status of an import process: its `progress`, how much of it is done, when it
    started and ended, and who aborted it and why.
    """
    # served only where the registry reads snapshots (read_status checks it)
    registry = cast(Snapshots, setup.snapshots)
    return status_answer(app, registry, token, kind=IMPORT, not_found=NOT_FOUND)


setattr(get_import_process, OPERATION_ATTRIBUTE, Operation("getImportProcess"))


def method_not_allowed(token: str) -> Response:
    """Any other method on the abort URL: 405 errorModel, or the allowed methods for OPTIONS."""
    if request.method == "OPTIONS":
        return current_app.response_class(status=200, headers={"Allow": ALLOW})
    return METHOD_NOT_ALLOWED.get_response()


def _other_methods(state: BlueprintSetupState) -> None:
    """Routing answers an unknown method with a 405 of the host's before any blueprint is
    known, so the abort URL has a rule of its own for every other method: a plain Flask rule,
    which the OpenAPI document leaves out (it lists POST alone)."""
    state.add_url_rule(
        ABORT_RULE,
        "method_not_allowed",
        method_not_allowed,
        methods=OTHER_METHODS_LIST,
        provide_automatic_options=False,
    )


def _aliases(state: BlueprintSetupState) -> None:
    """The route under each alias prefix of the settings: the same view and the same 405, as
    plain rules of the blueprint's endpoints (its handlers apply), which the OpenAPI document
    leaves out, so that the operation id stays unique. One blueprint registration."""
    app = state.app
    view = app.view_functions[f"{state.name}.{abort_import_process.__name__}"]
    for number, alias in enumerate(settings.settings_of(app).url_aliases, start=1):
        rule = f"{alias}{ABORT_RULE}"
        endpoint = f"{state.name}.alias_{number}"
        app.add_url_rule(rule, endpoint, view, methods=["POST"], provide_automatic_options=False)
        app.add_url_rule(
            rule,
            f"{endpoint}_method_not_allowed",
            method_not_allowed,
            methods=OTHER_METHODS_LIST,
            provide_automatic_options=False,
        )


def _status(state: BlueprintSetupState) -> None:
    """getImportProcess under every prefix, where the settings turn it on; a host route that
    answers GET on that path already is an error, never shadowed."""
    app = state.app
    setup = settings.settings_of(app)
    if not occ_of(app).status_route:
        return
    for prefix in (setup.url_prefix, *setup.url_aliases):
        taken = path_taken(app, f"{prefix}/any-token", "GET")
        if taken is not None:
            raise ValueError(
                f"{Config.STATUS_ROUTE.name} is on, but the app's route {taken!r} "
                f"answers GET {prefix}/<token> already: remove it, or leave the setting off."
            )
    state.add_url_rule(STATUS_RULE, get_import_process.__name__, get_import_process)
    for number, alias in enumerate(setup.url_aliases, start=1):
        app.add_url_rule(
            f"{alias}{STATUS_RULE}", f"{state.name}.status_alias_{number}", get_import_process
        )


blp.record(_other_methods)
blp.record(_aliases)


def _occ_routes(state: BlueprintSetupState) -> None:
    """OCC's discovery and sign-in, under its two roots, where the settings turn them on."""
    add_routes(state.app, state.name)


def _exports(state: BlueprintSetupState) -> None:
    """abortExportProcess under every export prefix, with getExportProcess where the status
    route is on, where the settings turn exports on: plain rules of the blueprint's endpoints
    (its handlers apply), the first prefix's documented."""
    app = state.app
    exports = exports_of(app)
    if not exports.on:
        return
    status_route = occ_of(app).status_route
    for number, prefix in enumerate((exports.url_prefix, *exports.url_aliases)):
        suffix = f"_alias_{number}" if number else ""
        rule = f"{prefix}{ABORT_RULE}"
        view = abort_export_process.__name__
        app.add_url_rule(
            rule,
            f"{state.name}.{view}{suffix}",
            abort_export_process,
            methods=["POST"],
            provide_automatic_options=False,
            defaults={},  # as a blueprint's rule has: what flask-smorest documents reads them
        )
        app.add_url_rule(
            rule,
            f"{state.name}.export_method_not_allowed{suffix}",
            export_method_not_allowed,
            methods=OTHER_METHODS_LIST,
            provide_automatic_options=False,
        )
        if status_route:
            taken = path_taken(app, f"{prefix}/any-token", "GET")
            if taken is not None:
                raise ValueError(
                    f"{Config.EXPORTS.name} and {Config.STATUS_ROUTE.name} are on, but the "
                    f"app's route {taken!r} answers GET {prefix}/<token> already: remove it, or "
                    "leave one of the settings off."
                )
            app.add_url_rule(
                f"{prefix}{STATUS_RULE}",
                f"{state.name}.{get_export_process.__name__}{suffix}",
                get_export_process,
                defaults={},
            )


blp.record(_status)
blp.record(_exports)
blp.record(_occ_routes)
