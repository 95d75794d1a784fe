"""The demo's products: the file an import reads, and the table it writes them into."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table

DATA = Path(__file__).parent / "data"
PRODUCTS_FILE = DATA / "products.json"
COUNT = 20_000

_COLOURS = ["Amber", "Cobalt", "Coral", "Ivory", "Jade", "Onyx", "Russet", "Slate"]
_ITEMS = ["Armchair", "Bookcase", "Desk Lamp", "Rug", "Side Table", "Stool", "Throw", "Vase"]


def product(number: int) -> dict[str, Any]:
    """Product ``number`` of the demo catalog: the same on every run and every machine."""
    colour = _COLOURS[number % len(_COLOURS)]
    item = _ITEMS[number // len(_COLOURS) % len(_ITEMS)]
    return {
        "id": f"prod_{number:05d}",
        "displayName": f"{colour} {item} {number}",
        "listPrice": round(9.99 + (number * 7919 % 50_000) / 100, 2),
        "stock": number * 31 % 250,
    }


def write_products_file(path: Path = PRODUCTS_FILE, count: int = COUNT) -> None:
    """Write ``count`` products as the import file, ``{"products": [...]}``, one per line."""
    lines = ",\n".join(json.dumps(product(number), sort_keys=True) for number in range(count))
    path.write_text('{"products": [\n' + lines + "\n]}\n", encoding="utf-8")


def read_products(path: Path) -> list[dict[str, Any]]:
    """The products of an import file."""
    with path.open(encoding="utf-8") as file:
        products: list[dict[str, Any]] = json.load(file)["products"]
    return products


def products_table(metadata: MetaData) -> Table:
    """Where imports write: each product with the import process that wrote it."""
    return Table(
        "demo_products",
        metadata,
        Column("process_id", String(256), primary_key=True),
        Column("product_id", String(64), primary_key=True),
        Column("display_name", String(200), nullable=False),
        Column("list_price_cents", Integer, nullable=False),
        Column("stock", Integer, nullable=False),
    )
