"""Beads-style hash ids: ``<prefix>-<base36>``.

The suffix is the base36 form of the first bytes of
``sha256("title|description|creator|unixnano|nonce")``. Its length grows with
the number of top-level ids under the prefix so that a fresh id collides with
probability at most 25%; a collision is retried with nonces 0-9 and then with
the next length. Everything here is a pure function of its arguments except
``new_id``, which reads the clock.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Collection, Iterable
from typing import Final

from reconciler.errors import StoreError

MIN_LENGTH: Final = 3
MAX_LENGTH: Final = 8
MAX_COLLISION_PROBABILITY: Final = 0.25
NONCES: Final = range(10)
ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"

# How many hash bytes feed a suffix of each length (enough entropy for it).
_BYTES_FOR_LENGTH: Final = {3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 5}


class IdSpaceExhausted(StoreError):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        super().__init__(f"could not find a free id under prefix {prefix}- (all tries collided)")


def base36(data: bytes, length: int) -> str:
    """Big-endian ``data`` in base36, zero-padded, keeping the last ``length`` digits."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(ALPHABET[rem])
    text = "".join(reversed(digits)).rjust(length, "0")
    return text[-length:]


def hash_suffix(
    title: str, description: str, creator: str, unix_nano: int, nonce: int, length: int
) -> str:
    """The base36 suffix of one candidate id."""
    if length not in _BYTES_FOR_LENGTH:
        raise ValueError(f"id length must be {MIN_LENGTH}..{MAX_LENGTH}, not {length}")
    content = f"{title}|{description}|{creator}|{unix_nano}|{nonce}"
    digest = hashlib.sha256(content.encode("utf-8")).digest()
    return base36(digest[: _BYTES_FOR_LENGTH[length]], length)


def collision_probability(count: int, length: int) -> float:
    """Birthday bound: chance that ``count`` random ids in 36**length collide."""
    if count < 2:
        return 0.0
    space = 36.0**length
    return 1.0 - math.exp(-count * (count - 1) / (2.0 * space))


def length_for(existing_count: int) -> int:
    """The shortest length keeping ``existing_count + 1`` ids under the threshold."""
    for length in range(MIN_LENGTH, MAX_LENGTH + 1):
        if collision_probability(existing_count + 1, length) <= MAX_COLLISION_PROBABILITY:
            return length
    return MAX_LENGTH


def is_top_level(issue_id: str, prefix: str) -> bool:
    """``prefix-abc`` is top level; ``prefix-abc.1`` (a child) and ``prefix-wisp-x`` are not."""
    head = f"{prefix}-"
    if not issue_id.startswith(head):
        return False
    rest = issue_id[len(head) :]
    return rest != "" and "." not in rest and "-" not in rest


def count_top_level(ids: Iterable[str], prefix: str) -> int:
    return sum(1 for issue_id in ids if is_top_level(issue_id, prefix))


def generate_id(
    prefix: str,
    title: str,
    description: str,
    creator: str,
    *,
    unix_nano: int,
    existing: Collection[str],
) -> str:
    """A fresh id not in ``existing``, deterministic in its arguments."""
    start = length_for(count_top_level(existing, prefix))
    for length in range(start, MAX_LENGTH + 1):
        for nonce in NONCES:
            candidate = (
                f"{prefix}-{hash_suffix(title, description, creator, unix_nano, nonce, length)}"
            )
            if candidate not in existing:
                return candidate
    raise IdSpaceExhausted(prefix)


def new_id(
    prefix: str,
    title: str,
    description: str,
    creator: str,
    existing: Collection[str],
    *,
    unix_nano: int | None = None,
) -> str:
    """``generate_id`` at the current time (or the one given)."""
    stamp = time.time_ns() if unix_nano is None else unix_nano
    return generate_id(prefix, title, description, creator, unix_nano=stamp, existing=existing)
