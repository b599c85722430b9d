"""The risk checklist rule: 14 "yes" of 24 means high; judgement raises, never lowers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safereport.domain.risk import (
    DEFAULT_CHECKLIST,
    Answer,
    RiskLevel,
    assess,
    checklist_from_mapping,
)
from safereport.errors import InvalidInput

IDS = DEFAULT_CHECKLIST.ids


def _answers(yes: int) -> dict[str, str]:
    return {item_id: ("yes" if n < yes else "no") for n, item_id in enumerate(IDS)}


def test_default_checklist_has_24_items_and_threshold_14() -> None:
    assert len(IDS) == 24 and len(set(IDS)) == 24
    assert DEFAULT_CHECKLIST.high_threshold == 14


def test_thirteen_yes_is_standard_fourteen_is_high_with_marac_prompt() -> None:
    below = assess(DEFAULT_CHECKLIST, _answers(13))
    assert below.computed is RiskLevel.STANDARD and not below.marac_referral_prompted
    at = assess(DEFAULT_CHECKLIST, _answers(14))
    assert at.yes_count == 14 and at.level is RiskLevel.HIGH and at.marac_referral_prompted


def test_not_known_does_not_count_as_yes() -> None:
    answers = _answers(13) | {IDS[20]: "not_known"}
    assert assess(DEFAULT_CHECKLIST, answers).yes_count == 13


def test_judgement_may_raise_with_a_reason() -> None:
    raised = assess(DEFAULT_CHECKLIST, _answers(3), judgement="high",
                    judgement_reason="threats made this morning")
    assert raised.computed is RiskLevel.STANDARD and raised.level is RiskLevel.HIGH
    assert raised.marac_referral_prompted
    with pytest.raises(InvalidInput, match="written reason"):
        assess(DEFAULT_CHECKLIST, _answers(3), judgement="medium")


def test_downgrade_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="never lower") as caught:
        assess(DEFAULT_CHECKLIST, _answers(15), judgement="medium", judgement_reason="calmer")
    assert "15 'yes' answers" in str(caught.value) and "threshold is 14" in str(caught.value)


@given(st.lists(st.sampled_from(list(Answer)), min_size=24, max_size=24),
       st.sampled_from([None, *RiskLevel]))
def test_level_never_below_computed(answers: list[Answer], judgement: RiskLevel | None) -> None:
    mapping = dict(zip(IDS, answers, strict=True))
    yes = sum(a is Answer.YES for a in answers)
    try:
        result = assess(DEFAULT_CHECKLIST, mapping, judgement=judgement, judgement_reason="r")
    except InvalidInput:
        assert judgement is not None and yes >= 14 and judgement is not RiskLevel.HIGH
        return
    assert result.level.rank >= result.computed.rank
    assert (result.computed is RiskLevel.HIGH) == (yes >= 14)


def test_every_item_must_be_answered_and_ids_known() -> None:
    partial = _answers(0)
    del partial[IDS[0]]
    with pytest.raises(InvalidInput, match="missing"):
        assess(DEFAULT_CHECKLIST, partial)
    with pytest.raises(InvalidInput, match="unknown"):
        assess(DEFAULT_CHECKLIST, _answers(0) | {"bogus": "yes"})
    with pytest.raises(InvalidInput, match="yes, no or not known"):
        assess(DEFAULT_CHECKLIST, _answers(0) | {IDS[0]: "maybe"})


def test_configured_checklist() -> None:
    custom = checklist_from_mapping({"high_threshold": 2, "items": [
        {"id": "a", "prompt": "A?"}, {"id": "b", "prompt": "B?"}, {"id": "c", "prompt": "C?"}]})
    assert assess(custom, {"a": "yes", "b": "yes", "c": "no"}).level is RiskLevel.HIGH
    with pytest.raises(InvalidInput, match="unique"):
        checklist_from_mapping({"items": [{"id": "a", "prompt": "A"}, {"id": "a", "prompt": "B"}]})
    with pytest.raises(InvalidInput, match="threshold"):
        checklist_from_mapping({"high_threshold": 9, "items": [{"id": "a", "prompt": "A"}]})
    with pytest.raises(InvalidInput, match="id and a prompt"):
        checklist_from_mapping({"items": [{"id": "a"}]})


def test_prompts_are_not_the_dash_wording() -> None:
    # A few distinctive phrases of the licensed SafeLives DASH questions must not appear.
    text = " ".join(item.prompt.lower() for item in DEFAULT_CHECKLIST.items)
    for phrase in ("has the current incident resulted in injury",
                   "are you very frightened", "are you feeling isolated"):
        assert phrase not in text
