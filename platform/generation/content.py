"""What generation produces: the content kinds, the languages, the JSON shape the model must
return for each kind (validated with pydantic), and the marketplaces' length limits.

This module is the contract between the instruction sets (which ask for the shape), the model
sandbox (which answers in it), the pipeline (which validates it) and review/publishing (which
reads it). Pure data and functions: no database.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from marketplaces.sites import Marketplace


class ContentKind(models.TextChoices):
    TITLE = "title", _("Title")
    BULLET_POINTS = "bullet_points", _("Bullet points")
    SEARCH_TERMS = "search_terms", _("Search terms")
    IMAGE_DESCRIPTION = "image_description", _("Image description")
    DETAIL_MODULES = "detail_modules", _("Detail-page modules")
    VIDEO_SCRIPT = "video_script", _("Short-video script (3-5 s)")
    LIVESTREAM_SCRIPT = "livestream_script", _("Live-stream script")


# Kinds that need a vision-capable model node (the main image is sent with the request).
VISION_KINDS = frozenset({ContentKind.IMAGE_DESCRIPTION})

LANGUAGE_NAMES = {
    "en": _("English"), "fr": _("French"), "de": _("German"), "es": _("Spanish"),
    "it": _("Italian"), "ru": _("Russian"), "pt": _("Portuguese"),
}
# The language's own name, written into the instructions so the model answers in it.
LANGUAGE_ENDONYMS = {
    "en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
    "ru": "Русский", "pt": "Português",
}


LANGUAGE_CHOICES = list(LANGUAGE_NAMES.items())


# JSON shapes -------------------------------------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TitleContent(_Shape):
    title: Text


class BulletPointsContent(_Shape):
    bullet_points: list[Text] = Field(min_length=3, max_length=6)


class SearchTermsContent(_Shape):
    search_terms: list[Text] = Field(min_length=3, max_length=30)


class ImageDescriptionContent(_Shape):
    alt_text: Text
    description: Text


class DetailModule(_Shape):
    heading: Text
    body: Text


class DetailModulesContent(_Shape):
    modules: list[DetailModule] = Field(min_length=2, max_length=8)


class Shot(_Shape):
    seconds: float = Field(gt=0, le=5)
    visual: Text
    caption: str = ""


class VideoScriptContent(_Shape):
    duration_seconds: float = Field(ge=3, le=5)
    shots: list[Shot] = Field(min_length=1, max_length=6)
    voiceover: str = ""


class LivestreamSegment(_Shape):
    topic: Text
    script: Text


class LivestreamScriptContent(_Shape):
    opening: Text
    segments: list[LivestreamSegment] = Field(min_length=2, max_length=10)
    closing: Text


SHAPES: dict[str, type[_Shape]] = {
    ContentKind.TITLE: TitleContent,
    ContentKind.BULLET_POINTS: BulletPointsContent,
    ContentKind.SEARCH_TERMS: SearchTermsContent,
    ContentKind.IMAGE_DESCRIPTION: ImageDescriptionContent,
    ContentKind.DETAIL_MODULES: DetailModulesContent,
    ContentKind.VIDEO_SCRIPT: VideoScriptContent,
    ContentKind.LIVESTREAM_SCRIPT: LivestreamScriptContent,
}

# An example of each shape, written into the instructions (the model copies the structure).
EXAMPLES: dict[str, dict[str, Any]] = {
    ContentKind.TITLE: {"title": "..."},
    ContentKind.BULLET_POINTS: {"bullet_points": ["...", "...", "...", "...", "..."]},
    ContentKind.SEARCH_TERMS: {"search_terms": ["...", "...", "..."]},
    ContentKind.IMAGE_DESCRIPTION: {"alt_text": "...", "description": "..."},
    ContentKind.DETAIL_MODULES: {"modules": [{"heading": "...", "body": "..."}]},
    ContentKind.VIDEO_SCRIPT: {"duration_seconds": 4, "voiceover": "...",
                               "shots": [{"seconds": 1.5, "visual": "...", "caption": "..."}]},
    ContentKind.LIVESTREAM_SCRIPT: {"opening": "...", "closing": "...",
                                    "segments": [{"topic": "...", "script": "..."}]},
}


class InvalidContent(ValueError):
    """The model's answer is not the JSON shape asked for (blank, not JSON, wrong fields)."""


