"""The Redis that every worker on every machine shares (limits, model-node health and slots)."""

from __future__ import annotations

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}


def shared_redis() -> redis.Redis:
    # One client (and connection pool) per process and URL, shared by every caller and
    # thread: the generation pipeline asks several times per item.
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients.setdefault(url, redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5))
    return client
