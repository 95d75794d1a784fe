"""Internal: the app and the request behind Flask's context proxies, typed as what they are.

A view or an error handler that hands the app or the request on (to a check, a log line, an
error's body) hands on the object itself: a proxy would look itself up again on every use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request

if TYPE_CHECKING:
    from flask import Flask, Request
    from werkzeug.local import LocalProxy

    # The proxies as what they are (Flask types them as what they stand for), declared so
    # that reading one costs no call at run time.
    _APP: LocalProxy[Flask]
    _REQUEST: LocalProxy[Request]
else:
    _APP, _REQUEST = current_app, request


def app_object() -> Flask:
    """The app of the current app context."""
    return _APP._get_current_object()


def request_object() -> Request:
    """The request of the current request context."""
    return _REQUEST._get_current_object()
