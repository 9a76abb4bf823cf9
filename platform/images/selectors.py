"""Reads for the images pages (tenant-scoped through the default managers)."""

from __future__ import annotations

from django.db.models import QuerySet

from catalog.models import Product
from images.models import GeneratedImage, ImageVariant, SourceImage


def products() -> QuerySet[Product]:
    return Product.objects.select_related("store")


def source_images(product: Product) -> QuerySet[SourceImage]:
    return (SourceImage.objects.filter(product=product).select_related("near_duplicate_of")
            .prefetch_related("variants"))


def generated_images(product: Product) -> QuerySet[GeneratedImage]:
    return GeneratedImage.objects.filter(product=product)


def file_owner(kind: str, pk: int) -> SourceImage | ImageVariant | GeneratedImage | None:
    model = {"source": SourceImage, "variant": ImageVariant, "generated": GeneratedImage}.get(kind)
    return model.objects.filter(pk=pk).first() if model is not None else None
