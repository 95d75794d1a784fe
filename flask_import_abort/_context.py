"""Internal: the app and the request behind Flask's context proxies, typed as what they are.

A view or an error handler that hands the app or the request on (to a check, a log line, an
error's body) hands on the object itself: a proxy would look itself up again on every use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app, request

if TYPE_CHECKING:
    from flask import Flask, Request
    from werkzeug.local import LocalProxy


def app_object() -> Flask:
    """The app of the current app context."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()


def request_object() -> Request:
    """The request of the current request context."""
    return cast("LocalProxy[Request]", request)._get_current_object()
