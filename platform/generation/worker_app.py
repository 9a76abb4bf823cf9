"""The Celery app for throwaway generation workers (the benchmark, the worker tests):
config.celery's app, with its default queue taken from GENERATION_WORKER_QUEUE, so the items
a worker dispatches itself (generation.dispatch.refill) land on the queue it consumes, not on
the production queue.

    GENERATION_WORKER_QUEUE=bench-1 celery -A generation.worker_app worker -Q bench-1 ...
"""

import os

from config.celery import app

_queue = os.environ.get("GENERATION_WORKER_QUEUE")
if _queue:
    app.conf.task_default_queue = _queue

__all__ = ["app"]
