"""Internal: blinker signals sent by the endpoint."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent after the registry answered an abort request, with the app as sender and the
#: keyword arguments ``token`` (str) and ``outcome`` (:class:`AbortOutcome`).
abort_answered = _signals.signal("import-abort-answered")
