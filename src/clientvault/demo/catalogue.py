"""The demo shop's catalogue: a fixed list of products (the same for every seed, so that runs
with different seeds share it), with popularity weights so that some products sell far more
than others, and the customer interests each category appeals to."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from clientvault.demo.draw import Weighted

CURRENCY = "EUR"


@dataclass(frozen=True)
class Category:
    """A product category: its nouns, price range and the interests it appeals to."""

    key: str
    title: str
    interests: tuple[str, ...]
    nouns: tuple[str, ...]
    price_range: tuple[int, int]  # euros


CATEGORIES: tuple[Category, ...] = (
    Category(
        "apparel",
        "Clothing",
        ("fashion",),
        (
            "Linen Shirt",
            "Wool Sweater",
            "Denim Jacket",
            "Rain Coat",
            "Chino Trousers",
            "Cotton T-Shirt",
            "Silk Scarf",
            "Knit Cardigan",
            "Summer Dress",
            "Hoodie",
        ),
        (15, 180),
    ),
    Category(
        "shoes",
        "Shoes",
        ("fashion", "sports"),
        (
            "Leather Boots",
            "Running Shoes",
            "Canvas Sneakers",
            "Sandals",
            "Loafers",
            "Hiking Boots",
            "Slippers",
        ),
        (25, 220),
    ),
    Category(
        "outdoor",
        "Outdoor",
        ("outdoor", "travel"),
        (
            "Tent",
            "Sleeping Bag",
            "Backpack",
            "Headlamp",
            "Trekking Poles",
            "Water Filter",
            "Camping Stove",
            "Rain Poncho",
        ),
        (12, 350),
    ),
    Category(
        "kitchen",
        "Kitchen",
        ("cooking",),
        (
            "Chef Knife",
            "Cast Iron Pan",
            "Coffee Grinder",
            "Teapot",
            "Cutting Board",
            "Stand Mixer",
            "Espresso Cups",
            "Dutch Oven",
        ),
        (9, 400),
    ),
    Category(
        "electronics",
        "Electronics",
        ("technology", "gaming"),
        (
            "Wireless Earbuds",
            "Smart Speaker",
            "E-Reader",
            "Power Bank",
            "Action Camera",
            "Mechanical Keyboard",
            "Smart Watch",
            "USB-C Hub",
        ),
        (19, 450),
    ),
    Category(
        "books",
        "Books",
        ("books",),
        (
            "Travel Guide",
            "Cookbook",
            "Crime Novel",
            "Graphic Novel",
            "Poetry Collection",
            "History Essay",
            "Children's Book",
        ),
        (8, 45),
    ),
    Category(
        "beauty",
        "Beauty",
        ("beauty", "wellness"),
        ("Face Cream", "Shampoo Bar", "Lip Balm", "Perfume", "Body Oil", "Sun Cream", "Hand Soap"),
        (6, 120),
    ),
    Category(
        "sports",
        "Sports",
        ("sports", "wellness"),
        (
            "Yoga Mat",
            "Dumbbells",
            "Resistance Bands",
            "Bike Helmet",
            "Swim Goggles",
            "Sports Bottle",
            "Tennis Racket",
        ),
        (9, 200),
    ),
    Category(
        "home",
        "Home",
        ("home_decor",),
        (
            "Cushion Cover",
            "Table Lamp",
            "Wool Throw",
            "Scented Candle",
            "Wall Clock",
            "Ceramic Vase",
            "Linen Bedding",
        ),
        (12, 260),
    ),
    Category(
        "garden",
        "Garden",
        ("gardening", "outdoor"),
        ("Pruning Shears", "Seed Kit", "Watering Can", "Planter", "Garden Gloves", "Compost Bin"),
        (7, 150),
    ),
    Category(
        "toys",
        "Toys & Games",
        ("kids", "gaming"),
        ("Building Blocks", "Board Game", "Puzzle", "Plush Bear", "Wooden Train", "Card Game"),
        (8, 90),
    ),
    Category(
        "travel",
        "Travel",
        ("travel",),
        ("Cabin Suitcase", "Travel Pillow", "Packing Cubes", "Passport Holder", "Toiletry Bag"),
        (10, 240),
    ),
)

_ADJECTIVES = (
    "Classic",
    "Essential",
    "Organic",
    "Recycled",
    "Premium",
    "Everyday",
    "Nordic",
    "Urban",
    "Alpine",
    "Coastal",
)


@dataclass(frozen=True)
class Product:
    """A catalogue item as the events and the ``products`` table show it."""

    sku: str
    name: str
    category: str
    price: Decimal

    @property
    def path(self) -> str:
        """Its page on the demo shop."""
        return f"/products/{self.sku.lower()}"


@dataclass(frozen=True)
class Catalogue:
    """The products, grouped by category, with cumulative popularity weights for drawing."""

    products: tuple[Product, ...]
    by_category: dict[str, Weighted[Product]]
    popular: Weighted[Product]
    #: interest → categories that appeal to it
    categories_for_interest: dict[str, tuple[str, ...]]

    def draw(self, rng: random.Random, category: str | None = None) -> Product:
        """A product, popular ones more often; from one category if given."""
        if category is None:
            return self.popular.pick(rng)
        return self.by_category[category].pick(rng)


def build_catalogue() -> Catalogue:
    """The fixed demo catalogue (about 90 products in 12 categories)."""
    rng = random.Random("clientvault-demo-catalogue-v1")
    products: list[Product] = []
    weights: list[float] = []
    by_category: dict[str, Weighted[Product]] = {}
    for category in CATEGORIES:
        items: list[Product] = []
        for number, noun in enumerate(category.nouns, start=1):
            low, high = category.price_range
            euros = rng.uniform(low, high)
            price = Decimal(int(euros)) + Decimal(rng.choice(("0.00", "0.50", "0.90", "0.99")))
            items.append(
                Product(
                    sku=f"CV-{category.key[:3].upper()}-{number:03d}",
                    name=f"{rng.choice(_ADJECTIVES)} {noun}",
                    category=category.key,
                    price=price,
                )
            )
        popularity = [1.0 / (rank**0.9) for rank in range(1, len(items) + 1)]
        rng.shuffle(popularity)
        by_category[category.key] = Weighted(items, popularity)
        products.extend(items)
        weights.extend(popularity)
    interests: dict[str, list[str]] = {}
    for category in CATEGORIES:
        for interest in category.interests:
            interests.setdefault(interest, []).append(category.key)
    return Catalogue(
        products=tuple(products),
        by_category=by_category,
        popular=Weighted(products, weights),
        categories_for_interest={k: tuple(v) for k, v in interests.items()},
    )