def parse_content(kind: str, raw: str | None) -> dict[str, Any]:
    """Validate the model's JSON answer for `kind`; return it normalised (stripped, extra
    keys dropped). Raises InvalidContent with a short reason."""
    if raw is None or not raw.strip():
        raise InvalidContent("blank answer")
    try:
        parsed = SHAPES[kind].model_validate_json(raw.strip())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "answer"
        raise InvalidContent(f"{where}: {first.get('msg', 'invalid')}") from error
    return parsed.model_dump()


# Texts inside the content ------------------------------------------------------------------

def text_fields(kind: str, content: dict[str, Any]) -> list[tuple[str, str]]:
    """Every piece of text in `content`, labelled by where it sits ("title",
    "bullet_points.2", "modules.0.body", ...): what the compliance filter checks."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            found.append((path, value))
        elif isinstance(value, list):
            for index, element in enumerate(value):
                walk(element, f"{path}.{index}")
        elif isinstance(value, dict):
            for key, element in value.items():
                walk(element, f"{path}.{key}" if path else key)

    walk(content, "")
    return found


def as_plain_text(kind: str, content: dict[str, Any]) -> str:
    """The content as plain text, one piece per line: for diffs, duplicate checks and the
    AI-share measure."""
    return "\n".join(text for _path, text in text_fields(kind, content) if text.strip())


# Length limits -----------------------------------------------------------------------------
#
# Per marketplace and kind: the longest a single field may be (characters), keyed by the
# field's name in the shape (lists: each element). Title limits are the marketplaces' own;
# the rest are what their listing editors accept.

LENGTH_LIMITS: dict[str, dict[str, dict[str, int]]] = {
    Marketplace.TEMU: {
        ContentKind.TITLE: {"title": 250},
        ContentKind.BULLET_POINTS: {"bullet_points": 250},
        ContentKind.SEARCH_TERMS: {"search_terms": 50},
        ContentKind.IMAGE_DESCRIPTION: {"alt_text": 125, "description": 500},
        ContentKind.DETAIL_MODULES: {"heading": 80, "body": 1000},
        ContentKind.VIDEO_SCRIPT: {"visual": 200, "caption": 60, "voiceover": 200},
        ContentKind.LIVESTREAM_SCRIPT: {"opening": 600, "script": 1500, "closing": 600,
                                        "topic": 80},
    },
    Marketplace.ALIEXPRESS: {
        ContentKind.TITLE: {"title": 128},
        ContentKind.BULLET_POINTS: {"bullet_points": 200},
        ContentKind.SEARCH_TERMS: {"search_terms": 40},
        ContentKind.IMAGE_DESCRIPTION: {"alt_text": 125, "description": 500},
        ContentKind.DETAIL_MODULES: {"heading": 80, "body": 1000},
        ContentKind.VIDEO_SCRIPT: {"visual": 200, "caption": 60, "voiceover": 200},
        ContentKind.LIVESTREAM_SCRIPT: {"opening": 600, "script": 1500, "closing": 600,
                                        "topic": 80},
    },
}


def length_limit(marketplace: str, kind: str, path: str) -> int | None:
    """The limit for the field at `path` (as text_fields labels it), if any."""
    limits = LENGTH_LIMITS.get(marketplace, {}).get(kind, {})
    names = [part for part in path.split(".") if not part.isdigit()]
    return limits.get(names[-1]) if names else None


# The request layout ------------------------------------------------------------------------
#
# Every model request is [system: the instruction set (long, stable, cached by the provider),
# then the tenant's brand voice], then ONE user message, last, that starts with these header
# lines and ends with the product's data. The model sandbox reads the same lines.

KIND_HEADER = "Content kind:"        # "Content kind: title"
LANGUAGE_HEADER = "Output language:"  # "Output language: fr (Français)"
PRODUCT_DATA_HEADER = "Product data (JSON):"  # followed by the product as a JSON object

# An LLM-as-judge request (generation.evaluation): the rubric as the system message, then one
# user message with the product data and, after this header, the candidates as a JSON list
# of texts. The answer: {"scores": [1-5, one per candidate, in their order]}.
JUDGE_HEADER = "Candidates to judge (JSON):"


class JudgeAnswer(_Shape):
    scores: list[int] = Field(min_length=1, max_length=10)
