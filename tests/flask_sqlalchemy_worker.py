"""An import worker of a Flask-SQLAlchemy host, in a process of its own: the registry is built on
the host's ``db``, and the import runs inside ``app.app_context()``, as the README shows.

python -m tests.flask_sqlalchemy_worker DATABASE_URL REGISTRY_TABLE TOKEN BATCHES PAUSE LEASE

It prints "batch N" as each batch is written, and the end state at the end.
"""

from __future__ import annotations

import sys
import time

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_import_abort.processes import run_import
from flask_import_abort.processes.sql import SQLImportRegistry

db = SQLAlchemy()


def main(argv: list[str]) -> None:
    url, registry_table, token, batches, pause, lease = argv
    app = Flask("host")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    registry = SQLImportRegistry(db, table_name=registry_table, lease=float(lease))

    def write(batch: list[int]) -> None:
        time.sleep(float(pause))  # one batch, longer than the lease
        print(f"batch {batch[0]}", flush=True)

    with app.app_context():
        state = run_import(registry, token, ([n] for n in range(int(batches))), write)
    print(state.value, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
