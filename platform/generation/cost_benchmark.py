"""What a metered call costs the ISV in model tokens, and what three languages cost against one:
the same realistic SKUs generated once in one language and once in three, through the real
pipeline and gateway, against the model sandbox (which answers with DeepSeek's usage fields,
its 64-token prefix cache included), priced at DeepSeek's list prices.

`manage.py benchmark_model_cost`; results in docs/architecture.md, "Model cost".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from catalog.models import Product
from generation import benchmark, pipeline
from generation.models import GenerationItem, ModelNode, ModelRequestLog
from generation.services import Selection, start_job
from sandbox import pool
from tenants.scope import tenant_scope

# DeepSeek's API list prices (deepseek-chat, CNY per million tokens, from September 2025):
# input served from the context cache, input not from the cache, output.
DEEPSEEK_PRICES = {"cache_hit": Decimal("0.2"), "cache_miss": Decimal("2"),
                   "output": Decimal("3")}
KINDS = ("title", "bullet_points")


@dataclass
class Scenario:
    languages: tuple[str, ...]
    items: int = 0
    ready: int = 0
    cost: Decimal = Decimal("0")
    prompt_tokens: int = 0
    cache_hit_tokens: int = 0
    completion_tokens: int = 0

    @property
    def cost_per_call(self) -> Decimal:
        return self.cost / self.ready if self.ready else Decimal("0")

    @property
    def cache_hit_share(self) -> float:
        return self.cache_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def run(skus: int = 100) -> tuple[Scenario, Scenario]:
    """(one language, three languages) for the same SKUs, each on a node of its own (the
    sandbox's cache is per API key: the second scenario starts as cold as the first)."""
    from sandbox.model_api import start_sandbox

    sandbox = start_sandbox()
    run_id = uuid.uuid4().hex[:10]
    try:
        fixture = benchmark.set_up(run_id, benchmark.Options(skus=skus, concurrency=8,
                                                             languages=("en", "fr", "de")),
                                   sandbox.base_url)
        _realistic_products(fixture)
        ModelNode.objects.filter(pk=fixture.node.pk).update(enabled=False)
        scenarios = (Scenario(("en",)), Scenario(("en", "fr", "de")))
        for scenario in scenarios:
            _generate(fixture, scenario, sandbox.base_url)
        return scenarios
    finally:
        sandbox.stop()
        benchmark.tear_down(run_id)
        ModelNode.objects.filter(name__startswith=f"Cost benchmark {run_id}").delete()


def _realistic_products(fixture: benchmark.Fixture) -> None:
    """The set-up's SKUs get the sandbox pool's varied titles, attributes and parameters (the
    benchmark's own are near-copies, which the cache would flatter)."""
    for product in Product.unscoped.filter(store=fixture.store):
        goods = pool.product("90001", seed=7, index=int(product.marketplace_id))
        product.title, product.category = goods.title, goods.category
        product.description, product.attributes = goods.description, goods.attributes
        product.parameters = {k: v for k, v in goods.parameters.items() if v is not None}
        product.bullet_points = list(goods.bullet_points)
        product.save(update_fields=["title", "category", "description", "attributes",
                                    "parameters", "bullet_points"])


def _generate(fixture: benchmark.Fixture, scenario: Scenario, base_url: str) -> None:
    node = ModelNode.objects.create(
        name=f"Cost benchmark {fixture.run} {'+'.join(scenario.languages)}", base_url=base_url,
        model_name="deepseek-chat", api_key=f"sk-cost-{uuid.uuid4().hex[:8]}",
        supports_text=True, role=ModelNode.Role.PRIMARY, priority=0, max_concurrency=8,
        request_deadline_seconds=Decimal("30"), price_cache_hit=DEEPSEEK_PRICES["cache_hit"],
        price_cache_miss=DEEPSEEK_PRICES["cache_miss"], price_output=DEEPSEEK_PRICES["output"])
    try:
        with tenant_scope(fixture.tenant):
            job = start_job(store=fixture.store, selection=Selection(whole_store=True),
                            kinds=list(KINDS), languages=list(scenario.languages),
                            compliance_mode=False, by=fixture.user)
        pending = GenerationItem.unscoped.filter(job=job).order_by("product_id", "kind", "id")
        for item_id in pending.values_list("id", flat=True):
            pipeline.run_item(item_id)
        items = GenerationItem.unscoped.filter(job=job)
        scenario.items = items.count()
        scenario.ready = items.filter(status=GenerationItem.Status.READY).count()
        totals = ModelRequestLog.unscoped.filter(job=job).aggregate(
            cost=Sum("cost"), prompt=Sum("prompt_tokens"), hit=Sum("cache_hit_tokens"),
            completion=Sum("completion_tokens"))
        scenario.cost = totals["cost"] or Decimal("0")
        scenario.prompt_tokens = totals["prompt"] or 0
        scenario.cache_hit_tokens = totals["hit"] or 0
        scenario.completion_tokens = totals["completion"] or 0
    finally:
        node.enabled = False
        node.save(update_fields=["enabled"])  # the next scenario's node takes over
