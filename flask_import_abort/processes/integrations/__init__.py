"""Imports run by the job engines teams already use: ``celery`` (extra ``[celery]``) and ``rq``
(extra ``[rq]``). Each makes the process token the engine's own job id, runs the job's body
as the batch loop of :class:`~flask_import_abort.processes.ImportRun`, and gives a
``force_stop`` for ``IMPORT_ABORT_FORCE_STOP``. Telling the engine of the endpoint's aborts is
the web side's: :func:`flask_import_abort.operators.mirror.mirror_aborts`.
"""
