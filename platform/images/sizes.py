"""The main-image sizes each marketplace asks for, with their file limits (docs/images.md
cites the sources).

- AliExpress (Smart Visual Content): 800x800, 1200x630 and 1920x600; JPEG or PNG, at most 5 MB.
- Temu: square 1:1 main images, 1600x1600 recommended (800x800 at least), JPEG or PNG, at
  most 2 MB; apparel at 3:4, 1340x1785.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    width: int
    height: int
    max_bytes: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}"


MB = 1024 * 1024
ALIEXPRESS = (Size(800, 800, 5 * MB), Size(1200, 630, 5 * MB), Size(1920, 600, 5 * MB))
TEMU = (Size(1600, 1600, 2 * MB),)
TEMU_APPAREL = (Size(1600, 1600, 2 * MB), Size(1340, 1785, 2 * MB))
APPAREL_CATEGORIES = ("apparel", "clothing", "fashion", "dress")


def sizes_for(marketplace: str, category: str = "") -> tuple[Size, ...]:
    if marketplace == "aliexpress":
        return ALIEXPRESS
    if marketplace == "temu":
        folded = category.casefold()
        return TEMU_APPAREL if any(word in folded for word in APPAREL_CATEGORIES) else TEMU
    return ()
