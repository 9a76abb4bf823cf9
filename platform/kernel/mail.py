"""The platform's e-mails: one message in both shipped languages, Chinese first (most sellers
read Chinese first), so it reads right whoever opens it."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import tzinfo

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

LANGUAGES = ("zh-hans", "en")
SEPARATOR = "\n\n----\n\n"


def send_in_both_languages(template: str, context: dict, recipients: list[str], *,
                           zone: tzinfo | None = None) -> int:
    """Render `<template>.txt` in each language and `<template>_subject.txt` in Chinese, with
    times in `zone` (the tenant's), and send one e-mail to `recipients`. Returns how many."""
    if not recipients:
        return 0
    with timezone.override(zone) if zone is not None else nullcontext():
        bodies = []
        for language in LANGUAGES:
            with translation.override(language):
                bodies.append(render_to_string(f"{template}.txt", context))
        with translation.override(LANGUAGES[0]):
            subject = render_to_string(f"{template}_subject.txt", context).strip()
    send_mail(subject, SEPARATOR.join(bodies), None, recipients)
    return len(recipients)
