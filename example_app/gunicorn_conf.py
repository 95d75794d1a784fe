"""gunicorn settings for the example app: ``gunicorn -c example_app/gunicorn_conf.py --workers 4
'example_app:create_app()'``.

Every worker signs and checks OCC's access tokens with the same key: one made here, in the
master, when ``FLASK_IMPORT_ABORT_SIGNING_KEYS`` is not set, which the workers inherit (a token
signed by one worker is accepted by every other).

Its metrics count the answers of every worker, not of the one a scrape reaches:
prometheus_client's multiprocess mode, whose folder is set here, before anything imports
prometheus_client (this file's own import of it included), and emptied when gunicorn starts
(counts of an earlier run must not be added in); a worker that exits is marked dead, so its
live gauges leave the totals.
"""

import json
import os
import secrets
import shutil
import tempfile

# First: prometheus_client chooses how it counts when it is first imported, in this master,
# which every worker inherits.
folder = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"example-app-metrics-{os.getuid()}"),
)

from prometheus_client import multiprocess  # noqa: E402  (once the folder is set)

os.environ.setdefault(
    "FLASK_IMPORT_ABORT_SIGNING_KEYS", json.dumps({"demo-1": secrets.token_urlsafe(48)})
)
# One webhook secret for every worker too: a notice one signs, the receiver in another checks.
os.environ.setdefault("FLASK_IMPORT_ABORT_WEBHOOK_SECRET", json.dumps(secrets.token_urlsafe(32)))


def on_starting(server: object) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def child_exit(server: object, worker: object) -> None:
    multiprocess.mark_process_dead(worker.pid, folder)  # type: ignore[attr-defined]
