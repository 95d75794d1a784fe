"""The shop's executeImport: ``POST /ccadmin/v1/importProcess`` starts an import on Celery."""

from flask import Blueprint, request

from flask_import_abort import authenticate

from .tasks import import_products

bp = Blueprint("shop", __name__)


@bp.post("/ccadmin/v1/importProcess")
def execute_import() -> dict[str, str]:
    authenticate()  # the same bearer tokens as the abort
    body = request.get_json()
    count, pause = int(body["count"]), float(body.get("pause", 0))
    token = import_products.options(total=count).enqueue(count, pause)
    return {"processId": token, "status": "submitted"}
