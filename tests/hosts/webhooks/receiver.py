"""A system that takes OCC's Import Complete webhook, written from OCC's documented example."""

import base64
import hashlib
import hmac
import os

from flask import Flask, abort, request

app = Flask(__name__)
SECRET = os.environ["WEBHOOK_SECRET"].encode()
written: dict[str, dict[str, int]] = {}  # by import, the records written of each item


@app.post("/hooks/imports")
def import_complete() -> tuple[str, int]:
    body = request.get_data()  # the raw bytes, as they were signed
    expected = base64.b64encode(hmac.new(SECRET, body, hashlib.sha512).digest())
    sent = request.headers.get("X-Oracle-CC-WebHook-Signature", "").encode()
    if not hmac.compare_digest(expected, sent):
        abort(401)
    notice = request.get_json()
    if "standaloneItem" in notice:
        item = notice["standaloneItem"]
        written[notice["processId"]] = {item["id"]: item["result"]["successCount"]}
    else:
        items = notice["bundleItems"]
        written[notice["processId"]] = {i["fileName"]: i["result"]["successCount"] for i in items}
    return "", 204


@app.get("/hooks/imports")
def taken() -> dict[str, dict[str, int]]:
    return written
