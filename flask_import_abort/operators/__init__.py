"""What operators run beside the endpoint: the ``flask import-abort`` commands (:mod:`.cli`),
the metrics (:mod:`.metrics`), the mirror of aborts to the job engines (:mod:`.mirror`), and
reaping an app's registry with the app's settings: :func:`reap_app` once, or
:func:`flask_import_abort.reaper` in a thread."""

from ._reaping import reap_app

__all__ = ["reap_app"]
