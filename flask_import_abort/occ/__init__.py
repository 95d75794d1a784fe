"""OCC's admin API beside the abort: getImportProcess, discovery (``/verify``, ``/registry``),
and OCC's sign-in routes (``/login``, ``/refresh``)."""
