"""The demo's own webhook receiver: what OCC's Import Complete webhook would reach elsewhere.

Off by default; ``DEMO_WEBHOOK_RECEIVER = True`` (``make run WEBHOOKS=1``) points the plugin's
``IMPORT_ABORT_WEBHOOK_URLS`` here. A notice is taken only when its Standard Webhooks signature
(``webhook-signature``, over its id, its time and its body) checks out with the secret and it
was signed within the last five minutes (``verify_notice``), and once per delivery id; the
dashboard lists what was taken (``GET /demo/webhooks``, behind the demo's bearer token).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, func, insert, select
from sqlalchemy.exc import IntegrityError

from flask_import_abort import authenticate
from flask_import_abort.processes.notices import NoticeRefused, verify_notice

PATH = "/demo/webhooks"
receiver = Blueprint("demo_webhooks", __name__)


def notices_table(metadata: MetaData) -> Table:
    """The notices the receiver took, one per delivery."""
    return Table(
        "demo_notices",
        metadata,
        Column("delivery_id", String(64), primary_key=True),
        Column("process_id", String(256), nullable=False),
        Column("progress", String(16), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("body", Text, nullable=False),
    )


def _table() -> Table:
    found: Table = current_app.extensions["demo_notices"]
    return found


@receiver.post(PATH)
def take_notice() -> Any:
    body = request.get_data()  # the raw bytes, as they were signed
    try:
        delivery_id = verify_notice(
            body, request.headers, current_app.config["IMPORT_ABORT_WEBHOOK_SECRET"]
        )
    except NoticeRefused as refused:
        return jsonify(error=str(refused)), 401
    notice = json.loads(body)
    row = {
        "delivery_id": delivery_id,
        "process_id": notice["processId"],
        "progress": notice["progress"],
        "body": body.decode(),
    }
    engine = current_app.extensions["demo_importer"].registry.engine
    try:
        with engine.begin() as connection:
            connection.execute(insert(_table()).values(row))
    except IntegrityError:  # a repeat of a delivery already taken
        pass
    return "", 204


@receiver.get(PATH)
def notices_taken() -> Any:
    authenticate()
    table = _table()
    query = select(table).order_by(table.c.received_at.desc()).limit(20)
    engine = current_app.extensions["demo_importer"].registry.engine
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return jsonify(
        items=[
            {
                "deliveryId": row.delivery_id,
                "processId": row.process_id,
                "progress": row.progress,
                "receivedAt": row.received_at.isoformat(timespec="milliseconds"),
                "result": _result(json.loads(row.body)),
            }
            for row in rows
        ]
    )


def _result(notice: dict[str, Any]) -> dict[str, int]:
    """The counts of a notice, read as OCC's receivers read them: its standalone item's, or
    its bundle's items' summed."""
    items = [notice["standaloneItem"]] if "standaloneItem" in notice else notice["bundleItems"]
    return {
        count: sum(item["result"][count] for item in items)
        for count in ("successCount", "failureCount")
    }
