"""Reap a registry once at an agreed moment, as one of many processes doing so at once.

REAP_AT=<time.time()> python -m tests.reap_once DATABASE_URL REGISTRY_TABLE
Prints the tokens it ended, as a JSON list.
"""

from __future__ import annotations

import json
import os
import sys
import time

from flask_import_abort.processes.sql import SQLImportRegistry


def main(argv: list[str]) -> None:
    url, table = argv
    with SQLImportRegistry(url, table_name=table, lease=0.5) as registry:
        time.sleep(max(0.0, float(os.environ["REAP_AT"]) - time.time()))
        ended = registry.reap()
    print(json.dumps([snapshot.token for snapshot in ended]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
