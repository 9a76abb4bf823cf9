"""What the model sandbox writes: deterministic, plausible content in the JSON shape of
generation.content.SHAPES, built from the product data found in the request.

The request layout is generation.content's contract: the last user message carries the kind,
the language and the product. Same messages -> same answer (the choices are seeded by a hash
of the messages), so tests can compare answers; a changed instruction gives another variant.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from generation.content import (
    JUDGE_HEADER,
    KIND_HEADER,
    LANGUAGE_HEADER,
    PRODUCT_DATA_HEADER,
    SHAPES,
)

# Superlatives the marketplaces ban: scrubbed from the product's own text in normal answers,
# and put in on purpose by the `banned_words` behaviour.
_BANNED = re.compile(r"(?<![\w#])(?:#1|no\.\s?1|best|top|cheapest|guaranteed|perfect)(?!\w)",
                     re.IGNORECASE)
BANNED_INSERTS = ("Best", "#1 Best Seller", "Top Quality", "Perfect Gift", "Guaranteed")

# Temu's limits (generation.content.LENGTH_LIMITS) are the tighter of the two marketplaces
# except for titles; AliExpress titles are shorter still, so titles stay under 128.
TITLE_MAX = 128
# AliExpress's bytes for all search terms together (generation.gates.MARKETPLACE_LIMITS).
SEARCH_TERMS_BYTES = 200

# The video shots' on-screen captions: the same placeholders in every language.
CAPTIONS = ("{noun}", "{quality}", "{color}")

# Short phrase tables, enough that each language reads as itself.
PHRASES: dict[str, dict[str, Any]] = {
    "en": {
        "qualities": ("durable and practical", "lightweight and easy to carry",
                      "easy to clean", "comfortable to use", "made for daily use"),
        "title_tail": ("for Everyday Use", "for Home and Travel", "Gift Idea"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Simple to look after and ready to use out of the box.",
        "headings": ("Overview", "Features", "Specifications", "How to use"),
        "overview": "{title}. A {category} item that is {quality}.",
        "usage": "Use it every day at home, at work or on the go.",
        "gift": "gift", "new": "new",
        "alt": "{title} on a light background",
        "image": "The main image shows the {title} from the front, {quality}, in {color}.",
        "shots": ("Close-up of the {noun}", "The {noun} in use", "The {noun} with its details"),
        "voiceover": "Meet the {noun}: {quality}.",
        "opening": "Hello everyone and welcome! Today we look at the {title}.",
        "topics": ("What it is", "Materials and details", "Specifications", "Everyday use"),
        "closing": "Thank you for watching. The product link is below the stream.",
        "generic": "Here is the requested text about {subject}.",
    },
    "fr": {
        "qualities": ("résistant et pratique", "léger et facile à emporter",
                      "facile à nettoyer", "agréable à utiliser", "conçu pour tous les jours"),
        "title_tail": ("pour un usage quotidien", "pour la maison et le voyage", "idée cadeau"),
        "bullet": "{key} : {value}, {quality}.",
        "bullet_intro": "{title} : {quality}.",
        "care": "Facile à entretenir et prêt à l'emploi dès la réception.",
        "headings": ("Présentation", "Points forts", "Caractéristiques", "Utilisation"),
        "overview": "{title}. Un article de la catégorie {category}, {quality}.",
        "usage": "À utiliser tous les jours, à la maison, au travail ou en déplacement.",
        "gift": "cadeau", "new": "nouveau",
        "alt": "{title} sur fond clair",
        "image": "L'image principale montre {title} de face, {quality}, coloris {color}.",
        "shots": ("Gros plan sur {noun}", "{noun} en situation", "Les détails de {noun}"),
        "voiceover": "Découvrez {noun} : {quality}.",
        "opening": "Bonjour à tous et bienvenue ! Aujourd'hui, nous présentons {title}.",
        "topics": ("De quoi s'agit-il", "Matières et détails", "Caractéristiques",
                   "Au quotidien"),
        "closing": "Merci d'avoir regardé. Le lien du produit se trouve sous le direct.",
        "generic": "Voici le texte demandé au sujet de {subject}.",
    },
    "de": {
        "qualities": ("robust und praktisch", "leicht und einfach mitzunehmen",
                      "leicht zu reinigen", "angenehm in der Anwendung", "für jeden Tag gemacht"),
        "title_tail": ("für den täglichen Gebrauch", "für Zuhause und unterwegs", "Geschenkidee"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Pflegeleicht und sofort einsatzbereit.",
        "headings": ("Überblick", "Merkmale", "Technische Daten", "Anwendung"),
        "overview": "{title}. Ein Artikel aus der Kategorie {category}, {quality}.",
        "usage": "Für den täglichen Einsatz zu Hause, im Büro oder unterwegs.",
        "gift": "Geschenk", "new": "neu",
        "alt": "{title} vor hellem Hintergrund",
        "image": "Das Hauptbild zeigt {title} von vorne, {quality}, in der Farbe {color}.",
        "shots": ("Nahaufnahme: {noun}", "{noun} im Einsatz", "Details von {noun}"),
        "voiceover": "Das ist {noun}: {quality}.",
        "opening": "Hallo zusammen und herzlich willkommen! Heute zeigen wir {title}.",
        "topics": ("Was es ist", "Material und Details", "Technische Daten", "Im Alltag"),
        "closing": "Danke fürs Zuschauen. Den Link zum Produkt findet ihr unter dem Stream.",
        "generic": "Hier ist der gewünschte Text zu {subject}.",
    },
    "es": {
        "qualities": ("resistente y práctico", "ligero y fácil de llevar", "fácil de limpiar",
                      "cómodo de usar", "pensado para el día a día"),
        "title_tail": ("para uso diario", "para casa y viajes", "idea de regalo"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Fácil de cuidar y listo para usar desde el primer día.",
        "headings": ("Presentación", "Características", "Especificaciones", "Modo de uso"),
        "overview": "{title}. Un artículo de la categoría {category}, {quality}.",
        "usage": "Úsalo cada día en casa, en el trabajo o de viaje.",
        "gift": "regalo", "new": "nuevo",
        "alt": "{title} sobre fondo claro",
        "image": "La imagen principal muestra {title} de frente, {quality}, en color {color}.",
        "shots": ("Primer plano de {noun}", "{noun} en uso", "Los detalles de {noun}"),
        "voiceover": "Descubre {noun}: {quality}.",
        "opening": "¡Hola a todos y bienvenidos! Hoy os presentamos {title}.",
        "topics": ("Qué es", "Materiales y detalles", "Especificaciones", "En el día a día"),
        "closing": "Gracias por vernos. El enlace del producto está debajo de la emisión.",
        "generic": "Aquí está el texto solicitado sobre {subject}.",
    },
    "it": {
        "qualities": ("resistente e pratico", "leggero e facile da portare", "facile da pulire",
                      "comodo da usare", "pensato per ogni giorno"),
        "title_tail": ("per uso quotidiano", "per casa e viaggio", "idea regalo"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Facile da curare e pronto all'uso.",
        "headings": ("Panoramica", "Caratteristiche", "Specifiche", "Come si usa"),
        "overview": "{title}. Un articolo della categoria {category}, {quality}.",
        "usage": "Da usare ogni giorno a casa, in ufficio o in viaggio.",
        "gift": "regalo", "new": "nuovo",
        "alt": "{title} su sfondo chiaro",
        "image": "L'immagine principale mostra {title} di fronte, {quality}, nel colore {color}.",
        "shots": ("Primo piano di {noun}", "{noun} in uso", "I dettagli di {noun}"),
        "voiceover": "Ecco {noun}: {quality}.",
        "opening": "Ciao a tutti e benvenuti! Oggi vi presentiamo {title}.",
        "topics": ("Che cos'è", "Materiali e dettagli", "Specifiche",
                   "Nella vita di tutti i giorni"),
        "closing": "Grazie per averci seguito. Il link al prodotto è sotto la diretta.",
        "generic": "Ecco il testo richiesto su {subject}.",
    },
    "ru": {
        "qualities": ("прочный и практичный", "лёгкий и удобный в дороге", "легко чистится",
                      "удобен в использовании", "создан для каждого дня"),
        "title_tail": ("для повседневного использования", "для дома и путешествий",
                       "идея для подарка"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Прост в уходе и готов к использованию сразу после покупки.",
        "headings": ("Обзор", "Особенности", "Характеристики", "Как использовать"),
        "overview": "{title}. Товар из категории {category}: {quality}.",
        "usage": "Подходит для каждого дня: дома, на работе и в поездках.",
        "gift": "подарок", "new": "новинка",
        "alt": "{title} на светлом фоне",
        "image": "На главном фото {title} спереди, {quality}, цвет {color}.",
        "shots": ("Крупный план: {noun}", "{noun} в использовании", "Детали: {noun}"),
        "voiceover": "Знакомьтесь: {noun}, {quality}.",
        "opening": "Всем привет и добро пожаловать! Сегодня мы показываем {title}.",
        "topics": ("Что это", "Материалы и детали", "Характеристики", "В повседневной жизни"),
        "closing": "Спасибо, что смотрели. Ссылка на товар под трансляцией.",
        "generic": "Вот запрошенный текст о {subject}.",
    },
    "pt": {
        "qualities": ("resistente e prático", "leve e fácil de levar", "fácil de limpar",
                      "confortável de usar", "feito para o dia a dia"),
        "title_tail": ("para uso diário", "para casa e viagem", "ideia de presente"),
        "bullet": "{key}: {value}, {quality}.",
        "bullet_intro": "{title}: {quality}.",
        "care": "Fácil de cuidar e pronto a usar.",
        "headings": ("Visão geral", "Características", "Especificações", "Como usar"),
        "overview": "{title}. Um artigo da categoria {category}, {quality}.",
        "usage": "Use todos os dias em casa, no trabalho ou em viagem.",
        "gift": "presente", "new": "novo",
        "alt": "{title} em fundo claro",
        "image": "A imagem principal mostra {title} de frente, {quality}, na cor {color}.",
        "shots": ("Close de {noun}", "{noun} em uso", "Os detalhes de {noun}"),
        "voiceover": "Conheça {noun}: {quality}.",
        "opening": "Olá a todos e bem-vindos! Hoje apresentamos {title}.",
        "topics": ("O que é", "Materiais e detalhes", "Especificações", "No dia a dia"),
        "closing": "Obrigado por assistir. O link do produto está abaixo da transmissão.",
        "generic": "Aqui está o texto pedido sobre {subject}.",
    },
}


# -- reading the request ----------------------------------------------------------------------

def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content
                         if isinstance(part, dict) and part.get("type") == "text")
    return ""


def read_request(messages: list[dict[str, Any]]) -> tuple[str | None, str, dict[str, Any]]:
    """(kind or None, language code, product) from the last user message's headers."""
    last = next((message_text(m.get("content")) for m in reversed(messages)
                 if isinstance(m, dict) and m.get("role") == "user"), "")
    kind = language = None
    for line in last.splitlines():
        line = line.strip()
        if line.startswith(KIND_HEADER):
            kind = line.removeprefix(KIND_HEADER).strip()
        elif line.startswith(LANGUAGE_HEADER):
            parts = line.removeprefix(LANGUAGE_HEADER).split()
            language = parts[0] if parts else None
    product: dict[str, Any] = {}
    if PRODUCT_DATA_HEADER in last:
        rest = last.split(PRODUCT_DATA_HEADER, 1)[1].lstrip()
        try:  # raw_decode: tolerate text after the object
            found, _end = json.JSONDecoder().raw_decode(rest)
        except ValueError:
            found = {}
        product = found if isinstance(found, dict) else {}
    if kind not in SHAPES:
        kind = None
    return kind, language if language in PHRASES else "en", product


