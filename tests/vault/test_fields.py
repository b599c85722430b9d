"""Sealing and opening fields and blobs; invariant I1 (a Grant for this case and category)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from tests.support.unsafe_seal import unsafe_seal
from tests.vault.conftest import ALL_CATEGORIES, grant_for, sample_fields

from safereport.domain.fields import MAX_FIELD_CHARS, CaseField, category_of
from safereport.domain.vocabulary import SENSITIVE_CATEGORIES, DataCategory, Obligation
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.store.vault import vault_fields
from safereport.vault import Vault, WithheldReason


def test_fields_round_trip_on_both_databases(engine: Engine, vault: Vault) -> None:
    values = sample_fields("RT")
    with engine.begin() as conn:
        vault.create_case_key(conn, unsafe_seal(conn, "case-a"), "case-a")
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", values)
    with engine.connect() as conn:
        opened = vault.open_fields(conn, grant_for("case-a"), "case-a")
    assert opened.values == values
    assert opened.withheld == {}


def test_named_fields_open_only_those_and_in_one_plain_statement(
    engine: Engine, vault: Vault
) -> None:
    """A page asks for some fields of a case: only those open (the rest are not even listed
    as withheld), and the read is one statement without an IN list (SQLAlchemy renders an
    expanding IN afresh at every execution: the case page's costliest read, issue 13)."""
    values = sample_fields("NF")
    with engine.begin() as conn:
        vault.create_case_key(conn, unsafe_seal(conn, "case-n"), "case-n")
        vault.seal_fields(conn, unsafe_seal(conn, "case-n"), "case-n", values)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as conn:
            opened = vault.open_fields(conn, grant_for("case-n"), "case-n",
                                       [CaseField.NAME, CaseField.PHONE])
            nothing = vault.open_fields(conn, grant_for("case-n"), "case-n", [])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert opened.values == {CaseField.NAME: values[CaseField.NAME],
                             CaseField.PHONE: values[CaseField.PHONE]}
    assert opened.withheld == {}
    assert nothing.values == {} and nothing.withheld == {}
    reads = [statement for statement in statements if "vault_fields" in statement]
    assert reads and all(" IN " not in statement.upper() for statement in reads)


def test_stored_rows_are_ciphertext_with_their_category(engine: Engine, vault: Vault) -> None:
    values = sample_fields("CT")
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", values)
    with engine.connect() as conn:
        stored = conn.execute(select(vault_fields)).mappings().all()
    assert {row["field"] for row in stored} == {f.value for f in CaseField}
    for row in stored:
        assert row["category"] == category_of(row["field"]).value
        assert values[CaseField(row["field"])].encode() not in bytes(row["ciphertext"])


def test_replacing_a_field_keeps_the_others(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "c1"),
                          "c1", {CaseField.NAME: "Ana", CaseField.NARRATIVE: "first"})
        vault.seal_fields(conn, unsafe_seal(conn, "c1"), "c1", {CaseField.NARRATIVE: "second"})
        opened = vault.open_fields(conn, grant_for("c1"), "c1")
    assert opened.values == {CaseField.NAME: "Ana", CaseField.NARRATIVE: "second"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(list(CaseField)), st.text(max_size=300), min_size=1, max_size=5
    )
)
def test_any_text_round_trips(vault: Vault, values: dict[CaseField, str]) -> None:
    # The recipe layer alone (no database) so that hypothesis can try many values quickly.
    from safereport.vault.envelope import DataKey, new_data_key

    key = DataKey(new_data_key(), b"case-h", 1)
    for name, value in values.items():
        token = key.seal_field(name.value, value)
        assert key.open_field(name.value, token) == value


def test_a_grant_for_another_case_is_refused(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("A"))
        with pytest.raises(AccessDenied):
            vault.open_fields(conn, grant_for("case-b"), "case-a")
        with pytest.raises(AccessDenied):
            vault.open_fields(conn, grant_for(None), "case-a")  # type: ignore[arg-type]


def test_only_a_real_grant_opens(engine: Engine, vault: Vault) -> None:
    class FakeGrant:
        case_id = "case-a"
        categories = ALL_CATEGORIES

    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("A"))
        with pytest.raises(AccessDenied):
            vault.open_fields(conn, FakeGrant(), "case-a")  # type: ignore[arg-type]


def test_only_granted_categories_are_decrypted(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("A"))
        opened = vault.open_fields(
            conn, grant_for("case-a", {DataCategory.CRIME_DETAILS}), "case-a"
        )
    assert set(opened.values) == {CaseField.NARRATIVE, CaseField.LOCATION, CaseField.OCCURRED}
    assert set(opened.withheld) == set(CaseField) - set(opened.values)
    assert set(opened.withheld.values()) == {WithheldReason.NOT_IN_DECISION}


def test_redact_immigration_is_honoured(engine: Engine, vault: Vault) -> None:
    grant = grant_for(
        "case-a", ALL_CATEGORIES, obligations=frozenset({Obligation.REDACT_IMMIGRATION})
    )
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("A"))
        opened = vault.open_fields(conn, grant, "case-a")
    sensitive = {f for f in CaseField if category_of(f) in SENSITIVE_CATEGORIES}
    assert sensitive == {CaseField.IMMIGRATION_STATUS, CaseField.NATIONALITY,
                         CaseField.IMMIGRATION_ABUSE}
    assert opened.withheld == {f: WithheldReason.REDACT_IMMIGRATION for f in sensitive}
    assert set(opened.values) == set(CaseField) - sensitive


def test_names_limit_what_is_opened(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("A"))
        opened = vault.open_fields(conn, grant_for("case-a"), "case-a", [CaseField.NAME])
    assert list(opened.values) == [CaseField.NAME]


def test_blobs_round_trip_and_are_bound(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        sealed = vault.seal_blob(conn, unsafe_seal(conn, "case-a"),
                                 "case-a", DataCategory.CASE_NOTES, "note", b"hello")
        vault.create_case_key(conn, unsafe_seal(conn, "case-b"), "case-b")
        grant = grant_for("case-a")
        assert vault.open_blob(conn, grant, "case-a", DataCategory.CASE_NOTES, "note", sealed) == (
            b"hello"
        )
        with pytest.raises(VaultError):
            vault.open_blob(conn, grant, "case-a", DataCategory.CASE_NOTES, "message", sealed)
        with pytest.raises(VaultError):
            vault.open_blob(conn, grant, "case-a", DataCategory.HEALTH, "note", sealed)
        with pytest.raises(VaultError):
            vault.open_blob(
                conn, grant_for("case-b"), "case-b", DataCategory.CASE_NOTES, "note", sealed
            )
        narrow = grant_for("case-a", {DataCategory.CONTACT})
        with pytest.raises(AccessDenied):
            vault.open_blob(conn, narrow, "case-a", DataCategory.CASE_NOTES, "note", sealed)


def test_bad_input_is_refused_before_anything_is_written(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput):
            vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                              "case-a", {"favourite_colour": "x"})  # type: ignore[dict-item]
        with pytest.raises(InvalidInput):
            vault.seal_fields(conn, unsafe_seal(conn, "case-a"),
                              "case-a", {CaseField.NAME: "x" * (MAX_FIELD_CHARS + 1)})
        assert conn.execute(select(vault_fields)).first() is None
