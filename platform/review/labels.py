"""What a content path is called on the page: "bullet_points.2" -> "Bullet point 3"."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

FIELD_LABELS = {
    "title": gettext_lazy("Title"),
    "bullet_points": gettext_lazy("Bullet point"),
    "search_terms": gettext_lazy("Search term"),
    "alt_text": gettext_lazy("Alt text"),
    "description": gettext_lazy("Description"),
    "modules": gettext_lazy("Module"),
    "heading": gettext_lazy("heading"),
    "body": gettext_lazy("text"),
    "shots": gettext_lazy("Shot"),
    "visual": gettext_lazy("visual"),
    "caption": gettext_lazy("caption"),
    "voiceover": gettext_lazy("Voice-over"),
    "opening": gettext_lazy("Opening"),
    "closing": gettext_lazy("Closing"),
    "segments": gettext_lazy("Segment"),
    "topic": gettext_lazy("topic"),
    "script": gettext_lazy("script"),
}


def field_label(path: str) -> str:
    """"bullet_points.2" -> "Bullet point 3"; "modules.0.body" -> "Module 1 text"."""
    words = []
    for part in path.split("."):
        if part.isdigit():
            words.append(str(int(part) + 1))
        else:
            words.append(str(FIELD_LABELS.get(part, part.replace("_", " "))))
    return " ".join(words)
