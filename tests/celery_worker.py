"""A real Celery worker for tests: Celery's embedded worker (a thread in this process, solo
pool) on the real Redis broker, consuming a queue of the test's own.

Use it from transactional tests (`django_db(transaction=True)`): the worker thread has its own
database connection and sees only committed rows, like a worker on another machine.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app


@contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Fail the test (instead of hanging the suite) if it runs longer than `seconds`."""

    def expired(signum, frame):
        raise TimeoutError(f"test exceeded its {seconds}s deadline (Celery worker stuck?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def embedded_worker(monkeypatch, *, name: str, deadline_seconds: float) -> Iterator[object]:
    """Messages go to a queue named for this test and only this worker consumes it, so stale
    messages or another run sharing the broker cannot interfere."""
    # Fail fast with a clear message when the broker is down (start_worker would retry).
    redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3,
                         socket_timeout=3).ping()
    assert not celery_app.conf.task_always_eager, "the worker test needs a real broker"
    queue_name = f"tests-{name}-{uuid.uuid4().hex[:12]}"
    queues = celery_app.amqp.queues
    previous_selection = queues._consume_from  # start_worker(queues=...) narrows it
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue_name)
    try:
        with hard_deadline(deadline_seconds), start_worker(
            celery_app, pool="solo", concurrency=1, perform_ping_check=False,
            shutdown_timeout=15, queues=[queue_name],
        ) as worker:
            yield worker
    finally:
        queues._consume_from = previous_selection
        # Remove the queue and its bindings from the broker (declared here so that kombu
        # knows the bindings it has to delete).
        with celery_app.connection_for_write() as conn:
            queue = queues.pop(queue_name).bind(conn.default_channel)
            queue.declare()
            queue.delete()
    # The worker thread must not keep a database connection open: the test database
    # could not be flushed or dropped at the end of the session.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] == 0
