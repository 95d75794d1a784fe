"""Serve the demo host and its dashboard on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging

from . import close_app, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per page refresh

    app = create_app()
    importer = app.extensions["demo_importer"]
    site = f"http://{args.host}:{args.port}"
    token = app.config["DEMO_BEARER_TOKEN"]
    print(
        f"\nflask-import-abort demo: open {site}/#token={token}\n"
        f"Demo bearer token: {token}\n"
        f"Imports of {importer.batch_size} products a batch, {importer.pause} s a batch, "
        f"kept in {app.config['DEMO_DATABASE_URL']}\n\n"
        f"Or by hand: start an import, then abort it with the processId it answers:\n"
        f'  curl -H "Authorization: Bearer {token}" -H "Content-Type: application/json" '
        f'-d \'{{"fileName": "products.json", "mode": "standalone", "id": "Products", '
        f'"format": "json"}}\' {site}/ccadmin/v1/importProcess\n'
        f'  curl -X POST -H "Authorization: Bearer {token}" '
        f"{site}/ccadmin/v1/importProcess/<processId>/abort\n"
        f"The abort operation's OpenAPI document: {site}{app.config['IMPORT_ABORT_OPENAPI_URL']}\n",
        flush=True,
    )
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        close_app(app)


if __name__ == "__main__":
    main()
