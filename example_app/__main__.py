"""Serve the demo host and its dashboard on 127.0.0.1, with workers of its job engine.

With ``DEMO_EXECUTOR`` celery or rq, workers of that engine run beside the app, started with the
app's environment, and stopped with it: one Celery worker with ``DEMO_PARALLELISM`` processes
(two at least), or ``DEMO_PARALLELISM`` RQ workers, so that each chunk of an import has one.
Ctrl-C or SIGTERM aborts every import the demo has not finished (actor and end reason
``shutdown``): running ones stop after their batch, queued ones are dropped and never run.
Then the workers get a warm stop (SIGTERM), and after :data:`WORKER_PATIENCE` seconds their
whole process groups are killed (RQ's work horse, Celery's pool), so that nothing of them
writes on; an import they left unended is recorded ``aborted``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import close_app, create_app

#: The worker each engine runs: the same commands the README gives for a real deployment.
WORKERS = {
    "celery": [
        *("-m", "celery", "-A", "example_app.celery_app", "worker"),
        *("--pool", "prefork", "--loglevel", "INFO", "--queues"),
    ],
    "rq": ["-m", "rq.cli", "worker", "--url"],
}


#: Seconds the running imports get to stop after their batch, then the worker to stop warm.
IMPORT_PATIENCE = 10.0
WORKER_PATIENCE = 10.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per page refresh

    site = f"http://{args.host}:{args.port}"
    app = create_app({"DEMO_PUBLIC_URL": site})
    importer = app.extensions["demo_importer"]
    executor = app.config["DEMO_EXECUTOR"]
    token = app.config["DEMO_BEARER_TOKEN"]
    print(
        f"\nflask-import-abort demo: open {site}/#token={token}\n"
        f"Demo bearer token: {token}\n"
        f"Application key for OCC's clients: {app.config['DEMO_APPLICATION_KEY']} "
        f"(they sign in at {site}/ccadminui/v1/login)\n"
        f"Imports of {importer.batch_size} products a batch, {importer.pause} s a batch, "
        f"kept in {app.config['DEMO_DATABASE_URL']}, run by {executor}"
        f"{' (workers started beside the app)' if executor in WORKERS else ''}, "
        f"each in {importer.parallelism} chunk(s)\n\n"
        f"Or by hand: start an import, then abort it with the processId it answers:\n"
        f'  curl -H "Authorization: Bearer {token}" -H "Content-Type: application/json" '
        f'-d \'{{"fileName": "products.json", "mode": "standalone", "id": "Products", '
        f'"format": "json"}}\' {site}/ccadmin/v1/importProcess\n'
        f'  curl -X POST -H "Authorization: Bearer {token}" '
        f"{site}/ccadmin/v1/importProcess/<processId>/abort\n"
        f"The abort operation's OpenAPI document: {site}{app.config['IMPORT_ABORT_OPENAPI_URL']}\n",
        flush=True,
    )
    _stop_on_ctrl_c_and_sigterm()
    try:
        with _worker(executor, app.config) as stopped:
            try:
                app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
            except KeyboardInterrupt:  # werkzeug's server takes it itself; others may not
                pass
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # one stop at a time
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                print("Stopping: aborting the imports that have not ended.", flush=True)
                stopped.extend(importer.shut_down(IMPORT_PATIENCE))
        importer.ended_with_its_worker(stopped)
    finally:
        close_app(app)


def _stop_on_ctrl_c_and_sigterm() -> None:
    """Ctrl-C and SIGTERM (``kill``, a container's stop) both stop the app and its worker.

    SIGINT gets Python's own handler even when it was started ignored (as a shell does for a
    command put in the background with ``&``), and SIGTERM the same, so that the worker is
    stopped with the app instead of being left running without it.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextmanager
def _worker(executor: str, config: Any) -> Iterator[list[str]]:
    """The engine's worker, for as long as the app serves; none for the thread executor.

    It runs in a session of its own, so that a terminal's Ctrl-C reaches the app alone, which
    stops the worker in its turn: a warm stop, then, past :data:`WORKER_PATIENCE`, a kill of
    its whole process group."""
    if executor not in WORKERS:
        yield []
        return
    parallelism = int(config["DEMO_PARALLELISM"])
    if executor == "rq":
        command = [*WORKERS["rq"], config["DEMO_REDIS_URL"], config["DEMO_QUEUE"]]
        commands = [command] * parallelism
    else:
        concurrency = str(max(2, parallelism))
        commands = [[*WORKERS[executor], config["DEMO_QUEUE"], "--concurrency", concurrency]]
    workers = [
        subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, *arguments], start_new_session=True
        )
        for arguments in commands
    ]
    try:
        yield []
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)  # a warm stop: the running imports have stopped
        for worker in workers:
            try:
                worker.wait(timeout=WORKER_PATIENCE)
            except subprocess.TimeoutExpired:
                print("A worker did not stop in time: killing it and its children.", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)  # its pool or work horse too
            worker.wait()


if __name__ == "__main__":
    main()
