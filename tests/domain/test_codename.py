"""Codenames: the word list, the randomness, the Argon2id stretch, claim codes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from safereport.domain.codename import (
    CODENAME_DIGITS,
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
    numeric_entropy_bits,
    word_list,
    word_list_languages,
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


def test_a_language_without_a_word_list_gets_28_digits_in_groups_of_four() -> None:
    assert word_list_languages() == frozenset({"en"})
    name = new_codename("ar")
    groups = name.split(" ")
    assert len(groups) == 7 and all(len(g) == 4 and g.isdigit() and g.isascii() for g in groups)
    assert looks_like_codename(name)
    assert CODENAME_DIGITS == 28 and numeric_entropy_bits() >= entropy_bits()  # 93.0 >= 90.5
    assert len({new_codename("pl") for _ in range(50)}) == 50
    assert new_codename("en").replace(" ", "").isalpha()  # English keeps its word list


def test_digits_are_read_in_any_script_and_any_spacing() -> None:
    name = new_codename("fa")
    persian = name.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    arabic_indic = name.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for typed in (persian, arabic_indic, name.replace(" ", ""), name.replace(" ", "-"),
                  " " + name.replace(" ", "  ") + "\n"):
        assert normalise_codename(typed) == name
        assert derive(typed, SALT, TEST_PARAMS) == derive(name, SALT, TEST_PARAMS)


def test_a_digit_typo_is_not_a_codename() -> None:
    digits = new_codename("ar").replace(" ", "")
    assert not looks_like_codename(digits[:27])
    assert not looks_like_codename(digits + "1")
    assert not looks_like_codename(digits[:20] + "abcd" + digits[24:])


def test_existing_word_codenames_derive_as_before() -> None:
    # A codename issued before digits existed must still open her report: same bytes in.
    name = "skyline molecular commend gooey dispense hurried sublevel"
    assert normalise_codename(name) == name
    assert derive(name, SALT, TEST_PARAMS).lookup_id == derive(
        "Skyline  Molecular commend gooey dispense hurried sublevel.", SALT,
        TEST_PARAMS).lookup_id
