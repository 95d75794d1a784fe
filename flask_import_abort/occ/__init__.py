"""OCC's admin API beside the abort: getImportProcess (its answer, :func:`describe_import`, for a
host's own routes), discovery (``/verify``, ``/registry``), and OCC's sign-in routes (``/login``,
``/refresh``)."""

from ._status import describe_import

__all__ = ["describe_import"]
