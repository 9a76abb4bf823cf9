"""The sandbox's product pool: generated, not stored, and the same on every run.

Product `i` of a shop comes from its own `random.Random(f"{seed}:{i}")`, so a page costs only its
own items, the whole pool is never held in memory, and the same seed always gives the same
products. Some products carry deliberate flaws, at the rates of FLAW_RATES, so the platform's
data-quality checks have something to find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FEW_ATTRIBUTE_WORDS = "few_attribute_words"  # fewer than 3 attribute words in the title
INCOMPLETE_PARAMETERS = "incomplete_parameters"  # under 85% of parameters filled in
LOW_RESOLUTION_IMAGE = "low_resolution_image"  # main image under 1200 px wide
WATERMARKED_IMAGE = "watermarked_image"
TYPO = "typo"  # e.g. "iphon"
BANNED_WORD = "banned_word"  # "best", "#1"

FLAW_RATES = {
    FEW_ATTRIBUTE_WORDS: 0.12,
    INCOMPLETE_PARAMETERS: 0.15,
    LOW_RESOLUTION_IMAGE: 0.10,
    WATERMARKED_IMAGE: 0.06,
    TYPO: 0.05,
    BANNED_WORD: 0.05,
}

COLORS = ("Black", "White", "Navy Blue", "Burgundy", "Olive Green", "Heather Grey", "Blush Pink",
          "Sky Blue", "Beige", "Charcoal")


@dataclass(frozen=True)
class Category:
    name: str
    code: str
    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    styles: tuple[str, ...]
    extras: tuple[str, ...]  # the end of a good title
    parameters: dict[str, tuple[str, ...]]
    price_cents: tuple[int, int]
    weight: int


CATEGORIES = (
    Category(
        "Apparel", "APP",
        ("Maxi Dress", "T-Shirt", "Hoodie", "High Waist Leggings", "Denim Jacket", "Pajama Set",
         "Cardigan Sweater", "Cargo Pants"),
        ("Cotton", "Polyester", "Linen Blend", "Fleece", "Modal", "Viscose"),
        ("Casual", "V-Neck", "Oversized", "Slim Fit", "Long Sleeve", "Short Sleeve", "Ribbed"),
        ("for Women Summer Beach Vacation", "for Men Everyday Streetwear",
         "Unisex Loose Fit for Spring and Autumn", "with Pockets for Office and Travel"),
        {"Brand": ("Sunny Lane", "Nordic Thread", "Urban Bloom"),
         "Material Composition": ("100% Cotton", "95% Polyester 5% Spandex",
                                  "55% Linen 45% Cotton"),
         "Fit Type": ("Regular", "Slim", "Loose"),
         "Sleeve Length": ("Short", "Long", "Three-Quarter", "Sleeveless"),
         "Neckline": ("Crew Neck", "V-Neck", "Hooded", "Collared"),
         "Pattern": ("Solid", "Floral", "Striped", "Plaid"),
         "Care Instructions": ("Machine Wash Cold", "Hand Wash Only"),
         "Size Range": ("XS-XL", "S-XXL", "M-4XL"),
         "Season": ("Summer", "Winter", "All Seasons"),
         "Country of Origin": ("China", "Vietnam", "Bangladesh")},
        (799, 4999), 30),
    Category(
        "Home", "HOM",
        ("Throw Pillow Cover", "Storage Basket", "Bath Towel Set", "LED Desk Lamp",
         "Kitchen Knife Set", "Shower Curtain", "Table Runner", "Wall Clock"),
        ("Cotton", "Bamboo", "Stainless Steel", "Ceramic", "Linen", "Seagrass", "Velvet"),
        ("Boho", "Modern", "Farmhouse", "Minimalist", "Nordic", "Vintage"),
        ("for Living Room Bedroom Decor", "for Kitchen and Dining Room",
         "for Bathroom, Easy to Clean", "Home Decor Gift for Housewarming"),
        {"Brand": ("Casa Calma", "Hearth & Oak", "Nordlicht"),
         "Dimensions": ("18 x 18 in", "40 x 30 x 25 cm", "70 x 140 cm", "12 in diameter"),
         "Item Weight": ("350 g", "1.2 kg", "800 g"),
         "Room": ("Living Room", "Bedroom", "Kitchen", "Bathroom"),
         "Pieces": ("1", "2", "4", "6"),
         "Care Instructions": ("Machine Washable", "Wipe Clean", "Hand Wash"),
         "Power Source": ("Not Applicable", "USB", "AC Adapter"),
         "Assembly Required": ("No", "Yes"),
         "Shape": ("Square", "Rectangular", "Round"),
         "Country of Origin": ("China", "India", "Portugal")},
        (599, 6999), 25),
    Category(
        "Beauty", "BEA",
        ("Makeup Brush Set", "Facial Cleansing Brush", "Hair Claw Clips", "Nail Art Kit",
         "Sleep Mask", "Makeup Organizer", "Jade Face Roller", "Hair Scrunchies"),
        ("Silicone", "Synthetic Bristle", "Acrylic", "Mulberry Silk", "Jade Stone", "Satin"),
        ("Vegan", "Travel Size", "Rechargeable", "Cruelty-Free", "Professional", "Gentle"),
        ("for Women and Girls, Gift Set", "for Daily Skincare Routine",
         "for Sensitive Skin, Home and Travel", "Beauty Tools Kit for Salon and Home"),
        {"Brand": ("Glow Harbour", "Petal & Pearl", "Lumi"),
         "Skin Type": ("All Skin Types", "Sensitive", "Oily", "Dry"),
         "Item Count": ("1", "4", "12", "20"),
         "Item Weight": ("45 g", "120 g", "300 g"),
         "Scent": ("Unscented", "Rose", "Lavender"),
         "Power Source": ("Not Applicable", "USB Rechargeable", "Battery"),
         "Cruelty Free": ("Yes", "No"),
         "Age Range": ("Adult", "Teen and Adult"),
         "Shelf Life": ("24 months", "36 months", "Not Applicable"),
         "Country of Origin": ("China", "Korea", "Japan")},
        (399, 3499), 20),
    Category(
        "3C Accessories", "3CA",
        ("Phone Case", "USB-C Cable", "Wireless Charger", "Bluetooth Earbuds",
         "Screen Protector", "Power Bank", "Car Phone Mount", "Smart Watch Band"),
        ("TPU", "Tempered Glass", "Braided Nylon", "Aluminum", "Silicone", "Vegan Leather"),
        ("Shockproof", "Fast Charging", "MagSafe Compatible", "Waterproof", "Ultra Slim",
         "Wireless"),
        ("for iPhone 15 Pro Max", "for Samsung Galaxy S24 Ultra", "for iPhone 14 and iPhone 13",
         "for Google Pixel 8, 2 Pack"),
        {"Brand": ("Pixel Peak", "VoltNest", "Skyline"),
         "Compatible Models": ("iPhone 15 Pro Max", "Samsung Galaxy S24", "Universal"),
         "Connector Type": ("USB-C", "Lightning", "Wireless Qi"),
         "Cable Length": ("1 m", "2 m", "Not Applicable"),
         "Output Power": ("20 W", "15 W", "65 W", "Not Applicable"),
         "Battery Capacity": ("10000 mAh", "20000 mAh", "Not Applicable"),
         "Water Resistance": ("IP67", "IPX4", "None"),
         "Certification": ("CE, FCC", "CE, FCC, RoHS", "MFi"),
         "Warranty": ("12 months", "18 months", "24 months"),
         "Country of Origin": ("China", "Vietnam")},
        (299, 5999), 25),
)
_CATEGORY_WEIGHTS = [category.weight for category in CATEGORIES]

# Misspellings sellers really type; the first correct word found in the title is replaced.
TYPOS = {"iPhone": "iphon", "Wireless": "Wirless", "Bluetooth": "Bluetoth", "Samsung": "Samsng",
         "Waterproof": "Waterprof", "Cotton": "Coton", "Stainless": "Stainles",
         "Leggings": "Legings", "Jacket": "Jaket", "Pillow": "Pilow", "Brush": "Brsh",
         "Makeup": "Make-upp", "Kitchen": "Kichen", "Towel": "Towl", "Basket": "Baskit",
         "Charger": "Chager", "Cable": "Cabel", "Dress": "Dres", "Sweater": "Sweatr"}
BANNED_PHRASES = ("Best", "#1 Best Seller", "#1", "Best Quality")


@dataclass(frozen=True)
class Image:
    path: str  # relative to the sandbox's address, which serves its bytes (sandbox.images)
    width: int
    height: int
    has_watermark: bool = False
    has_text: bool = False


@dataclass(frozen=True)
class Product:
    shop_id: str
    index: int
    goods_id: int
    sku: str
    title: str
    category: str
    description: str
    attributes: dict[str, str]
    parameters: dict[str, str | None]
    images: tuple[Image, ...]
    bullet_points: tuple[str, ...]
    search_terms: tuple[str, ...]
    price: str  # decimal string, e.g. "12.99"
    flaws: frozenset[str] = field(default_factory=frozenset)


def shop_number(shop_id: str) -> int:
    # Distinct for every demo shop of either marketplace: goods ids never collide.
    return int(shop_id) % 100000


def goods_id_for(shop_id: str, index: int) -> int:
    return 601099000000000 + shop_number(shop_id) * 100000 + index + 1


def index_for(shop_id: str, goods_id: int) -> int | None:
    index = goods_id - goods_id_for(shop_id, 0)
    return index if 0 <= index < 100000 else None


def product(shop_id: str, seed: int, index: int) -> Product:
    """Product `index` (0-based) of a shop: always the same for the same seed and index."""
    rng = random.Random(f"{seed}:{index}")  # noqa: S311 (reproducible on purpose, not secret)
    category = rng.choices(CATEGORIES, weights=_CATEGORY_WEIGHTS)[0]
    flaws = frozenset(flaw for flaw, rate in FLAW_RATES.items() if rng.random() < rate)

    noun = rng.choice(category.nouns)
    color, material, style = rng.choice(COLORS), rng.choice(category.materials), \
        rng.choice(category.styles)
    attributes = {"Color": color, "Material": material, "Style": style}
    if FEW_ATTRIBUTE_WORDS in flaws:
        title = rng.choice((noun, f"New {noun}", f"{noun} Hot Sale", f"{color} {noun}"))
    else:
        title = f"{style} {color} {material} {noun} {rng.choice(category.extras)}"
    if TYPO in flaws:
        title = _misspell(title)
    if BANNED_WORD in flaws:
        phrase = rng.choice(BANNED_PHRASES)
        title = f"{phrase} {title}" if rng.random() < 0.5 else f"{title} - {phrase}"

    goods_id = goods_id_for(shop_id, index)
    return Product(
        shop_id=shop_id, index=index, goods_id=goods_id,
        sku=f"{category.code}-{shop_number(shop_id):05d}-{index + 1:05d}",
        title=title,
        category=category.name,
        description=(f"{style} {noun.lower()} in {color.lower()} {material.lower()}. "
                     f"{rng.choice(_DESCRIPTION_LINES)}"),
        attributes=attributes,
        parameters=_parameters(category, rng, incomplete=INCOMPLETE_PARAMETERS in flaws),
        images=_images(shop_id, goods_id, rng, flaws),
        bullet_points=tuple(rng.sample(_BULLETS, rng.randint(2, 5))),
        search_terms=(noun.lower(), f"{color} {noun}".lower(), material.lower(),
                      category.name.lower()),
        price=f"{rng.randint(*category.price_cents) / 100:.2f}",
        flaws=flaws,
    )


def page(shop_id: str, seed: int, sku_count: int, page_no: int, page_size: int) -> list[Product]:
    start = (page_no - 1) * page_size
    return [product(shop_id, seed, index)
            for index in range(max(start, 0), min(start + page_size, sku_count))]


def _misspell(title: str) -> str:
    for correct, wrong in TYPOS.items():
        if correct in title:
            return title.replace(correct, wrong, 1)
    # No known misspelling applies: drop an inner vowel of the longest word ("Hoodie" -> "Hodie").
    word = max(title.split(), key=len)
    position = next((i for i, char in enumerate(word) if i > 0 and char in "aeiou"), None)
    if position is None:
        return title + " iphon"
    return title.replace(word, word[:position] + word[position + 1:], 1)


def _parameters(category: Category, rng: random.Random, *, incomplete: bool
                ) -> dict[str, str | None]:
    names = list(category.parameters)
    # Complete enough: at most 15% missing; incomplete: at least 2 in 10 (under 85%) missing.
    allowed = int(len(names) * 0.15)
    missing_count = rng.randint(allowed + 1, len(names) // 2) if incomplete \
        else rng.randint(0, allowed)
    missing = set(rng.sample(names, missing_count))
    return {name: None if name in missing else rng.choice(category.parameters[name])
            for name in names}


def _images(shop_id: str, goods_id: int, rng: random.Random, flaws: frozenset[str]
            ) -> tuple[Image, ...]:
    if LOW_RESOLUTION_IMAGE in flaws:
        side = rng.choice((500, 640, 750, 800, 1000))
    else:
        side = rng.choice((1200, 1500, 1600, 2000))
    main = Image(f"/img/{shop_id}/{goods_id}-1.jpg", side, side,
                 has_watermark=WATERMARKED_IMAGE in flaws,
                 has_text=WATERMARKED_IMAGE in flaws and rng.random() < 0.5)
    extra = [Image(f"/img/{shop_id}/{goods_id}-{n}.png", width, height)
             for n, (width, height) in enumerate(
                 rng.sample(((1600, 1600), (1200, 1200), (1920, 600), (1200, 630), (800, 800)),
                            rng.randint(1, 3)), start=2)]
    return (main, *extra)


_DESCRIPTION_LINES = (
    "Soft to the touch and made to last through daily use.",
    "Packed in a recyclable box, ready to give as a gift.",
    "Lightweight, easy to clean and easy to store.",
    "Designed in-house and quality-checked before shipping.",
    "Fits most standard sizes; check the size chart before ordering.",
)
_BULLETS = (
    "Premium materials, carefully finished",
    "Easy to clean and maintain",
    "Lightweight and portable",
    "Gift-ready packaging",
    "30-day hassle-free returns",
    "Quality checked before shipping",
    "Suitable for daily use",
)
