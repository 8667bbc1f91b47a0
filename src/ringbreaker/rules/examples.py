"""Expand example templates into concrete fake credentials.

Rule examples never hold a literal key: ``{{urlsafe:74}}`` becomes 74 random characters when the
examples run. So the repository carries no key-shaped strings (other scanners and push protection
stay quiet), every run tests fresh values, and tests use only keys generated at test time.
"""

from __future__ import annotations

import random
import re
import string
import uuid

CLASSES: dict[str, str] = {
    "alnum": string.ascii_letters + string.digits,
    "word": string.ascii_letters + string.digits + "_",
    "urlsafe": string.ascii_letters + string.digits + "_-",
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "lower": string.ascii_lowercase + string.digits,
    "upper": string.ascii_uppercase + string.digits,
    "letters": string.ascii_letters,
    "digits": string.digits,
    "b32": string.ascii_uppercase + "234567",
    "b32l": string.ascii_lowercase + "234567",
    "b64": string.ascii_letters + string.digits + "+/",
}

_TOKEN = re.compile(r"\{\{(?:(?P<cls>[A-Za-z0-9]+):(?P<n>\d+)|(?P<uuid>uuid))\}\}")


def expand(template: str, rng: random.Random) -> str:
    """Replace every ``{{class:N}}`` / ``{{uuid}}`` token with random characters from ``rng``."""

    def repl(m: re.Match[str]) -> str:
        if m.group("uuid"):
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        cls = m.group("cls")
        if cls not in CLASSES:
            raise ValueError(f"unknown character class {cls!r} in example template")
        return "".join(rng.choice(CLASSES[cls]) for _ in range(int(m.group("n"))))

    return _TOKEN.sub(repl, template)


def seeded(rule_id: str, index: int, salt: int = 0) -> random.Random:
    """A deterministic generator per (rule, example) so a failure reproduces."""
    return random.Random(f"{rule_id}#{index}#{salt}")
