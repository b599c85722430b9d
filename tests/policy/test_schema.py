"""The Cedar schema is the vocabulary of POLICY.md, and a decision names its policy set."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from tests.support.policy_helpers import REGIMES, req

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.policy.guard import Guard
from safereport.policy.regimes import schema_text

ENTITY_ENUMS: dict[str, type[StrEnum]] = {
    "Role": ActorRole,
    "Category": DataCategory,
    "Holder": HolderKind,
    "Purpose": Purpose,
    "Recipient": Recipient,
    "SubjectRole": SubjectRole,
    "CrimeType": CrimeType,
    "StatusEvidence": StatusEvidence,
}


@pytest.mark.parametrize(("entity", "enum"), ENTITY_ENUMS.items())
def test_schema_enums_are_the_vocabulary(entity: str, enum: type[StrEnum]) -> None:
    match = re.search(rf"entity {entity} enum \[([^\]]*)\]", schema_text())
    assert match is not None
    values = re.findall(r'"([^"]+)"', match.group(1))
    assert values == sorted(member.value for member in enum)


def test_schema_actions_are_the_vocabulary() -> None:
    match = re.search(r"action ([^\n]*)\n\s*appliesTo", schema_text())
    assert match is not None
    assert re.findall(r'"([^"]+)"', match.group(1)) == sorted(a.value for a in Action)


def test_each_regime_has_its_own_hash_and_decisions_carry_it() -> None:
    guards = [Guard.load(regime) for regime in REGIMES]
    assert len({g.policy_hash for g in guards}) == len(REGIMES)
    for guard in guards:
        decision = guard.decide(req())
        assert decision.policy_hash == guard.policy_hash
        assert decision.regime == guard.regime
        assert len(guard.policy_hash) == 64
    assert Guard.load("firewall").policy_hash == guards[0].policy_hash  # stable
