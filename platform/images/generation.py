"""Main-image scenes through model nodes with the capability "image" (images.models.ImageNode):
the product's main image goes to the node's OpenAI-compatible /v1/images/edits with a style
preset per market, as text goes to chat completions, with the same machinery: the nodes in
order (primaries first, by priority), their breakers and concurrency slots
(generation.nodes), the node's hard deadline (the client's timeout), a request log row with
its cost for every attempt (generation.ModelRequestLog).

Before a call: a scene of the same SKU, made from the same source in the same style, that is
already approved would come back nearly identical (the nodes answer deterministically for the
same input), and publishing it again risks AliExpress's 72-hour pause for low-quality
duplicates: it is refused (ERR_IMAGE_DUPLICATE) before it costs a call. After a call, a
result within the near-duplicate distance of an approved scene of the same SKU is refused too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from decimal import Decimal

import imagehash
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from generation import gateway, nodes
from generation.models import ModelNode, ModelRequestLog
from images import duplicates, fetch, inspection
from images.models import GeneratedImage, ImageNode, SourceImage


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    prompt: str


PRESETS = {preset.key: preset for preset in (
    Preset("white-studio", _("White studio"),
           "Place the product on a clean white studio background with a soft shadow. "
           "Keep the product exactly as it is. No text, no watermark."),
    Preset("spain-fast-fashion", _("Spain: fast fashion"),
           "Place the product in a bright Mediterranean street scene, fast-fashion editorial "
           "style, natural daylight. Keep the product exactly as it is. No text."),
    Preset("brazil-promotional", _("Brazil: promotional"),
           "Place the product on a vivid, colourful promotional backdrop, summer mood. Keep "
           "the product exactly as it is. No text, no price tags."),
)}


class ImageGenerationError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def image_nodes() -> list[ModelNode]:
    """Enabled nodes with the capability "image", primaries first, each role by priority."""
    able = (ModelNode.objects.filter(enabled=True, image_capability__isnull=False)
            .select_related("image_capability"))
    role_order = {ModelNode.Role.PRIMARY: 0, ModelNode.Role.BACKUP: 1}
    return sorted(able, key=lambda node: (role_order[node.role], node.priority, node.pk))


def generate_scene(product: Product, preset_key: str) -> GeneratedImage:
    preset = PRESETS.get(preset_key)
    if preset is None:
        raise ImageGenerationError("ERR_IMAGE_PRESET", f"Unknown style {preset_key!r}.")
    main = SourceImage.objects.filter(product=product, position=0,
                                      status=SourceImage.Status.INSPECTED).first()
    if main is None:
        raise ImageGenerationError("ERR_IMAGE_NOT_INSPECTED",
                                   "The main image has not been inspected yet.")
    if GeneratedImage.objects.filter(product=product, preset=preset.key,
                                     source_sha256=main.content_sha256,
                                     status=GeneratedImage.Status.APPROVED).exists():
        raise ImageGenerationError("ERR_IMAGE_DUPLICATE", str(DUPLICATE_EXPLANATION))
    source = fetch.download(main.url)
    data, node, cost = _call_nodes(product, preset, source.data or b"")
    picture = inspection.decode(data)
    phash = inspection.perceptual_hash(picture)
    for approved in GeneratedImage.objects.filter(product=product,
                                                  status=GeneratedImage.Status.APPROVED):
        distance = imagehash.hex_to_hash(phash) - imagehash.hex_to_hash(approved.phash)
        if distance <= duplicates.NEAR_DUPLICATE_DISTANCE:
            raise ImageGenerationError("ERR_IMAGE_DUPLICATE", str(DUPLICATE_EXPLANATION))
    generated = GeneratedImage(tenant_id=product.tenant_id, product=product, source=main,
                               source_sha256=main.content_sha256, preset=preset.key,
                               prompt=preset.prompt, node_name=node.name,
                               width=picture.width, height=picture.height, phash=phash,
                               cost=cost.quantize(Decimal("0.01")))
    digest = hashlib.sha256(data).hexdigest()[:16]
    generated.file.save(f"{product.pk}-{preset.key}-{digest}.png", ContentFile(data),
                        save=False)
    generated.save()
    return generated


DUPLICATE_EXPLANATION = _(
    "An approved scene of this SKU made from the same picture already exists; a new one would "
    "be nearly identical, and AliExpress pauses a seller for 72 hours for low-quality "
    "duplicates. Change the source picture or choose another style.")


def _call_nodes(product: Product, preset: Preset, source: bytes
                ) -> tuple[bytes, ModelNode, Decimal]:
    last_code, last_message = "ERR_NO_MODEL_NODE", "No enabled model node can make images."
    attempt = 0
    for node in image_nodes():
        if not nodes.may_try(node):
            continue
        attempt += 1
        capability: ImageNode = node.image_capability
        started, began = timezone.now(), time.monotonic()
        code, message, status, request_id, data = "", "", None, "", b""
        try:
            with nodes.slot(node, wait_seconds=settings.GENERATION_SLOT_WAIT_SECONDS):
                answer = gateway.client_for(node).images.with_raw_response.edit(
                    model=node.model_name, image=("source.png", source, "image/png"),
                    prompt=preset.prompt, size=capability.size, response_format="b64_json")
                request_id = answer.headers.get("x-request-id", "")
                status = answer.http_response.status_code
                data = base64.b64decode(answer.parse().data[0].b64_json or "")
                inspection.decode(data)  # a picture, or an invalid answer
        except nodes.NoFreeSlot:
            attempt -= 1
            last_code, last_message = "ERR_MODEL_TIMEOUT", f"{node.name} stayed busy."
            continue
        except (inspection.InspectionError, binascii.Error, IndexError) as error:
            code, message = "ERR_MODEL_INVALID_OUTPUT", f"Not a picture: {error}"[:1000]
        except Exception as error:  # noqa: BLE001 (every failure is classified and logged)
            code, message, status = gateway._classify(error)  # noqa: SLF001 (one home)
        cost = capability.price_per_image if not code else Decimal("0")
        ModelRequestLog.objects.create(
            tenant_id=product.tenant_id, store_id=product.store_id, node=node,
            node_name=node.name, attempt=attempt, purpose=ModelRequestLog.Purpose.GENERATE,
            started_at=started, latency_ms=int((time.monotonic() - began) * 1000),
            cost=cost, error_code=code, error_message=message, http_status=status,
            provider_request_id=request_id[:120])
        if not code:
            nodes.record_success(node)
            return data, node, cost
        if code != "ERR_MODEL_BAD_REQUEST":
            nodes.record_failure(node)
        last_code, last_message = code, message
    raise ImageGenerationError(last_code, last_message)


def review(generated: GeneratedImage, *, approve: bool) -> GeneratedImage:
    """Approve or reject one generated image (review shows it beside the source)."""
    generated.status = (GeneratedImage.Status.APPROVED if approve
                        else GeneratedImage.Status.REJECTED)
    generated.reviewed_at = timezone.now()
    generated.save(update_fields=["status", "reviewed_at"])
    return generated
