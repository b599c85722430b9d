"""Capabilities cannot be widened, copied or rebuilt (review 14; issue 12).

A Grant made by ``dataclasses.replace`` (another case, more categories), ``copy``, ``pickle``
or ``object.__new__`` opens nothing, and a Decision so made gets no Grant from the ledger.
A Seal (the write capability) so made seals nothing, nor does a genuine one for another case,
another category or another transaction.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.support.unsafe_seal import unsafe_seal

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import DataCategory, Effect, Obligation
from safereport.errors import AccessDenied
from safereport.policy.decision import (
    Decision,
    Grant,
    Seal,
    UnsafeGrantForTests,
    UnsafeSealForTests,
    _mint_decision,
    _mint_grant,
    _mint_seal,
    is_genuine,
)
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.vault.keystore import UnsafeMemoryKeyStore
from safereport.vault.vault import Vault

FIELDS = {CaseField.NARRATIVE: "what happened", CaseField.NATIONALITY: "Examplestan"}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'caps.db'}")
    metadata.create_all(engine)
    return engine


def test_a_widened_or_copied_grant_opens_nothing(sqlite_engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with sqlite_engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", FIELDS)
        vault.seal_fields(conn, unsafe_seal(conn, "case-b"), "case-b", FIELDS)
    narrow = UnsafeGrantForTests(frozenset({DataCategory.CRIME_DETAILS}), case_id="case-a")
    assert is_genuine(narrow)
    with sqlite_engine.connect() as conn:
        opened = vault.open_fields(conn, narrow, "case-a")
        assert CaseField.NATIONALITY in opened.withheld
        with pytest.raises(TypeError):  # the mint is init-only: replace cannot rebuild it
            dataclasses.replace(narrow, decision=dataclasses.replace(
                narrow.decision, categories=frozenset(DataCategory)))
        with pytest.raises(TypeError):
            dataclasses.replace(narrow, case_id="case-b")
        built = object.__new__(Grant)  # whatever its slots are made to say
        assert not is_genuine(built)
        with pytest.raises(AccessDenied):
            vault.open_fields(conn, built, "case-a")
    for clone in (copy.copy, copy.deepcopy, lambda g: pickle.loads(pickle.dumps(g))):
        with pytest.raises(TypeError):
            clone(narrow)


def test_a_rebuilt_decision_gets_no_grant() -> None:
    genuine = UnsafeGrantForTests(frozenset({DataCategory.IDENTITY}), case_id="c").decision
    with pytest.raises(TypeError):
        dataclasses.replace(genuine, effect=Effect.ALLOW, categories=frozenset(DataCategory))
    with pytest.raises(AccessDenied):
        _mint_grant(object(), 1, "c", frozenset())  # type: ignore[arg-type]


def test_a_decision_is_made_only_with_the_guards_token_and_holds_its_own_request() -> None:
    # Decision's __init__ is written out (a first-time request is decided in ~15 us): it keeps
    # every check the generated one made.
    fields = (Effect.ALLOW, frozenset(), ("r",), ("why",), "firewall", "0" * 64,
              frozenset({DataCategory.CONTACT}))
    for token in ((), (None,), (object(),)):
        with pytest.raises(TypeError, match="only by the guard"):
            Decision(*fields, {"action": "view"}, *token)
    with pytest.raises(ValueError, match="a deny has no obligations"):
        _mint_decision(effect=Effect.DENY, obligations=frozenset({Obligation.NOTIFY_SUBJECT}),
                       rules=(), reasons=(), regime="firewall", policy_hash="0" * 64,
                       categories=frozenset(), request={})
    asked = {"action": "view"}
    made = _mint_decision(effect=Effect.ALLOW, obligations=frozenset(), rules=("r",),
                          reasons=("why",), regime="firewall", policy_hash="0" * 64,
                          categories=frozenset({DataCategory.CONTACT}), request=asked)
    asked["action"] = "disclose"  # the caller's dict changes; the decision's does not
    assert made.request == {"action": "view"}
    with pytest.raises(TypeError):
        made.request["action"] = "disclose"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.effect = Effect.DENY  # type: ignore[misc]
    assert made == _mint_decision(
        effect=Effect.ALLOW, obligations=frozenset(), rules=("r",), reasons=("why",),
        regime="firewall", policy_hash="0" * 64, categories=frozenset({DataCategory.CONTACT}),
        request={"action": "view"})


# ---- the write capability (issue 12: "a forged or widened capability ... seals nothing") ----


def _stored_rows(engine: Engine) -> int:
    from sqlalchemy import func, select

    from safereport.store.vault import vault_case_keys, vault_fields

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(vault_fields)).scalar_one()
                   + conn.execute(select(func.count()).select_from(vault_case_keys))
                   .scalar_one())


def test_sealing_needs_a_seal_and_a_forged_one_seals_nothing(sqlite_engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with sqlite_engine.begin() as conn:
        built = object.__new__(Seal)  # no mint: whatever its slots say, it is not genuine
        assert not is_genuine(built)
        for forged in (built, None, "seal", unsafe_seal(conn, "case-a").decision):
            with pytest.raises(AccessDenied):
                vault.seal_fields(conn, forged, "case-a", FIELDS)  # type: ignore[arg-type]
            with pytest.raises(AccessDenied):
                vault.seal_blob(conn, forged, "case-a", DataCategory.CASE_NOTES,  # type: ignore[arg-type]
                                "note", b"x")
            with pytest.raises(AccessDenied):
                vault.create_case_key(conn, forged, "case-a")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Seal(unsafe_seal(conn, "case-a").decision, 1, "case-a", conn)
    assert _stored_rows(sqlite_engine) == 0


def test_a_widened_moved_or_copied_seal_seals_nothing(sqlite_engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with sqlite_engine.begin() as conn:
        narrow = UnsafeSealForTests(frozenset({DataCategory.CRIME_DETAILS}), case_id="case-a",
                                    transaction=conn)
        with pytest.raises(AccessDenied):  # nationality is not in its decision
            vault.seal_fields(conn, narrow, "case-a", FIELDS)
        with pytest.raises(AccessDenied):
            vault.seal_blob(conn, narrow, "case-a", DataCategory.CASE_NOTES, "note", b"x")
        with pytest.raises(AccessDenied):  # another case
            vault.seal_fields(conn, narrow, "case-b", {CaseField.NARRATIVE: "x"})
        with pytest.raises(TypeError):
            dataclasses.replace(narrow, case_id="case-b")
        with pytest.raises(TypeError):
            dataclasses.replace(narrow, decision=dataclasses.replace(
                narrow.decision, categories=frozenset(DataCategory)))
        for clone in (copy.copy, copy.deepcopy, lambda g: pickle.loads(pickle.dumps(g))):
            with pytest.raises(TypeError):
                clone(narrow)
    assert _stored_rows(sqlite_engine) == 0
    # a Seal belongs to the transaction it was given in
    with sqlite_engine.begin() as other, pytest.raises(AccessDenied):
        vault.seal_fields(other, narrow, "case-a", {CaseField.NARRATIVE: "x"})
    assert _stored_rows(sqlite_engine) == 0
    with sqlite_engine.begin() as conn:  # and the genuine, unwidened one does seal
        seal = UnsafeSealForTests(frozenset({DataCategory.CRIME_DETAILS}), case_id="case-a",
                                  transaction=conn)
        vault.seal_fields(conn, seal, "case-a", {CaseField.NARRATIVE: "x"})
    assert _stored_rows(sqlite_engine) == 2


def test_a_rebuilt_decision_gets_no_seal() -> None:
    with pytest.raises(AccessDenied):
        _mint_seal(object(), 1, "c", object())  # type: ignore[arg-type]


def test_destroying_a_case_needs_the_seal_of_an_erase_decision(sqlite_engine: Engine) -> None:
    """Crypto-shredding was open to any caller with a connection; it now needs the Seal of an
    allowed ``erase`` decision recorded in the same transaction, for that very case."""
    from safereport.store.vault import vault_case_keys

    vault = Vault(UnsafeMemoryKeyStore())
    with sqlite_engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", {CaseField.NAME: "Ana"})
    with sqlite_engine.begin() as conn:
        for wrong in (None, object.__new__(Seal),
                      unsafe_seal(conn, "case-a"),  # an update's Seal, not an erase's
                      unsafe_seal(conn, "case-b", "erase")):  # another case's
            with pytest.raises(AccessDenied):
                vault.shred(conn, wrong, "case-a")  # type: ignore[arg-type]
        assert not vault.is_shredded(conn, "case-a")
    with sqlite_engine.begin() as conn:
        erase = unsafe_seal(conn, "case-a", "erase")
    with sqlite_engine.begin() as other, pytest.raises(AccessDenied):  # another transaction
        vault.shred(other, erase, "case-a")
    with sqlite_engine.begin() as conn:
        vault.shred(conn, unsafe_seal(conn, "case-a", "erase"), "case-a")
        assert vault.is_shredded(conn, "case-a")
        assert conn.execute(vault_case_keys.select()).first() is not None  # the tombstone


def test_indexing_her_phone_needs_a_seal_covering_her_contact_details(
    sqlite_engine: Engine,
) -> None:
    from safereport.vault.blind import BlindKind

    vault = Vault(UnsafeMemoryKeyStore())
    with sqlite_engine.begin() as conn:
        narrow = UnsafeSealForTests(frozenset({DataCategory.CRIME_DETAILS}), case_id="case-a",
                                    transaction=conn)
        for wrong in (None, object.__new__(Seal), narrow, unsafe_seal(conn, "case-b")):
            with pytest.raises(AccessDenied):
                vault.index_value(conn, wrong, "case-a",  # type: ignore[arg-type]
                                  BlindKind.PHONE, "07700 900123")
        assert vault.find_cases(conn, BlindKind.PHONE, "07700 900123") == []
        vault.index_value(conn, unsafe_seal(conn, "case-a"), "case-a",
                          BlindKind.PHONE, "07700 900123")
        assert vault.find_cases(conn, BlindKind.PHONE, "07700 900123") == ["case-a"]
