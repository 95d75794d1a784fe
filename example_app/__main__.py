"""Serve the demo host on 127.0.0.1 and start its import."""

from __future__ import annotations

import argparse
import logging

from . import RUNNING_IMPORT, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    app = create_app()
    demo = app.extensions["demo_import"]
    base = f"http://{args.host}:{args.port}{app.config['IMPORT_ABORT_URL_PREFIX']}"
    token = app.config["DEMO_BEARER_TOKEN"]
    print(
        f"\nflask-import-abort demo on http://{args.host}:{args.port}\n"
        f"Demo bearer token: {token}\n"
        f"Import {RUNNING_IMPORT} is running: {demo.batches} batches of {demo.batch_size} "
        f"products, {demo.batch_seconds} s each.\n\n"
        f"Abort it:\n"
        f'  curl -X POST -H "Authorization: Bearer {token}" {base}/{RUNNING_IMPORT}/abort\n'
        f"Watch it stop after its current batch:\n"
        f"  curl {base}/{RUNNING_IMPORT}\n"
        f"The operation's OpenAPI document: http://{args.host}:{args.port}"
        f"{app.config['IMPORT_ABORT_OPENAPI_URL']}\n",
        flush=True,
    )
    demo.start()
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
