"""Beads-style hash ids: format, hashing, adaptive length, collision retries."""

from __future__ import annotations

import hashlib
import re

import pytest

from reconciler.clients.beads import ids


def test_base36_pads_and_keeps_the_last_digits() -> None:
    assert ids.base36(b"\x00\x00", 3) == "000"
    assert ids.base36(bytes([1, 0]), 3) == "074"  # 256 = 7*36 + 4
    assert ids.base36(b"\xff\xff\xff", 3) == ids.base36(b"\xff\xff\xff", 5)[-3:]
    assert len(ids.base36(b"\xff" * 5, 8)) == 8


@pytest.mark.parametrize(("length", "nbytes"), [(3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (8, 5)])
def test_hash_suffix_is_the_base36_of_the_first_bytes(length: int, nbytes: int) -> None:
    suffix = ids.hash_suffix("Fix it", "details", "mayor", 1_700_000_000_123_456_789, 3, length)
    digest = hashlib.sha256(b"Fix it|details|mayor|1700000000123456789|3").digest()
    expected = int.from_bytes(digest[:nbytes], "big") % 36**length
    assert re.fullmatch(r"[0-9a-z]+", suffix) and len(suffix) == length
    assert int(suffix, 36) == expected


def test_hash_suffix_rejects_lengths_outside_3_to_8() -> None:
    with pytest.raises(ValueError):
        ids.hash_suffix("t", "", "c", 1, 0, 2)
    with pytest.raises(ValueError):
        ids.hash_suffix("t", "", "c", 1, 0, 9)


def test_collision_probability_grows_with_count_and_shrinks_with_length() -> None:
    assert ids.collision_probability(0, 3) == 0.0
    assert ids.collision_probability(1, 3) == 0.0
    assert ids.collision_probability(100, 3) < ids.collision_probability(200, 3)
    assert ids.collision_probability(200, 4) < ids.collision_probability(200, 3)


def test_length_adapts_to_the_number_of_existing_ids() -> None:
    # 164 ids in 36**3 stay under 25%; the 165th does not.
    assert ids.length_for(0) == 3
    assert ids.length_for(163) == 3
    assert ids.length_for(164) == 4
    assert ids.length_for(5000) == 5
    assert ids.length_for(10**5) == 7
    assert ids.length_for(10**12) == 8  # never longer than 8
    lengths = [ids.length_for(n) for n in range(0, 200_000, 997)]
    assert lengths == sorted(lengths)


def test_top_level_ids_exclude_children_and_other_prefixes() -> None:
    assert ids.is_top_level("gt-abc", "gt")
    assert not ids.is_top_level("gt-abc.1", "gt")
    assert not ids.is_top_level("gt-wisp-abc", "gt")
    assert not ids.is_top_level("hq-abc", "gt")
    assert not ids.is_top_level("gt-", "gt")
    assert ids.is_top_level("hq-cv-x1", "hq-cv")
    assert ids.count_top_level(["gt-a", "gt-b.1", "gt-c", "bd-d"], "gt") == 2


def test_generate_id_is_deterministic_and_well_formed() -> None:
    first = ids.generate_id("gt", "T", "D", "mayor", unix_nano=42, existing=set())
    again = ids.generate_id("gt", "T", "D", "mayor", unix_nano=42, existing=set())
    other = ids.generate_id("gt", "T", "D", "mayor", unix_nano=43, existing=set())
    assert first == again != other
    assert re.fullmatch(r"gt-[0-9a-z]{3}", first)
    assert first == "gt-" + ids.hash_suffix("T", "D", "mayor", 42, 0, 3)


def test_generate_id_retries_nonces_on_collision() -> None:
    taken = {"gt-" + ids.hash_suffix("T", "", "c", 7, nonce, 3) for nonce in range(3)}
    got = ids.generate_id("gt", "T", "", "c", unix_nano=7, existing=taken)
    assert got == "gt-" + ids.hash_suffix("T", "", "c", 7, 3, 3)


def test_generate_id_moves_to_the_next_length_after_ten_nonces() -> None:
    taken = {"gt-" + ids.hash_suffix("T", "", "c", 7, nonce, 3) for nonce in range(10)}
    got = ids.generate_id("gt", "T", "", "c", unix_nano=7, existing=taken)
    assert got == "gt-" + ids.hash_suffix("T", "", "c", 7, 0, 4)


def test_generate_id_gives_up_when_every_candidate_is_taken() -> None:
    taken = {
        "gt-" + ids.hash_suffix("T", "", "c", 7, nonce, length)
        for length in range(3, 9)
        for nonce in range(10)
    }
    with pytest.raises(ids.IdSpaceExhausted):
        ids.generate_id("gt", "T", "", "c", unix_nano=7, existing=taken)


def test_generate_id_uses_longer_ids_in_a_crowded_prefix() -> None:
    existing = {f"gt-{n:03d}" for n in range(200)} | {f"gt-x{n}.1" for n in range(500)}
    got = ids.generate_id("gt", "T", "", "c", unix_nano=1, existing=existing)
    assert re.fullmatch(r"gt-[0-9a-z]{4}", got)
    # Children and other prefixes do not count toward the length.
    small = {f"gt-x{n}.1" for n in range(500)} | {f"bd-{n:04d}" for n in range(500)}
    assert len(ids.generate_id("gt", "T", "", "c", unix_nano=1, existing=small)) == len("gt-abc")


def test_new_id_reads_the_clock_unless_given_a_time() -> None:
    assert ids.new_id("gt", "T", "", "c", set(), unix_nano=5) == ids.generate_id(
        "gt", "T", "", "c", unix_nano=5, existing=set()
    )
    made = {ids.new_id("gt", "same title", "", "c", set()) for _ in range(20)}
    assert all(re.fullmatch(r"gt-[0-9a-z]{3}", x) for x in made)
    assert len(made) > 1
