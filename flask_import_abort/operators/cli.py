"""``flask import-abort``: list, show, abort and reap import processes from a shell.

The commands work on the registry of the app ``flask`` loads, through the same calls as the
endpoint; an abort's actor is ``cli:<user>``, the user the process runs as (by its uid; the
uid's number where it has no name, as in many containers). Exit codes: 0 done (a declined
prompt too: nothing was aborted), 1 some tokens were not found or had finished (or the
registry failed), 2 a usage error (``--yes`` missing where no one can answer the prompt
included), 130 interrupted by Ctrl-C, after saying exactly what was aborted. What the
registry holds (tokens, actors, reasons) is printed with its control characters escaped.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup
from flask.sansio.app import App
from marshmallow import ValidationError

from .._context import app_object
from ..endpoint._aborting import answered
from ..endpoint._checks import invalid_reason
from ..endpoint._schemas import AbortImportProcessRequest
from ..endpoint._settings import settings_of
from ..processes.capabilities import Chunked, Kinded
from ..processes.contract import (
    AbortOutcome,
    AbortRequest,
    ProcessKind,
    StoreUnavailable,
    failures,
)
from ..processes.lifecycle import ABORTABLE_STATES, ImportState, ProcessSnapshot
from ..processes.notices import Outbox
from ._reaping import reap_app
from ._settings import operators_of
from ._shown import Duration, notice_dict, notice_line, process_dict, process_line, shown

__all__ = ["add_commands", "group"]

group = AppGroup("import-abort", help="The import processes of the abort endpoint's registry.")

_STATES = click.Choice([state.value for state in ImportState])
_KINDS = click.Choice([kind.value for kind in ProcessKind])


def add_commands(app: App) -> None:
    """Add the ``import-abort`` group to ``app``'s ``flask`` command, unless the app has a
    command of that name."""
    if "import-abort" not in app.cli.commands:
        app.cli.add_command(group)


def _user() -> str:
    """The user this process runs as, by its uid (not ``LOGNAME``, which anyone may set); the
    uid's number when it has no name."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def _registry_call(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A registry call; its failure (a database down, say) is one line, and exit code 1."""
    try:
        return call(*args, **kwargs)
    except StoreUnavailable as error:
        _fail(f"{error}; try again in {error.retry_after} s")
    except failures() as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        _fail(f"the registry failed: {type(error).__name__}{': ' if detail else ''}{detail}"[:300])


def _listing(
    limit: int, states: Iterable[str], older_than: timedelta | None, kind: str | None = None
) -> list[Any]:
    """The processes the listing options choose, newest first; exit code 1 when the
    registry cannot list them."""
    settings = settings_of(current_app)
    registry = settings.listing
    if registry is None:
        _fail(
            f"the registry ({type(settings.registry).__name__}) cannot list its processes: it "
            "has no recent(); give abort the tokens themselves"
        )
    chosen = [ImportState(state) for state in states] or None
    by_kind: dict[str, Any] = {}
    if kind is not None:
        if not isinstance(registry, Kinded):
            _fail(f"the registry ({type(registry).__name__}) records no kinds: leave --kind out")
        by_kind["kind"] = kind
    snapshots: list[ProcessSnapshot] = _registry_call(
        registry.recent, limit, states=chosen, older_than=older_than, **by_kind
    )
    return snapshots


