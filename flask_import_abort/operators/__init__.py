"""What operators run beside the endpoint: the ``flask import-abort`` commands, the metrics, the
reaper bound to an app, and the mirror of aborts to the job engines."""
