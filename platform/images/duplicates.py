"""Near-duplicate main images among one store's SKUs, by perceptual hash.

Two main images are near-duplicates when the Hamming distance of their 64-bit pHashes is at
most NEAR_DUPLICATE_DISTANCE. Measured: a resized or recompressed copy lies within 2 bits, a
text overlay a few bits more; different products of the sandbox lie 10 or more apart (real
photos of different products about 34). 6 keeps copies, re-shoots with a moved prop and
overlaid copies in, and different products out. AliExpress pauses a seller for 72 hours for
"low-quality duplicates" (the same goods under several SKUs with near-identical pictures): the
flag warns before generation and in review. The distance is computed in PostgreSQL
(bit_count of the XOR of the two hashes), so a store of 5,000 SKUs costs one indexed scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import F, Func, Value

from catalog.models import Product
from images.models import SourceImage

NEAR_DUPLICATE_DISTANCE = 6



class _Bits64(Func):
    """A 16-digit hexadecimal hash as PostgreSQL's bit(64)."""

    template = "('x' || %(expressions)s)::bit(64)"
    output_field = models.CharField()


class HammingDistance(Func):
    """bit_count(a # b): the number of bits in which two hashes differ."""

    template = "bit_count(%(expressions)s)"
    arg_joiner = " # "
    output_field = models.IntegerField()

    def __init__(self, field: str, phash: str) -> None:
        super().__init__(_Bits64(F(field)), _Bits64(Value(phash)))


@dataclass(frozen=True)
class NearDuplicate:
    product_id: int
    sku: str
    distance: int


def near_duplicates_of(product: Product, main: SourceImage) -> list[NearDuplicate]:
    """Other SKUs of the product's store whose main image lies within the distance, nearest
    first."""
    if not main.phash or main.status != SourceImage.Status.INSPECTED:
        return []
    rows = (SourceImage.objects
            .filter(product__store_id=product.store_id, position=0,
                    status=SourceImage.Status.INSPECTED)
            .exclude(product_id=product.pk).exclude(phash="")
            .annotate(distance=HammingDistance("phash", main.phash))
            .filter(distance__lte=NEAR_DUPLICATE_DISTANCE)
            .order_by("distance", "product_id")
            .values_list("product_id", "product__sku", "distance"))
    return [NearDuplicate(product_id, sku, distance) for product_id, sku, distance in rows]


def mark(product: Product, main: SourceImage) -> list[int]:
    """Record the nearest other SKU on the main image, and on theirs; returns the ids of the
    other products whose record changed (their flags need updating)."""
    found = near_duplicates_of(product, main)
    nearest = found[0] if found else None
    main.near_duplicate_of_id = nearest.product_id if nearest else None
    main.near_duplicate_distance = nearest.distance if nearest else None
    main.save(update_fields=["near_duplicate_of", "near_duplicate_distance"])
    changed: set[int] = set()
    for other in found:
        updated = (SourceImage.objects
                   .filter(product_id=other.product_id, position=0, near_duplicate_of=None)
                   .update(near_duplicate_of=product.pk, near_duplicate_distance=other.distance))
        if updated:
            changed.add(other.product_id)
    # Those that pointed at this product and are no longer near it.
    found_ids = {other.product_id for other in found}
    for stale in (SourceImage.objects.filter(near_duplicate_of=product.pk, position=0)
                  .exclude(product_id__in=found_ids)):
        refreshed = near_duplicates_of(stale.product, stale)
        stale.near_duplicate_of_id = refreshed[0].product_id if refreshed else None
        stale.near_duplicate_distance = refreshed[0].distance if refreshed else None
        stale.save(update_fields=["near_duplicate_of", "near_duplicate_distance"])
        changed.add(stale.product_id)
    return sorted(changed)
