"""plain.py, then ImportAbort imported once the blueprint is registered (as another module of
the host may import it)."""

from plain import app

from flask_import_abort import ImportAbort  # noqa: F401

__all__ = ["app"]
