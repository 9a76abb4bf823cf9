"""`manage.py benchmark_model_cost`: the model cost of a metered call, and of three languages
against one, at DeepSeek's prices (generation.cost_benchmark). Needs a database of its own, like
the other benchmarks; ends with one JSON line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from generation import cost_benchmark

RATIO_AIM = 1.5
PER_CALL_AIM = 0.01


class Command(BaseCommand):
    help = ("Generate titles and bullet points for the same SKUs in one language and in three "
            "through the real pipeline against the model sandbox; print the cost at "
            "DeepSeek's prices of three languages against one and per metered call.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--skus", type=int, default=100)

    def handle(self, *args, skus: int, **options) -> None:
        one, three = cost_benchmark.run(skus)
        prices = cost_benchmark.DEEPSEEK_PRICES
        self.stdout.write(f"DeepSeek prices (CNY per million tokens): cache hit "
                          f"{prices['cache_hit']}, cache miss {prices['cache_miss']}, output "
                          f"{prices['output']}")
        for scenario in (one, three):
            self.stdout.write(
                f"{'+'.join(scenario.languages)}: {scenario.ready} of {scenario.items} items, "
                f"CNY {scenario.cost:.6f} ({scenario.cost_per_call:.6f} per call), prompt "
                f"{scenario.prompt_tokens:,} tokens ({scenario.cache_hit_share:.1%} from the "
                f"cache), output {scenario.completion_tokens:,}")
        per_sku_one = one.cost / skus
        per_sku_three = three.cost / skus
        ratio = float(per_sku_three / per_sku_one) if per_sku_one else 0.0
        self.stdout.write(f"three languages cost {ratio:.2f}x one language (aim at most "
                          f"{RATIO_AIM}x); a metered call costs CNY "
                          f"{float(three.cost_per_call):.5f} (aim at most {PER_CALL_AIM})")
        self.stdout.write(json.dumps({
            "skus": skus, "kinds": list(cost_benchmark.KINDS),
            "cost_one_language": float(one.cost), "cost_three_languages": float(three.cost),
            "three_vs_one": round(ratio, 3),
            "cost_per_call_one_language": float(one.cost_per_call),
            "cost_per_call_three_languages": float(three.cost_per_call),
            "cache_hit_share_one": round(one.cache_hit_share, 4),
            "cache_hit_share_three": round(three.cache_hit_share, 4)}))
