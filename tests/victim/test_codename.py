"""Codenames: the word list, the randomness, the Argon2id stretch, claim codes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from safereport.domain.codename import (
    CODENAME_WORDS,
    TEST_PARAMS,
    Argon2Params,
    derive,
    entropy_bits,
    hash_claim_code,
    looks_like_codename,
    new_claim_code,
    new_codename,
    normalise_codename,
    word_list,
)

SALT = b"s" * 16


def test_the_word_list_is_large_and_unique() -> None:
    words = word_list()
    assert len(words) >= 7776
    assert len(set(words)) == len(words)
    assert all(w == w.strip().lower() and " " not in w for w in words)


def test_entropy_is_seven_words_of_the_list() -> None:
    assert CODENAME_WORDS == 7
    assert math.isclose(entropy_bits(), 7 * math.log2(7776))
    assert entropy_bits() > 90


def test_new_codenames_are_seven_listed_words_and_differ() -> None:
    names = {new_codename() for _ in range(50)}
    assert len(names) == 50
    assert all(looks_like_codename(name) for name in names)


def test_derivation_is_deterministic_and_salted() -> None:
    name = new_codename()
    first = derive(name, SALT, TEST_PARAMS)
    assert derive(name, SALT, TEST_PARAMS) == first
    assert derive(name, b"t" * 16, TEST_PARAMS).lookup_id != first.lookup_id
    assert len(first.lookup_id) == 64 and len(first.key) == 32
    assert first.key.hex() not in first.lookup_id
    assert first.lookup_id not in repr(first) and first.key.hex() not in repr(first)


def test_parameters_change_the_result() -> None:
    name = new_codename()
    cheap = derive(name, SALT, TEST_PARAMS)
    other = derive(name, SALT, Argon2Params(memory_kib=128, time_cost=1))
    assert cheap.lookup_id != other.lookup_id


def test_spacing_and_case_do_not_matter() -> None:
    name = new_codename()
    messy = "  " + name.upper().replace(" ", " ,\n ") + "."
    assert normalise_codename(messy) == name
    assert derive(messy, SALT, TEST_PARAMS) == derive(name, SALT, TEST_PARAMS)


def test_a_typo_is_not_a_codename() -> None:
    words = new_codename().split()
    assert not looks_like_codename(" ".join(words[:6]))
    assert not looks_like_codename(" ".join([*words[:6], "zzzzqx"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(word_list()[:500]), min_size=7, max_size=7))
def test_different_codenames_give_different_lookup_ids(words: list[str]) -> None:
    name = " ".join(words)
    other = " ".join([*words[:6], "zebra" if words[6] != "zebra" else "zoom"])
    assert derive(name, SALT, TEST_PARAMS).lookup_id != derive(other, SALT, TEST_PARAMS).lookup_id


def test_claim_codes_are_random_and_hash_after_normalising() -> None:
    code = new_claim_code()
    assert len(code) == 19 and code.count("-") == 3
    assert hash_claim_code(code.lower().replace("-", " ")) == hash_claim_code(code)
    assert hash_claim_code(new_claim_code()) != hash_claim_code(code)
