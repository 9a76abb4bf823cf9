"""The banned-word lists the ISV ships by default, per marketplace and language.

Where they come from: the product brief (docs PRODUCT.md, "Compliance keyword filtering":
Temu bans superlatives such as "best" and "#1"; content that trips the list is rejected with
ERR_CONTENT_REJECTED) and the marketplaces' published listing rules, which ban or penalise
the same families of claims in every language:

- superlatives and rank claims ("best", "#1", "top-rated", "world's best");
- price claims ("cheapest", "lowest price");
- absolute promises ("guaranteed", "100% guaranteed", "perfect");
- brand and authority claims ("official", "genuine", "FDA approved");
- medical claims ("cures", "clinically proven");
- unsupported environmental claims ("eco-friendly", "biodegradable", "non-toxic").

Temu is stricter than AliExpress: it also refuses promotion wording in listings (shipping,
discounts, sales, urgency), which it controls itself.

The filter (generation.compliance) adds plurals in "s"/"es"/"ies", ignores case, accents,
spaces and hyphens, and treats every spelling of a rank claim as one, so each list names one
spelling per claim; gender and other inflections are listed. ISV staff edit the lists; these
are the starting point.
"""

from __future__ import annotations

from marketplaces.sites import ALIEXPRESS_LANGUAGES, TEMU_LANGUAGES, Marketplace

# Both marketplaces ban these.
_COMMON: dict[str, list[str]] = {
    "en": [
        "best", "world's best", "best seller", "best-selling", "#1", "top-rated",
        "top quality", "highest quality", "cheapest", "lowest price", "guaranteed",
        "100% guaranteed", "perfect", "flawless", "unbeatable", "ultimate", "official",
        "officially licensed", "authentic", "FDA approved", "clinically proven",
        "cures", "heals", "miracle", "anti-cancer", "eco-friendly", "biodegradable",
        "non-toxic", "100% natural", "risk-free",
    ],
    "fr": [
        "meilleur", "meilleure", "le meilleur du monde", "meilleure vente", "n°1",
        "le mieux noté", "qualité supérieure", "le moins cher", "la moins chère",
        "prix le plus bas", "garanti", "garantie", "garanti à 100 %", "parfait", "parfaite",
        "imbattable", "officiel", "officielle", "authentique", "approuvé par la FDA",
        "cliniquement prouvé", "guérit", "miracle", "anticancer", "écologique",
        "biodégradable", "non toxique", "100 % naturel", "sans risque",
    ],
    "de": [
        "beste", "bester", "besten", "weltbeste", "Bestseller", "meistverkauft", "Nr. 1",
        "bestbewertet", "höchste Qualität", "billigste", "billigster", "günstigste",
        "niedrigster Preis", "garantiert", "100 % garantiert", "perfekt", "makellos",
        "unschlagbar", "offiziell", "authentisch", "FDA-zugelassen", "klinisch erwiesen",
        "heilt", "Wundermittel", "umweltfreundlich", "biologisch abbaubar", "ungiftig",
        "100 % natürlich", "risikofrei",
    ],
    "es": [
        "mejor", "el mejor del mundo", "más vendido", "n.º 1", "mejor valorado",
        "máxima calidad", "más barato", "más barata", "precio más bajo", "garantizado",
        "garantizada", "100 % garantizado", "perfecto", "perfecta", "insuperable", "oficial",
        "auténtico", "aprobado por la FDA", "clínicamente probado", "cura",
        "milagroso", "anticancerígeno", "ecológico", "biodegradable", "no tóxico",
        "100 % natural", "sin riesgo",
    ],
    "it": [
        "migliore", "migliori", "il migliore al mondo", "più venduto", "n. 1",
        "più votato", "massima qualità", "più economico", "più economica",
        "prezzo più basso", "garantito", "garantita", "garantito al 100%", "perfetto",
        "perfetta", "imbattibile", "ufficiale", "autentico",
        "approvato dalla FDA", "clinicamente testato", "cura", "miracoloso", "antitumorale",
        "ecologico", "biodegradabile", "atossico", "100% naturale", "senza rischi",
    ],
    "ru": [
        "лучший", "лучшая", "лучшее", "лучшие", "самый лучший", "лучший в мире", "хит продаж",
        "№1", "самый дешёвый", "самая дешёвая", "самая низкая цена", "гарантия",
        "гарантированно", "100% гарантия", "идеальный", "безупречный", "непревзойдённый",
        "официальный", "подлинный", "одобрено FDA", "клинически доказано", "излечивает",
        "чудодейственный", "экологически чистый", "биоразлагаемый", "нетоксичный",
        "100% натуральный", "без риска",
    ],
    "pt": [
        "melhor", "o melhor do mundo", "mais vendido", "nº 1", "mais bem avaliado",
        "qualidade máxima", "mais barato", "mais barata", "menor preço", "garantido",
        "garantida", "100% garantido", "perfeito", "perfeita", "imbatível", "oficial",
        "autêntico", "aprovado pela FDA", "clinicamente comprovado", "cura",
        "milagroso", "anticancerígeno", "ecológico", "biodegradável", "não tóxico",
        "100% natural", "sem risco",
    ],
}

# Temu also refuses promotion wording in the listing text.
_TEMU_ONLY: dict[str, list[str]] = {
    "en": [
        "free shipping", "free delivery", "discount", "sale", "clearance", "limited time",
        "free gift", "hot deal", "buy now",
    ],
    "fr": [
        "livraison gratuite", "remise", "promo", "soldes", "déstockage", "offre limitée",
        "cadeau offert", "achetez maintenant",
    ],
    "de": [
        "kostenloser Versand", "versandkostenfrei", "Rabatt", "Sonderangebot", "Ausverkauf",
        "nur für kurze Zeit", "gratis Geschenk", "jetzt kaufen",
    ],
    "es": [
        "envío gratis", "descuento", "rebajas", "oferta", "liquidación", "tiempo limitado",
        "regalo gratis", "compra ahora",
    ],
    "it": [
        "spedizione gratuita", "sconto", "saldi", "offerta", "svendita", "tempo limitato",
        "regalo gratuito", "acquista ora",
    ],
}


DEFAULT_BANNED_TERMS: dict[str, dict[str, list[str]]] = {
    Marketplace.TEMU: {
        language: _COMMON[language] + _TEMU_ONLY[language] for language in TEMU_LANGUAGES
    },
    Marketplace.ALIEXPRESS: {
        language: list(_COMMON[language]) for language in ALIEXPRESS_LANGUAGES
    },
}


def default_banned_terms(marketplace: str, language: str) -> list[str]:
    """The shipped list for one marketplace and language (a copy; empty if none)."""
    return list(DEFAULT_BANNED_TERMS.get(marketplace, {}).get(language, []))