# -- writing ------------------------------------------------------------------------------------

def clean(text: Any) -> str:
    """The product's own text without banned superlatives (seller titles often carry them)."""
    text = _BANNED.sub(" ", str(text or ""))
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"^[\s\-,:;]+|[\s\-,:;]+$", "", text)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary."""
    text = text.strip()
    if len(text) <= limit:
        return text
    shortened = text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return shortened or text[:limit]


class _Writer:
    def __init__(self, language: str, product: dict[str, Any], seed: str) -> None:
        self.p = PHRASES[language]
        self.rng = random.Random(seed)  # noqa: S311 (reproducible on purpose)
        self.title = clean(product.get("title")) or "Product"
        self.category = clean(product.get("category")) or "general"
        self.attributes = _pairs(product.get("attributes"))
        self.parameters = _pairs(product.get("parameters"))
        self.color = dict(self.attributes).get("Color") or dict(self.attributes).get("Colour") \
            or (self.attributes[0][1] if self.attributes else self.category)
        self.noun = self._noun()

    def _noun(self) -> str:
        # The title without its leading attribute words and its "for ..." tail.
        words = self.title
        for _key, value in self.attributes:
            words = re.sub(rf"(?i)\b{re.escape(value)}\b", " ", words)
        words = re.split(r"(?i)\b(?:for|with|-)\b", words)[0]
        return cut(re.sub(r"\s+", " ", words).strip(" ,-"), 40) or cut(self.title, 40)

    def quality(self) -> str:
        return self.rng.choice(self.p["qualities"])

    def fmt(self, key: str, **extra: str) -> str:
        values = {"title": cut(self.title, 80), "category": self.category, "noun": self.noun,
                  "color": self.color, "quality": self.quality(), **extra}
        return self.p[key].format(**values)

    # One method per kind, named after it.

    def title_(self) -> dict[str, Any]:
        extras = " ".join(value for _key, value in self.attributes
                          if value.lower() not in self.title.lower())
        tail = self.rng.choice(self.p["title_tail"])
        return {"title": cut(" ".join(part for part in (self.title, extras, tail) if part),
                             TITLE_MAX)}

    def bullet_points(self) -> dict[str, Any]:
        points = [self.fmt("bullet_intro")]
        for key, value in (self.attributes + self.parameters)[:4]:
            points.append(self.p["bullet"].format(key=key, value=value, quality=self.quality()))
        points.append(self.p["care"])
        while len(points) < 3:
            points.append(self.fmt("usage"))
        return {"bullet_points": [cut(point, 240) for point in points[:6]]}

    def search_terms(self) -> dict[str, Any]:
        terms = [self.noun.lower(), f"{self.color} {self.noun}".lower(), self.category.lower(),
                 f"{self.noun} {self.p['gift']}".lower(), f"{self.p['new']} {self.noun}".lower()]
        terms += [value.lower() for _key, value in self.attributes]
        terms += [f"{value} {self.category}".lower() for _key, value in self.parameters[:4]]
        unique = list(dict.fromkeys(cut(term, 50) for term in terms if term.strip()))
        kept: list[str] = []
        for term in unique[:20]:  # within the tighter marketplace's bytes (generation.gates)
            if len(" ".join([*kept, term]).encode()) > SEARCH_TERMS_BYTES:
                break
            kept.append(term)
        while len(kept) < min(3, len(unique)):
            kept.append(cut(unique[len(kept)], 30))
        return {"search_terms": kept}

    def image_description(self) -> dict[str, Any]:
        details = "; ".join(f"{key}: {value}" for key, value in self.attributes)
        description = self.fmt("image") + (f" {details}." if details else "")
        return {"alt_text": cut(self.fmt("alt"), 125), "description": cut(description, 500)}

    def detail_modules(self) -> dict[str, Any]:
        headings = self.p["headings"]
        features = " ".join(f"{key}: {value}." for key, value in self.attributes) \
            or self.fmt("overview")
        specs = " ".join(f"{key}: {value}." for key, value in self.parameters) or self.p["care"]
        bodies = (self.fmt("overview"), f"{features} {self.quality().capitalize()}.",
                  specs, f"{self.p['usage']} {self.p['care']}")
        return {"modules": [{"heading": cut(heading, 80), "body": cut(body, 1000)}
                            for heading, body in zip(headings, bodies, strict=True)]}

    def video_script(self) -> dict[str, Any]:
        seconds = (1.5, 1.5, 1.0)
        shots = [{"seconds": length,
                  "visual": cut(self.p["shots"][index].format(noun=self.noun), 200),
                  "caption": cut(CAPTIONS[index].format(
                      noun=self.noun, quality=self.quality(), color=self.color), 60)}
                 for index, length in enumerate(seconds)]
        return {"duration_seconds": sum(seconds), "shots": shots,
                "voiceover": cut(self.fmt("voiceover"), 200)}

    def livestream_script(self) -> dict[str, Any]:
        topics = self.p["topics"]
        attributes = ", ".join(f"{key}: {value}" for key, value in self.attributes)
        parameters = ", ".join(f"{key}: {value}" for key, value in self.parameters)
        scripts = (self.fmt("overview"),
                   f"{attributes or self.category}. {self.quality().capitalize()}.",
                   f"{parameters or self.p['care']}.",
                   f"{self.p['usage']} {self.p['care']}")
        return {"opening": cut(self.fmt("opening"), 600),
                "segments": [{"topic": cut(topic, 80), "script": cut(script, 1500)}
                             for topic, script in zip(topics, scripts, strict=True)],
                "closing": cut(self.p["closing"], 600)}


def _pairs(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    pairs = [(clean(key), clean(item)) for key, item in value.items()
             if item not in (None, "") and not isinstance(item, dict | list)]
    return [(key, item) for key, item in pairs if key and item]


def seed_for(messages: list[dict[str, Any]], model: str) -> str:
    text = json.dumps([model, messages], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write(messages: list[dict[str, Any]], seed: str, *, language: str | None = None) -> str:
    """The answer's content: JSON in the shape of the asked kind, or {"text": ...}.
    `seed` (see seed_for) makes the same request get the same answer; `language` writes it
    in another language than the one asked (the `wrong_language` behaviour)."""
    kind, asked, product = read_request(messages)
    language = language or asked
    if candidates := judge_candidates(messages):
        return json.dumps({"scores": [judge_score(text, product) for text in candidates]})
    writer = _Writer(language, product, seed)
    if kind is None:
        subject = writer.title if product else "your request"
        answer: dict[str, Any] = {"text": PHRASES[language]["generic"].format(subject=subject)}
    else:
        answer = getattr(writer, "title_" if kind == "title" else kind)()
    return json.dumps(answer, ensure_ascii=False)


def with_banned_words(content: str, seed: str) -> str:
    """The same answer with superlatives put into its first text fields."""
    inserts = random.Random(seed).sample(BANNED_INSERTS, 2)  # noqa: S311
    try:
        answer = json.loads(content)
    except ValueError:
        return f"{inserts[0]} {content}"
    done = 0

    def spoil(value: Any) -> Any:
        nonlocal done
        if isinstance(value, str) and value.strip() and done < 2:
            done += 1
            return f"{inserts[done - 1]} {value}"
        if isinstance(value, list):
            return [spoil(item) for item in value]
        if isinstance(value, dict):
            return {key: item if key in ("seconds", "duration_seconds") else spoil(item)
                    for key, item in value.items()}
        return value

    return json.dumps(spoil(answer), ensure_ascii=False)


# -- defects the quality gates catch (generation.gates) ----------------------------------------

REFUSAL = "I'm sorry, but as an AI language model I cannot fulfil this request."
PLACEHOLDER = "[brand] lorem ipsum {product_name}"
# Another language for the `wrong_language` behaviour: one that no detector confuses with it.
_OTHER_LANGUAGE = {"en": "de", "fr": "de", "de": "fr", "es": "de", "it": "de", "ru": "en",
                   "pt": "de"}
# Swapped materials and the numbers made wrong (Amazon's own AI wrote "steel" for "copper"
# and "1-9/16" for "9/16").
_SWAPS = {"copper": "steel", "steel": "copper", "stainless": "copper", "cotton": "polyester",
          "polyester": "cotton", "silicone": "leather", "leather": "silicone",
          "aluminum": "titanium", "aluminium": "titanium", "wood": "plastic",
          "plastic": "wood", "glass": "ceramic", "ceramic": "glass", "nylon": "wool"}
_NUMBER = re.compile(r"(?<![\w/.,-])(\d+(?:/\d+)?)(?![\w/])")


def another_language(messages: list[dict[str, Any]]) -> str:
    _kind, language, _product = read_request(messages)
    return _OTHER_LANGUAGE.get(language, "de")


def with_invented_facts(content: str, messages: list[dict[str, Any]]) -> str:
    """The same answer with one fact changed in its first text field: a material swapped,
    else a number turned into a mixed number (9/16 -> 1-9/16), else a claim added."""
    try:
        answer = json.loads(content)
    except ValueError:
        return content
    done = False

    def spoil(text: str) -> str:
        for word, other in _SWAPS.items():
            pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
            if pattern.search(text):
                return pattern.sub(other, text, count=1)
        if _NUMBER.search(text):
            return _NUMBER.sub(lambda match: f"1-{match.group(1)}"
                               if "/" in match.group(1) else f"{int(match.group(1)) + 7}",
                               text, count=1)
        return f"{text} 18K gold, 2.5 kg"

    def walk(value: Any) -> Any:
        nonlocal done
        if isinstance(value, str) and value.strip() and not done:
            done = True
            return spoil(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: item if key in ("seconds", "duration_seconds") else walk(item)
                    for key, item in value.items()}
        return value

    return json.dumps(walk(answer), ensure_ascii=False)


def with_first_text(content: str, text: str) -> str:
    """The answer with its first text field replaced by `text` (a refusal, a placeholder)."""
    try:
        answer = json.loads(content)
    except ValueError:
        return json.dumps({"text": text})
    done = False

    def walk(value: Any) -> Any:
        nonlocal done
        if isinstance(value, str) and value.strip() and not done:
            done = True
            return text
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return json.dumps(walk(answer), ensure_ascii=False)


# -- the judge (generation.evaluation) --------------------------------------------------------

_JUDGE_DEFECTS = re.compile(r"sorry|as an ai|cannot|lorem|\[|\{", re.IGNORECASE)


def judge_candidates(messages: list[dict[str, Any]]) -> list[str]:
    last = next((message_text(m.get("content")) for m in reversed(messages)
                 if isinstance(m, dict) and m.get("role") == "user"), "")
    if JUDGE_HEADER not in last:
        return []
    try:
        found, _end = json.JSONDecoder().raw_decode(last.split(JUDGE_HEADER, 1)[1].lstrip())
    except ValueError:
        return []
    return [str(text) for text in found] if isinstance(found, list) else []


def judge_score(text: str, product: dict[str, Any]) -> int:
    """1-5: how much of the product's own title the text keeps; 1 for a refusal or an
    unfilled placeholder. A stand-in for a real model's judgement, stable for tests."""
    if _JUDGE_DEFECTS.search(text):
        return 1
    words = {word.lower() for word in re.findall(r"\w+", str(product.get("title", "")))
             if len(word) > 2}
    if not words:
        return 3
    kept = sum(word in text.lower() for word in words) / len(words)
    return 1 + round(4 * kept)
