"""A host whose every import's end is announced with OCC's Import Complete webhook."""

import os

import click
from flask import Flask

from flask_import_abort import ImportAbort
from flask_import_abort.processes import run_import
from flask_import_abort.processes.sql import SQLImportRegistry

registry = SQLImportRegistry(os.environ["DATABASE_URL"], webhooks=True)
app = Flask(__name__)
app.config["IMPORT_ABORT_BEARER_TOKENS"] = [os.environ["IMPORT_ADMIN_TOKEN"]]
app.config["IMPORT_ABORT_WEBHOOK_URLS"] = [os.environ["WEBHOOK_URL"]]
app.config["IMPORT_ABORT_WEBHOOK_SECRET"] = os.environ["WEBHOOK_SECRET"]
ImportAbort(app, registry=registry)


@app.cli.command("import-products")
@click.argument("file_name")
@click.argument("count", type=int)
@click.option("--mode", type=click.Choice(["standalone", "bundle"]), default="standalone")
def import_products(file_name: str, count: int, mode: str) -> None:
    """Import COUNT products from FILE_NAME, as OCC's executeImport would."""
    registry.create_table()
    item = {"mode": mode, "fileName": file_name, "id": "Products", "format": "json"}
    token = registry.register(total=count, metadata=item)
    batches = (range(start, min(start + 100, count)) for start in range(0, count, 100))
    run_import(registry, token, batches, lambda batch: None)
    click.echo(token)
