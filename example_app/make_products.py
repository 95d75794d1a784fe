"""Write the demo's import file, the same bytes on every run.

python -m example_app.make_products              # example_app/data/products.json
python -m example_app.make_products --count 50 --output /tmp/small.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .products import COUNT, PRODUCTS_FILE, write_products_file


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m example_app.make_products", description=__doc__
    )
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--output", type=Path, default=PRODUCTS_FILE)
    args = parser.parse_args(argv)
    write_products_file(args.output, args.count)
    print(f"{args.count} products written to {args.output}")


if __name__ == "__main__":
    main()
