"""Capabilities cannot be widened, copied or rebuilt (review 14; issue 12).

A Grant made by ``dataclasses.replace`` (another case, more categories), ``copy``, ``pickle``
or ``object.__new__`` opens nothing, and a Decision so made gets no Grant from the ledger.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest
from sqlalchemy import Engine

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import DataCategory, Effect
from safereport.errors import AccessDenied
from safereport.policy.decision import Grant, UnsafeGrantForTests, _mint_grant, is_genuine
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
        vault.seal_fields(conn, "case-a", FIELDS)
        vault.seal_fields(conn, "case-b", FIELDS)
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
