"""Serve the demo host and its dashboard on 127.0.0.1, with a worker of its job engine.

With ``DEMO_EXECUTOR`` celery or rq, one worker of that engine runs beside the app, started
with the app's environment, and stopped with it (Ctrl-C stops both).
"""

from __future__ import annotations

import argparse
import logging
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
        *("--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO", "--queues"),
    ],
    "rq": ["-m", "rq.cli", "worker", "--url"],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per page refresh

    app = create_app()
    importer = app.extensions["demo_importer"]
    executor = app.config["DEMO_EXECUTOR"]
    site = f"http://{args.host}:{args.port}"
    token = app.config["DEMO_BEARER_TOKEN"]
    print(
        f"\nflask-import-abort demo: open {site}/#token={token}\n"
        f"Demo bearer token: {token}\n"
        f"Imports of {importer.batch_size} products a batch, {importer.pause} s a batch, "
        f"kept in {app.config['DEMO_DATABASE_URL']}, run by {executor}"
        f"{' (a worker started beside the app)' if executor in WORKERS else ''}\n\n"
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
        with _worker(executor, app.config):
            app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
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
def _worker(executor: str, config: Any) -> Iterator[None]:
    """The engine's worker, for as long as the app serves; none for the thread executor."""
    if executor not in WORKERS:
        yield
        return
    arguments = [*WORKERS[executor], config["DEMO_QUEUE"]]
    if executor == "rq":
        arguments = [*WORKERS["rq"], config["DEMO_REDIS_URL"], config["DEMO_QUEUE"]]
    worker = subprocess.Popen([sys.executable, *arguments])  # noqa: S603 - fixed arguments
    try:
        yield
    finally:
        worker.send_signal(signal.SIGTERM)  # a warm stop: running imports finish their batch
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


if __name__ == "__main__":
    main()
