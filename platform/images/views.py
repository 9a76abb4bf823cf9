"""Seller portal: a product's images side by side (the source, every marketplace size, every
generated scene), approve or reject per generated image, and the files themselves (served
through the member check: image files are never public)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from catalog.quality import QUALITY_FLAG_HELP
from images import generation, inspection, selectors
from images.duplicates import NEAR_DUPLICATE_DISTANCE
from images.models import GeneratedImage
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission


@require_GET
@member_required()
def product_images(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(selectors.products(), pk=pk)
    return render(request, "images/product_images.html", {
        "product": product,
        "sources": list(selectors.source_images(product)),
        "generated": list(selectors.generated_images(product)),
        "flag_help": [(flag, text) for flag, text in QUALITY_FLAG_HELP.items()
                      if flag in (product.quality_flags or [])],
        "min_width": inspection.MIN_WIDTH,
        "distance": NEAR_DUPLICATE_DISTANCE,
        "can_review": member_can(request, TenantPermission.REVIEW),
    })


@require_POST
@member_required(TenantPermission.REVIEW)
def review_generated(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    generated = get_object_or_404(GeneratedImage.objects.all(), pk=pk)
    if decision not in ("approve", "reject"):
        raise Http404
    generation.review(generated, approve=decision == "approve")
    messages.success(request, _("Image approved.") if decision == "approve"
                     else _("Image rejected."))
    return redirect("images_product", pk=generated.product_id)


@require_GET
@member_required()
def image_file(request: HttpRequest, kind: str, pk: int) -> FileResponse:
    owner = selectors.file_owner(kind, pk)
    if owner is None or not owner.file:
        raise Http404
    response = FileResponse(owner.file.open("rb"))
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
