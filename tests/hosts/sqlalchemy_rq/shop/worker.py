"""The RQ worker's settings: ``rq worker -c shop.worker``.

The app is made once, in the worker, before it forks a work horse for each job; every job runs
inside its app context (``init_app``), where ``db.session`` works.
"""

import os

from shop import create_app
from shop.jobs import imports

app = create_app()
imports.init_app(app)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUES = ["imports"]