@group.command("list")
@click.option("--state", "states", multiple=True, type=_STATES, help="Only in this state.")
@click.option("--older-than", type=Duration(), help="Only registered this long ago or more.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--kind", type=_KINDS, help="Only imports, or only exports.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
def list_command(
    states: tuple[str, ...],
    older_than: timedelta | None,
    limit: int,
    kind: str | None,
    as_json: bool,
) -> None:
    """The processes registered last, newest first."""
    snapshots = _listing(limit, states, older_than, kind)
    if as_json:
        click.echo(json.dumps([process_dict(snapshot) for snapshot in snapshots], indent=2))
        return
    for snapshot in snapshots:
        click.echo(process_line(snapshot))


@group.command("show")
@click.argument("token")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def show_command(token: str, as_json: bool) -> None:
    """One process, as the registry holds it."""
    settings = settings_of(current_app)
    registry = settings.snapshots
    if registry is None:
        _fail(f"the registry ({type(settings.registry).__name__}) cannot show a process")
    try:
        snapshot = registry.snapshot(token)
    except KeyError:
        _fail(f"{shown(token)}: not found")
    except failures():
        snapshot = _registry_call(registry.snapshot, token)
    chunks = []
    if snapshot.chunks and isinstance(registry, Chunked):
        chunks = _registry_call(registry.chunks, token)
    notices = _registry_call(registry.notices, token) if isinstance(registry, Outbox) else []
    if as_json:
        described = process_dict(snapshot)
        if chunks:
            described["chunks"] = [process_dict(chunk) for chunk in chunks]
        if notices:
            described["notices"] = [notice_dict(notice) for notice in notices]
        click.echo(json.dumps(described, indent=2))
        return
    click.echo(process_line(snapshot))
    for chunk in chunks:
        click.echo(f"  chunk {chunk.chunk_index} of {snapshot.chunks}: {process_line(chunk)}")
    for notice in notices:
        click.echo(f"  notice {notice.id}: {notice_line(notice)}")


@group.command("abort")
@click.argument("tokens", nargs=-1)
@click.option("--state", "states", multiple=True, type=_STATES, help="Abort all in this state.")
@click.option("--older-than", type=Duration(), help="Abort all registered this long ago or more.")
@click.option("--reason", help="Why, recorded with each abort (at most 500 characters).")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--dry-run", is_flag=True, help="List what would change, and change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before aborting several processes.")
def abort_command(
    tokens: tuple[str, ...],
    states: tuple[str, ...],
    older_than: timedelta | None,
    reason: str | None,
    limit: int,
    dry_run: bool,
    yes: bool,
) -> None:
    """Abort the processes TOKENS, or all those --state and --older-than choose."""
    if tokens and (states or older_than):
        raise click.UsageError("give tokens, or --state and --older-than, not both")
    if not tokens and not (states or older_than):
        raise click.UsageError("give the tokens to abort, or --state and --older-than")
    if reason is not None:
        try:
            reason = AbortImportProcessRequest().load({"reason": reason})["reason"] or None
        except ValidationError as invalid:
            message = invalid_reason(invalid).dev_message
            raise click.BadParameter(str(message), param_hint="--reason") from None
    setup = settings_of(current_app)
    if not tokens:
        abortable = states or tuple(state.value for state in ABORTABLE_STATES)
        chosen = _listing(limit, abortable, older_than)
        tokens = tuple(snapshot.token for snapshot in chosen)
        if not tokens:
            click.echo("no process matches")
            return
    if dry_run:
        _dry_run(tokens)
        return
    if len(tokens) > 1 and not yes and not _confirmed(len(tokens)):
        click.echo("Nothing was aborted.")
        return
    request = AbortRequest(setup.stop_deadline, f"cli:{_user()}", reason or None)
    app = app_object()
    said: list[AbortOutcome] = []
    with _interrupt_between_calls() as interrupted:
        for token in tokens:
            if interrupted.is_set():
                break
            outcome: AbortOutcome = _registry_call(setup.abort, token, request)
            answered(app, setup.registry, token, outcome, request)
            click.echo(f"{shown(token)}: {_SAID[outcome]}")
            said.append(outcome)
    if interrupted.is_set():
        done = said.count(AbortOutcome.REQUESTED)
        click.echo(
            f"Interrupted: {done} aborted, {len(tokens) - len(said)} not asked (of {len(tokens)}).",
            err=True,
        )
        raise SystemExit(130)
    if any(outcome in (AbortOutcome.NOT_FOUND, AbortOutcome.FINISHED) for outcome in said):
        raise SystemExit(1)


def _confirmed(count: int) -> bool:
    """Whether the user says yes to aborting ``count`` processes; a usage error when no
    one can answer."""
    try:
        return click.confirm(f"Abort {count} import processes?")
    except click.Abort:  # no one to answer (stdin closed), or Ctrl-C at the prompt
        raise click.UsageError(
            "no answer to the prompt: give --yes to abort several processes without one"
        ) from None


class _interrupt_between_calls:  # noqa: N801 (used as a context manager, like a function)
    """Ctrl-C (SIGINT) during a bulk abort lets the abort in hand finish and be reported, then
    stops: what was committed is exactly what is said. Only in the main thread, where Python
    delivers signals; elsewhere Ctrl-C is Python's own."""

    def __enter__(self) -> threading.Event:
        self.event = threading.Event()
        self.installed = threading.current_thread() is threading.main_thread()
        if self.installed:
            self.previous = signal.signal(signal.SIGINT, lambda *_: self.event.set())
        return self.event

    def __exit__(self, *exc_info: object) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)


