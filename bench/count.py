"""One variant's requests, for callgrind to count: python -m bench.count VARIANT PATH CALLS.

Only what runs inside ``functools.reduce`` is counted (``--toggle-collect``): the requests,
after 50 uncounted ones to warm up.
"""

from __future__ import annotations

import io
import sys
from functools import reduce
from typing import Any

from . import apps
from .inprocess import PATHS, SIGNED_PATHS, environ


def main(variant: str, kind: str, calls: int) -> None:
    route = {**PATHS, **SIGNED_PATHS}[kind]
    wsgi = apps.variants()[variant]
    base = environ(route)

    def start_response(*args: Any) -> None:
        pass

    def request(_: None, __: int) -> None:
        env = base.copy()
        env["wsgi.input"] = io.BytesIO(route.body)
        b"".join(wsgi(env, start_response))

    for number in range(50):
        request(None, number)
    reduce(request, range(calls), None)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
