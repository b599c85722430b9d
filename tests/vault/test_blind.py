"""Keyed blind indexes: normalised exact-match lookup of references, phones and emails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from tests.support.unsafe_seal import unsafe_seal

from safereport.domain.fields import CaseField
from safereport.errors import InvalidInput
from safereport.store.vault import vault_blind_index
from safereport.vault import BlindKind, UnsafeMemoryKeyStore, Vault, normalise
from safereport.vault.blind import blind_digest


@pytest.mark.parametrize(
    "written",
    ["07700 900123", "+44 7700 900123", "+44 (0)7700 900123", "0044 7700-900-123",
     "(07700) 900123", " +447700900123 "],
)
def test_uk_phone_numbers_normalise_to_one_form(written: str) -> None:
    assert normalise(BlindKind.PHONE, written) == "447700900123"


def test_emails_and_references_normalise() -> None:
    assert normalise(BlindKind.EMAIL, "  Ana.Silva@Example.ORG ") == "ana.silva@example.org"
    assert normalise(BlindKind.REFERENCE, " sr-2026 0042 ") == "SR20260042"
    assert normalise(BlindKind.PHONE, "+33 6 12 34 56 78") == "33612345678"


@pytest.mark.parametrize(
    ("kind", "value"),
    [(BlindKind.PHONE, "call me"), (BlindKind.PHONE, "12"), (BlindKind.EMAIL, "nobody"),
     (BlindKind.EMAIL, "a b@c.d"), (BlindKind.REFERENCE, " - "), (BlindKind.EMAIL, "x" * 400)],
)
def test_values_that_are_not_of_their_kind_are_refused(kind: BlindKind, value: str) -> None:
    with pytest.raises(InvalidInput):
        normalise(kind, value)


@given(st.text(min_size=1, max_size=40))
def test_the_index_is_keyed_and_normalised(value: str) -> None:
    one, two = b"1" * 32, b"2" * 32
    try:
        digest = blind_digest(one, BlindKind.REFERENCE, value)
    except InvalidInput:
        return
    assert len(digest) == 64
    assert digest != blind_digest(two, BlindKind.REFERENCE, value)
    assert digest == blind_digest(one, BlindKind.REFERENCE, f"- {value} -")


def test_lookup_by_phone_email_and_reference(engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                          "case-a", {CaseField.PHONE: "07700 900123",
                                           CaseField.EMAIL: "Ana@Example.org"})
        vault.seal_fields(conn, unsafe_seal(conn, "case-b"),
                          "case-b", {CaseField.PHONE: "+44 7700 900123"})
        vault.seal_fields(conn, unsafe_seal(conn, "case-c"),
                          "case-c", {CaseField.PHONE: "not a number"})
        vault.index_value(conn, unsafe_seal(conn, "case-c"), "case-c",
                          BlindKind.REFERENCE, "SR-1")
    with engine.connect() as conn:
        assert vault.find_cases(conn, BlindKind.PHONE, "+447700900123") == ["case-a", "case-b"]
        assert vault.find_cases(conn, BlindKind.EMAIL, " ana@example.ORG") == ["case-a"]
        assert vault.find_cases(conn, BlindKind.REFERENCE, "sr1") == ["case-c"]
        assert vault.find_cases(conn, BlindKind.EMAIL, "bob@example.org") == []
        digests = [row.digest for row in conn.execute(select(vault_blind_index))]
    assert all(len(d) == 64 and "7700" not in d for d in digests)


def test_a_changed_phone_replaces_its_index(engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                          "case-a", {CaseField.PHONE: "07700 900123"})
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                          "case-a", {CaseField.PHONE: "07700 900999"})
        assert vault.find_cases(conn, BlindKind.PHONE, "07700900123") == []
        assert vault.find_cases(conn, BlindKind.PHONE, "07700900999") == ["case-a"]


def test_another_index_key_finds_nothing(engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    stranger = Vault(UnsafeMemoryKeyStore())
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                          "case-a", {CaseField.EMAIL: "ana@example.org"})
        assert stranger.find_cases(conn, BlindKind.EMAIL, "ana@example.org") == []
