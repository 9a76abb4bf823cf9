"""The Celery application: generation pipeline and catalog syncs run here."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# DjangoTask gives every task delay_on_commit(): work is enqueued only once the
# transaction that asked for it has committed.
app = Celery("listing_ai", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    """Between tasks, as between web requests: drop connections past CONN_MAX_AGE or broken
    (CELERY_DB_REUSE_MAX keeps Celery from closing every connection each time). Not for an
    eager task, which runs inside its caller's transaction."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
