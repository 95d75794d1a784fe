"""gunicorn settings for the example app: ``gunicorn -c example_app/gunicorn_conf.py --workers 4
'example_app:create_app()'``.

Its metrics count the answers of every worker, not of the one a scrape reaches:
prometheus_client's multiprocess mode, whose folder is set here, before any worker imports
prometheus_client, and emptied when gunicorn starts (counts of an earlier run must not be
added in); a worker that exits is marked dead, so its live gauges leave the totals.
"""

import os
import shutil
import tempfile

from prometheus_client import multiprocess

folder = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"example-app-metrics-{os.getuid()}"),
)


def on_starting(server: object) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def child_exit(server: object, worker: object) -> None:
    multiprocess.mark_process_dead(worker.pid, folder)  # type: ignore[attr-defined]
