"""Boot the example app at an agreed moment, as a gunicorn worker boots it, then exit.

python -m tests.boot_app DATABASE_URL START_AT     (START_AT: a time.time() to wait for)
"""

from __future__ import annotations

import sys
import time

from example_app import close_app, create_app


def main(argv: list[str]) -> None:
    url, start_at = argv
    time.sleep(max(0.0, float(start_at) - time.time()))
    app = create_app({"DEMO_BEARER_TOKEN": "boot", "DEMO_DATABASE_URL": url})
    close_app(app)
    print("booted", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