_SAID = {
    AbortOutcome.REQUESTED: "abort requested",
    AbortOutcome.ALREADY_REQUESTED: "abort already requested",
    AbortOutcome.NOT_FOUND: "not found",
    AbortOutcome.FINISHED: "already finished: not aborted",
}


def _dry_run(tokens: Iterable[str]) -> None:
    """Say, for each of ``tokens``, what an abort would do, as the registry reads it now;
    change nothing."""
    registry = settings_of(current_app).snapshots
    snapshot_of = None if registry is None else registry.snapshot
    for token in tokens:
        if snapshot_of is None:
            click.echo(f"{shown(token)}: would be asked to abort")
            continue
        try:
            snapshot = snapshot_of(token)
        except KeyError:
            click.echo(f"{shown(token)}: not found")
            continue
        except failures():
            snapshot = _registry_call(snapshot_of, token)
        if snapshot.state in (ImportState.SUCCEEDED, ImportState.FAILED):
            click.echo(
                f"{shown(token)}: already finished ({snapshot.state.value}): would stay as it is"
            )
        elif snapshot.abort_requested or snapshot.state is ImportState.ABORTED:
            click.echo(f"{shown(token)}: abort already requested: would stay as it is")
        else:
            click.echo(f"{shown(token)}: would abort ({process_line(snapshot)})")


@group.command("reap")
@click.option("--dry-run", is_flag=True, help="List the lost and overdue, and change nothing.")
def reap_command(dry_run: bool) -> None:
    """End the lost processes and the aborts left unheeded past the stop deadline."""
    app = app_object()
    try:
        ended = reap_app(app, dry_run=dry_run)
    except TypeError as error:
        _fail(str(error))
    except failures():
        ended = _registry_call(reap_app, app, dry_run=dry_run)
    verb = "would end" if dry_run else "ended"
    for snapshot in ended:
        click.echo(f"{shown(snapshot.token)}: {verb} {process_line(snapshot)}")
    if not ended:
        click.echo("no process is lost or overdue")


@group.command("deliver")
@click.option("--failed", is_flag=True, help="Make the failed notices due again first.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1))
def deliver_command(failed: bool, limit: int) -> None:
    """Deliver the webhooks' notices that are due, once (a cron job's command). Exits 1 when an
    attempt failed."""
    dispatcher = operators_of(current_app).dispatcher
    if dispatcher is None:
        _fail("no webhook is configured: set IMPORT_ABORT_WEBHOOK_URLS and its secret")
    if failed:
        again = _registry_call(dispatcher.retry_failed)
        click.echo(f"{again} failed notice(s) made due again")
    done = _registry_call(dispatcher.deliver, limit=limit)
    click.echo(
        f"{done.delivered} delivered, {done.retried} to be tried again, {done.failed} failed"
        + (f", {done.purged} removed past their retention" if done.purged else "")
    )
    if done.failed or done.retried:  # an attempt failed: a cron job's run says so
        raise SystemExit(1)


@group.command("create-table")
def create_table_command() -> None:
    """Create the SQL registry's table, if it is missing (safe from any number of machines)."""
    registry = settings_of(current_app).registry
    if not callable(getattr(registry, "create_table", None)):
        _fail(f"the registry ({type(registry).__name__}) has no table to create")
    _registry_call(registry.create_table)  # type: ignore[attr-defined]
    click.echo("the table is there")


@group.command("upgrade-table")
def upgrade_table_command() -> None:
    """Create the SQL registry's table, or upgrade it to the schema this version needs.

    Safe to run again, and from any number of machines at once."""
    registry = settings_of(current_app).registry
    if not callable(getattr(registry, "upgrade_table", None)):
        _fail(f"the registry ({type(registry).__name__}) has no table to upgrade")
    before, after = _registry_call(registry.upgrade_table)  # type: ignore[attr-defined]
    if before is None:
        click.echo(f"the table was created at schema version {after}")
    elif before == after:
        click.echo(f"the table is at schema version {after}: nothing to do")
    else:
        click.echo(f"the table was upgraded from schema version {before} to {after}")
