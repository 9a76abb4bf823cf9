"""Prometheus metrics of the platform's own state, read from the database, Redis and the broker
at each scrape (so every process answers the same), beside django-prometheus's request
metrics. Names and meanings: docs/ops/README.md."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billing.models import Reservation, UsageEvent
from generation import nodes
from generation.models import GenerationItem, GenerationJob
from review.models import Review

# key: (help, labels); each is the gauge listing_ai_<key>.
GAUGES: dict[str, tuple[str, list[str]]] = {
    "generation_items": ("Items of active generation jobs, per status.", ["status"]),
    "queue_depth": ("Messages waiting in the Celery queue.", ["queue"]),
    "model_node_latency_ms": ("Mean latency of the node's requests in the last hour.", ["node"]),
    "model_node_error_ratio": ("Share of the node's requests that failed in the last hour.",
                               ["node"]),
    "model_node_in_flight": ("Requests the node has in flight now.", ["node"]),
    "model_node_breaker": ("1 for the breaker state the node is in.", ["node", "state"]),
    "quota_reservations_open": ("AI calls reserved and not yet settled or released.", []),
    "stripe_outbox_events": ("Overage calls not yet reported to Stripe.", []),
    "stripe_outbox_oldest_seconds": ("Age of the oldest overage call not yet reported to "
                                     "Stripe.", []),
    "publish_backlog": ("Approved texts queued for publishing and not yet ended.", []),
    "publish_oldest_seconds": ("Age of the oldest text waiting to be published.", []),
}


def _gauge(key: str) -> GaugeMetricFamily:
    help_text, labels = GAUGES[key]
    return GaugeMetricFamily(f"listing_ai_{key}", help_text, labels=labels)


def _age_seconds(moment) -> float:
    return (timezone.now() - moment).total_seconds() if moment else 0.0


class PlatformCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names only: registering must not query anything."""
        return (_gauge(key) for key in GAUGES)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauges = {key: _gauge(key) for key in GAUGES}
        self._generation(gauges)
        self._nodes(gauges)
        self._quota_and_billing(gauges)
        self._publishing(gauges)
        return iter(gauges.values())

    def _generation(self, gauges: dict) -> None:
        from config.celery import app

        counts = dict(GenerationItem.unscoped
                      .filter(job__status__in=GenerationJob.ACTIVE_STATUSES)
                      .values_list("status").annotate(n=Count("id")).order_by())
        for status in GenerationItem.Status:
            gauges["generation_items"].add_metric([status.value], counts.get(status.value, 0))
        queue = app.conf.task_default_queue
        with app.connection_for_read() as conn:
            gauges["queue_depth"].add_metric([queue], conn.default_channel.client.llen(queue))

    def _nodes(self, gauges: dict) -> None:
        for health in nodes.node_health():
            name = health.node.name
            if health.average_latency_ms is not None:
                gauges["model_node_latency_ms"].add_metric([name], health.average_latency_ms)
            if health.error_rate is not None:
                gauges["model_node_error_ratio"].add_metric([name], health.error_rate)
            gauges["model_node_in_flight"].add_metric([name], health.in_flight)
            for state in (nodes.CLOSED, nodes.OPEN, nodes.HALF_OPEN):
                gauges["model_node_breaker"].add_metric([name, state],
                                                        1 if health.state == state else 0)

    def _quota_and_billing(self, gauges: dict) -> None:
        gauges["quota_reservations_open"].add_metric([], Reservation.unscoped.filter(
            state=Reservation.State.RESERVED).count())
        outbox = UsageEvent.unscoped.filter(kind=UsageEvent.Kind.OVERAGE,
                                            reported_to_stripe_at__isnull=True).aggregate(
            n=Count("id"), oldest=Min("created_at"))
        gauges["stripe_outbox_events"].add_metric([], outbox["n"])
        gauges["stripe_outbox_oldest_seconds"].add_metric([], _age_seconds(outbox["oldest"]))

    def _publishing(self, gauges: dict) -> None:
        backlog = Review.unscoped.filter(publish_pending=True).aggregate(
            n=Count("id"), oldest=Min("publish_queued_at"))
        gauges["publish_backlog"].add_metric([], backlog["n"])
        gauges["publish_oldest_seconds"].add_metric([], _age_seconds(backlog["oldest"]))


_collector = PlatformCollector()


def register() -> None:
    """Once per process (AppConfig.ready; a second call, as in tests, changes nothing)."""
    with contextlib.suppress(ValueError):  # "Duplicated timeseries": registered already
        REGISTRY.register(_collector)
