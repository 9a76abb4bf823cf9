"""The sandbox marketplaces' own content rules: the words each one refuses in a listing's texts.

Deliberately not the platform's list (generation.banned_word_defaults): a real marketplace's
list is its own, so it flags a few words ours lets through ("medical grade",
"hypoallergenic", "lifetime warranty" on Temu; "replica" on AliExpress) and lets through a few
ours refuses ("perfect", "ultimate"). Tests use the difference to show that publishing asks the
marketplace as well as our own filter.

Matching is simple on purpose (case-insensitive, whole words, English only), as a marketplace's
first-pass check is.
"""

from __future__ import annotations

import re
from functools import lru_cache

EXAGGERATED = "EXAGGERATED_CLAIM"
MEDICAL = "MEDICAL_CLAIM"
PROMISE = "ABSOLUTE_PROMISE"
PROMOTION = "PROMOTION"
COUNTERFEIT = "COUNTERFEIT"

REASONS = {
    EXAGGERATED: "Exaggerated or superlative claims are not allowed",
    MEDICAL: "Medical or health claims are not allowed",
    PROMISE: "Absolute promises are not allowed",
    PROMOTION: "Promotion wording is controlled by the platform",
    COUNTERFEIT: "Wording that suggests a counterfeit is not allowed",
}

WORDS: dict[str, dict[str, str]] = {
    "temu": {
        "best": EXAGGERATED, "#1": EXAGGERATED, "number one": EXAGGERATED,
        "world's best": EXAGGERATED, "military grade": EXAGGERATED,
        "guaranteed": PROMISE, "lifetime warranty": PROMISE,
        "cures": MEDICAL, "miracle": MEDICAL, "medical grade": MEDICAL,
        "hypoallergenic": MEDICAL,
        "free shipping": PROMOTION, "discount": PROMOTION, "buy now": PROMOTION,
    },
    "aliexpress": {
        "best": EXAGGERATED, "#1": EXAGGERATED, "number one": EXAGGERATED,
        "guaranteed": PROMISE, "cures": MEDICAL, "miracle": MEDICAL,
        "replica": COUNTERFEIT, "1:1 copy": COUNTERFEIT, "original brand": COUNTERFEIT,
    },
}


@lru_cache(maxsize=64)
def _pattern(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w#])" + re.escape(term) + r"(?!\w)", re.IGNORECASE)


def findings(marketplace: str, text: str) -> list[tuple[str, str]]:
    """(term, reason code) for each of the marketplace's words in `text`, in list order."""
    return [(term, reason) for term, reason in WORDS[marketplace].items()
            if _pattern(term).search(text)]
