"""The sequencer's record writer (issue 13) writes exactly what the slow, obvious one would.

``records_from_decisions`` writes each leaf from its decision's parts, worked out once and kept
by the decision's identity, around the values of the call, with the salts from one read of the
random source. Every leaf must be the canonical encoder's bytes of its own record, every record
what ``record_from_decision`` makes, and parts kept for one decision must never be taken for
another (an id the interpreter gives again to a later object).
"""

from __future__ import annotations

import gc
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.ledger_helpers import make_decision

from safereport.domain.vocabulary import DataCategory, Effect, Obligation
from safereport.errors import LedgerError
from safereport.ledger import record as record_module
from safereport.ledger.record import (
    bound_fields,
    canonical_bytes,
    leaf_bound_fields,
    parse_leaf,
    record_from_decision,
    records_from_decisions,
)
from safereport.policy.decision import Decision, _mint_decision

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_NOW = datetime(2026, 12, 3, 11, 30, 5, 123456, tzinfo=UTC)


def _decision(fields: list[str], effect: Effect, categories: frozenset[DataCategory],
              obligations: frozenset[Obligation], rules: tuple[str, ...]) -> Decision:
    role, holder, action, purpose, recipient, regime, policy_hash = fields
    return _mint_decision(
        effect=effect,
        obligations=obligations if effect is not Effect.DENY else frozenset(),
        rules=rules,
        reasons=("test",),
        regime=regime,
        policy_hash=policy_hash,
        categories=categories,
        request={
            "actor": {"role": role, "same_org": True},
            "holder": holder,
            "action": action,
            "purpose": purpose,
            "recipient": recipient,
        },
    )


def _expected(decision: Decision, salt: str, **call: Any) -> bytes:
    """The leaf the encoder writes for the record ``record_from_decision`` makes."""
    made = record_from_decision(decision, **call)
    return canonical_bytes({**made.as_json(), "salt": salt})


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(_TEXT, min_size=7, max_size=7),
    effect=st.sampled_from(list(Effect)),
    categories=st.frozensets(st.sampled_from(list(DataCategory)), max_size=3),
    obligations=st.frozensets(st.sampled_from(list(Obligation)), max_size=2),
    rules=st.lists(_TEXT, max_size=3).map(tuple),
    actor_id=_TEXT,
    optional=st.lists(st.none() | _TEXT, min_size=2, max_size=2),
    detail=st.dictionaries(_TEXT, _TEXT, max_size=4),
    count=st.integers(1, 3),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))]),
    ),
)
def test_every_leaf_is_the_encoders_bytes_of_its_record(
    fields: list[str],
    effect: Effect,
    categories: frozenset[DataCategory],
    obligations: frozenset[Obligation],
    rules: tuple[str, ...],
    actor_id: str,
    optional: list[str | None],
    detail: dict[str, str],
    count: int,
    moment: datetime,
) -> None:
    # Any text in any field (quotes, backslashes, control characters, non-ASCII), any outcome.
    decision = _decision(fields, effect, categories, obligations, rules)
    call: dict[str, Any] = {"actor_id": actor_id, "case_id": optional[0],
                            "actor_org_kind": optional[1], "detail": detail, "now": moment}
    records, encoded = records_from_decisions([decision] * count, **call)
    assert len(records) == len(encoded) == count
    for made, (leaf, time_text, leaf_hash) in zip(records, encoded, strict=True):
        assert leaf == canonical_bytes(made.as_json()) == made.leaf()
        assert leaf == _expected(decision, made.salt, **call)
        assert made == replace(record_from_decision(decision, **call), salt=made.salt)
        assert time_text == made.encoded()[1]
        assert leaf_hash == record_module.hashlib.sha256(b"\x00" + leaf).digest()
        assert leaf_bound_fields(parse_leaf(leaf)) == bound_fields(decision, optional[0])


def test_salts_are_fresh_for_every_record() -> None:
    records, encoded = records_from_decisions(
        [make_decision()] * 50, actor_id="u", case_id="c", actor_org_kind=None, detail=None,
        now=_NOW,
    )
    salts = [made.salt for made in records]
    assert all(re.fullmatch(r"[0-9a-f]{32}", salt) for salt in salts)
    assert len(set(salts)) == 50
    assert len({leaf for leaf, _, _ in encoded}) == 50


