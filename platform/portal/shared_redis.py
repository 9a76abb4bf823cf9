"""The Redis that every worker on every machine shares (limits, model-node health and slots)."""

from __future__ import annotations

import redis
from django.conf import settings

_pools: dict[str, redis.ConnectionPool] = {}


def shared_redis() -> redis.Redis:
    # One pool per process and URL: connections are reused by every caller.
    url = settings.REDIS_URL
    if url not in _pools:
        _pools[url] = redis.ConnectionPool.from_url(url, socket_timeout=5,
                                                    socket_connect_timeout=5)
    return redis.Redis(connection_pool=_pools[url])
