"""Fast seeded identifiers (uuid4-shaped request and event ids), several per simulated event."""

from __future__ import annotations

import random


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string from ``rng``: same seed, same ids."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def hexid(rng: random.Random, n: int) -> str:
    """``n`` lowercase hex characters."""
    return f"{rng.getrandbits(4 * n):0{n}x}"