def test_one_call_writes_each_of_its_decisions() -> None:
    # Two different decisions in one call (a page's two): each leaf says its own decision.
    view = make_decision(categories=frozenset({DataCategory.CONTACT}))
    denied = make_decision(Effect.DENY, action="export", purpose="investigation")
    records, encoded = records_from_decisions(
        [view, denied, view], actor_id="u1", case_id="case-1", actor_org_kind="police",
        detail={"b": "2", "a": "1"}, now=_NOW,
    )
    said = [parse_leaf(leaf) for leaf, _, _ in encoded]
    assert [entry["decision"] for entry in said] == ["allow", "deny", "allow"]
    assert [entry["action"] for entry in said] == ["view", "export", "view"]
    assert said[1]["rules"] == ["C-default"] and said[0]["data"] == ["contact"]
    assert all(entry["detail"] == {"a": "1", "b": "2"} for entry in said)
    assert records[0].detail is not records[2].detail  # each record its own mapping


def test_parts_kept_for_a_decision_are_never_taken_for_another() -> None:
    # The parts are kept by the decision's identity; once it is collected they go, and a
    # later decision (which may be given the same id) gets its own.
    first = make_decision(action="view")
    key = id(first)
    records_from_decisions([first], actor_id="u", case_id="c", actor_org_kind=None,
                           detail=None, now=_NOW)
    assert key in record_module._PARTS
    del first
    gc.collect()
    assert key not in record_module._PARTS
    for _ in range(200):  # ids are reused: some of these are very likely at the old address
        other = make_decision(Effect.DENY, action="export", purpose="investigation")
        [_], [(leaf, _, _)] = records_from_decisions(
            [other], actor_id="u", case_id="c", actor_org_kind=None, detail=None, now=_NOW
        )
        said = parse_leaf(leaf)
        assert (said["decision"], said["action"], said["purpose"]) == (
            "deny", "export", "investigation",
        )


def test_parts_kept_are_checked_against_the_very_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An entry left under an id (its decision gone, the clean-up not yet run) is not used.
    gone = make_decision(action="view")
    stale = record_module._Parts(gone)
    current = make_decision(Effect.DENY, action="export", purpose="investigation")
    monkeypatch.setitem(record_module._PARTS, id(current), (lambda: gone, stale))
    [_], [(leaf, _, _)] = records_from_decisions(
        [current], actor_id="u", case_id="c", actor_org_kind=None, detail=None, now=_NOW
    )
    assert parse_leaf(leaf)["action"] == "export"


def test_values_of_other_types_go_through_the_encoder() -> None:
    # Not a string (a caller's mistake): the slow way gives the encoder's bytes all the same.
    decision = make_decision()
    for call in (
        {"actor_id": 42, "case_id": "c", "actor_org_kind": None},
        {"actor_id": "u", "case_id": "c", "actor_org_kind": 7},
    ):
        records, encoded = records_from_decisions(
            [decision], **{"detail": None, **call}, now=_NOW  # type: ignore[arg-type]
        )
        [(leaf, _, _)] = encoded
        assert leaf == canonical_bytes(records[0].as_json())
    odd = _decision(["caseworker", "support_service", "view", "support", "none", "firewall",
                     "ab" * 32], Effect.ALLOW, frozenset({DataCategory.CONTACT}), frozenset(),
                    ("S-own-case",))
    object.__setattr__(odd, "policy_hash", 7)  # not a string: the decision's own part
    records, [(leaf, _, _)] = records_from_decisions(
        [odd], actor_id="u", case_id="c", actor_org_kind=None, detail=None, now=_NOW
    )
    assert leaf == canonical_bytes(records[0].as_json()) and b'"policy_hash":7' in leaf


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(LedgerError, match="timezone-aware"):
        records_from_decisions([make_decision()], actor_id="u", case_id="c",
                               actor_org_kind=None, detail=None, now=datetime(2026, 12, 3))
