"""Model nodes in rotation: which node to ask, how many requests each may have in flight, and
the circuit breaker that takes a failing node out of rotation.

All of it lives in Redis, shared by every worker on every machine:
- Slots: a node's concurrency limit is a sorted set of leases (member = lease token, score =
  expiry in ms on Redis's clock). Taking a slot is one Lua script; an expired lease (a worker
  that died) frees itself. A release wakes one waiting caller through a list (BLPOP).
- Breaker: consecutive failures are counted; at GENERATION_BREAKER_FAILURES the node is open
  (skipped) for GENERATION_BREAKER_COOLDOWN_SECONDS. After that, one request is let through
  as a probe (half-open); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generation.models import ModelNode, ModelRequestLog
from portal.shared_redis import shared_redis

KEY_PREFIX = "generation-nodes:"

# {1} when a slot was taken, {0} when the node is full.
_TAKE_SLOT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""

SLOT_RECHECK_SECONDS = 0.05

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
BREAKER_LABELS = {CLOSED: _("In rotation"), OPEN: _("Out of rotation"),
                  HALF_OPEN: _("Being probed")}


def _key(node_id: int, part: str) -> str:
    return f"{KEY_PREFIX}{node_id}:{part}"


# Slots -------------------------------------------------------------------------------------

class NoFreeSlot(Exception):
    """Every slot of the node stayed taken for as long as the caller could wait."""


@dataclass
class HeldSlot:
    # Set by the caller when the node answered (usable or not): the release then also
    # records the success in the breaker, in the same round trip.
    answered: bool = False


@contextmanager
def slot(node: ModelNode, *, wait_seconds: float) -> Iterator[HeldSlot]:
    """Hold one of the node's concurrency slots for the duration of a request. A caller that
    finds the node full waits on the node's "freed" list, which every release pushes to, so
    it takes a slot the moment one is given back (at least every SLOT_RECHECK_SECONDS it looks
    again, because a dead worker's lease frees its slot without a push)."""
    token = uuid.uuid4().hex
    # A lease outlives the request's own deadline, so only a dead worker's lease expires.
    lease_ms = int(float(node.request_deadline_seconds) * 1000) + 30_000
    key, freed = _key(node.pk, "slots"), _key(node.pk, "freed")
    client = shared_redis()
    give_up_at = time.monotonic() + wait_seconds
    while not client.eval(_TAKE_SLOT, 1, key, node.max_concurrency, lease_ms, token):
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            raise NoFreeSlot(node.name)
        client.blpop([freed], timeout=min(remaining, SLOT_RECHECK_SECONDS))
    held = HeldSlot()
    try:
        yield held
    finally:
        # Give the slot back and wake one waiter; the list keeps at most one entry per slot
        # (a push nobody waited for only makes a later waiter look once more).
        release = client.pipeline(transaction=False)
        release.zrem(key, token)
        release.rpush(freed, 1)
        release.ltrim(freed, -node.max_concurrency, -1)
        release.pexpire(freed, lease_ms)
        if held.answered:
            release.delete(*_breaker_keys(node))
        release.execute()


def slots_in_use(node: ModelNode) -> int:
    now_ms = int(time.time() * 1000)
    return int(shared_redis().zcount(_key(node.pk, "slots"), now_ms, "+inf"))


# Circuit breaker ---------------------------------------------------------------------------

def breaker_state(node: ModelNode) -> str:
    open_until = shared_redis().get(_key(node.pk, "open-until"))
    if open_until is None:
        return CLOSED
    return OPEN if float(open_until) > time.time() else HALF_OPEN


def may_try(node: ModelNode) -> bool:
    """Whether a request may go to the node now. In half-open state exactly one caller at a
    time gets True: its request is the probe."""
    state = breaker_state(node)
    if state == CLOSED:
        return True
    if state == OPEN:
        return False
    probe_ttl = int(float(node.request_deadline_seconds)) + 5
    return bool(shared_redis().set(_key(node.pk, "probe"), "1", nx=True, ex=probe_ttl))


def _breaker_keys(node: ModelNode) -> tuple[str, str, str]:
    return _key(node.pk, "failures"), _key(node.pk, "open-until"), _key(node.pk, "probe")


def record_success(node: ModelNode) -> None:
    shared_redis().delete(*_breaker_keys(node))


def record_failure(node: ModelNode) -> None:
    client = shared_redis()
    failures = client.incr(_key(node.pk, "failures"))
    was_probing = client.delete(_key(node.pk, "probe"))
    if was_probing or failures >= settings.GENERATION_BREAKER_FAILURES:
        cooldown = settings.GENERATION_BREAKER_COOLDOWN_SECONDS
        client.set(_key(node.pk, "open-until"), time.time() + cooldown)


def reset_breaker(node: ModelNode) -> None:
    """Staff put a node back into rotation by hand (after fixing it)."""
    record_success(node)


# Choosing nodes ----------------------------------------------------------------------------

_enabled_lock = threading.Lock()
_enabled: tuple[float, list[ModelNode]] | None = None  # (read at, nodes) in this process


def enabled_nodes() -> list[ModelNode]:
    """The enabled nodes, read from the database at most once per
    GENERATION_NODE_CACHE_SECONDS in each process (every item asks, so this saves a query
    per item): a staff change reaches running workers within that time, and the process
    that saves or deletes a node forgets its copy at once."""
    global _enabled
    with _enabled_lock:
        now = time.monotonic()
        if _enabled is None or now - _enabled[0] >= settings.GENERATION_NODE_CACHE_SECONDS:
            _enabled = (now, list(ModelNode.objects.filter(enabled=True)))
        return _enabled[1]


@receiver(post_save, sender=ModelNode)
@receiver(post_delete, sender=ModelNode)
def forget_enabled_nodes(**kwargs) -> None:
    global _enabled
    with _enabled_lock:
        _enabled = None


def candidates(*, vision: bool) -> list[ModelNode]:
    """Enabled nodes able to do the work, primaries first, each role by priority. Nodes whose
    breaker is open stay in the list: the caller asks `may_try` at the moment it needs one."""
    able = [node for node in enabled_nodes()
            if (node.supports_vision if vision else node.supports_text)]
    role_order = {ModelNode.Role.PRIMARY: 0, ModelNode.Role.BACKUP: 1}
    return sorted(able, key=lambda node: (role_order[node.role], node.priority, node.pk))


def total_capacity() -> int:
    """Requests all primary nodes may run at once (see generation.dispatch)."""
    return max(1, sum(node.max_concurrency for node in enabled_nodes()
                      if node.role == ModelNode.Role.PRIMARY))


# What staff see ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeHealth:
    node: ModelNode
    state: str
    in_flight: int
    requests: int
    error_rate: float | None  # share of failed requests in the window
    average_latency_ms: int | None

    @property
    def state_label(self) -> str:
        return str(BREAKER_LABELS[self.state])


def node_health(window: timedelta = timedelta(hours=1)) -> list[NodeHealth]:
    since = timezone.now() - window
    stats = {row["node"]: row for row in ModelRequestLog.unscoped.filter(started_at__gte=since)
             .values("node").annotate(requests=Count("id"),
                                      failures=Count("id", filter=~Q(error_code="")),
                                      latency=Avg("latency_ms"))}
    health = []
    for node in ModelNode.objects.all():
        row = stats.get(node.pk, {})
        requests = row.get("requests", 0)
        health.append(NodeHealth(
            node=node, state=breaker_state(node), in_flight=slots_in_use(node),
            requests=requests,
            error_rate=(row["failures"] / requests) if requests else None,
            average_latency_ms=int(row["latency"]) if requests else None))
    return health
