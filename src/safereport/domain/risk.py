"""The risk checklist: configurable items, a counting rule, and judgement that only raises.

The items are short paraphrased prompts with stable ids, written for this project (they are
not the SafeLives DASH wording, which a deployment may license and configure itself). The
default rule follows the practice that DESIGN.md describes: 14 or more "yes" answers of 24
means high risk and prompts a MARAC referral. Professional judgement may raise the level,
never lower it: a downgrade is refused with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from safereport.errors import InvalidInput

__all__ = [
    "DEFAULT_CHECKLIST",
    "IMMIGRATION_ABUSE_CHECKLIST",
    "AbuseChecklist",
    "Answer",
    "Assessment",
    "Checklist",
    "ChecklistItem",
    "RiskLevel",
    "assess",
    "checklist_from_mapping",
    "read_immigration_abuse",
    "record_immigration_abuse",
]


class Answer(StrEnum):
    NO = "no"
    NOT_KNOWN = "not_known"
    YES = "yes"


class RiskLevel(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    STANDARD = "standard"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {RiskLevel.STANDARD: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Checklist:
    items: tuple[ChecklistItem, ...]
    high_threshold: int

    def __post_init__(self) -> None:
        ids = [item.id for item in self.items]
        if not ids:
            raise InvalidInput("a risk checklist needs at least one item")
        if len(set(ids)) != len(ids):
            raise InvalidInput("risk checklist item ids must be unique")
        if not 1 <= self.high_threshold <= len(ids):
            raise InvalidInput(f"the high-risk threshold must be between 1 and {len(ids)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)


_DEFAULT_PROMPTS: tuple[tuple[str, str], ...] = (
    ("injury", "Has the current incident left her hurt?"),
    ("afraid", "Is she very frightened of what may happen next?"),
    ("fear-of-harm", "Does she fear being badly hurt or killed, or harm to others?"),
    ("isolated", "Is she kept away from friends, family or help?"),
    ("low-mood", "Is she feeling very low, hopeless or thinking of ending her life?"),
    ("recent-separation", "Has she separated, or tried to, in the past year?"),
    ("child-contact", "Are there disputes about contact with children?"),
    ("following", "Does he keep watch on her, follow her or keep turning up?"),
    ("pregnancy", "Is she pregnant or has she had a baby in the past year and a half?"),
    ("other-children", "Are there children in the home who are not his?"),
    ("children-harmed", "Has he hurt the children, or anyone else's?"),
    ("dependants-harmed", "Has he threatened or hurt other dependants or relatives?"),
    ("escalation", "Is the abuse happening more often or getting worse?"),
    ("control", "Does he control her money, phone, movements or documents?"),
    ("weapons", "Has he used or threatened to use a weapon or object to hurt her?"),
    ("threats-to-kill", "Has he threatened to kill her or someone else?"),
    ("choking", "Has he choked, strangled or smothered her?"),
    ("sexual-abuse", "Does he force or pressure her into sexual acts?"),
    ("other-abusers", "Is anyone else threatening or hurting her?"),
    ("harm-to-others", "Has he hurt other people, or animals or pets?"),
    ("money-trouble", "Does he have serious money problems or has he lost work?"),
    ("substances", "Has he had problems with drink, drugs or mental health recently?"),
    ("self-harm-threats", "Has he threatened or tried to end his own life?"),
    ("breaches", "Has he broken bail, an injunction or a contact agreement?"),
)

DEFAULT_CHECKLIST = Checklist(
    items=tuple(ChecklistItem(id=i, prompt=p) for i, p in _DEFAULT_PROMPTS),
    high_threshold=14,
)


def checklist_from_mapping(data: Mapping[str, Any]) -> Checklist:
    """A checklist from configuration: ``{"high_threshold": 14, "items": [{"id", "prompt"}]}``."""
    raw_items = data.get("items")
    if not isinstance(raw_items, Sequence) or isinstance(raw_items, str | bytes):
        raise InvalidInput("a risk checklist needs a list of items")
    items = []
    for position, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"risk checklist item {position} must have an id and a prompt")
        item_id, prompt = raw.get("id"), raw.get("prompt")
        if not (isinstance(item_id, str) and item_id and isinstance(prompt, str) and prompt):
            raise InvalidInput(f"risk checklist item {position} must have an id and a prompt")
        items.append(ChecklistItem(id=item_id, prompt=prompt))
    threshold = data.get("high_threshold", DEFAULT_CHECKLIST.high_threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise InvalidInput("the high-risk threshold must be a whole number")
    return Checklist(items=tuple(items), high_threshold=threshold)


@dataclass(frozen=True, slots=True)
class Assessment:
    """A completed checklist and the level it gives."""

    answers: Mapping[str, Answer]
    yes_count: int
    computed: RiskLevel
    level: RiskLevel
    judgement_reason: str
    threshold: int

    @property
    def marac_referral_prompted(self) -> bool:
        return self.level is RiskLevel.HIGH

    def answered(self, checklist: Checklist, answer: Answer) -> list[str]:
        """The prompts answered ``answer``, in the checklist's order (for a readable summary;
        an id the checklist no longer has is shown as itself)."""
        prompts = {item.id: item.prompt for item in checklist.items}
        ordered = [i for i in checklist.ids if i in self.answers]
        ordered += sorted(set(self.answers) - set(ordered))
        return [prompts.get(i, i) for i in ordered if str(self.answers[i]) == answer.value]

    def to_json(self) -> str:
        """The sealed form kept in the case's ``risk_answers`` field."""
        return json.dumps(
            {
                "answers": {k: v.value for k, v in self.answers.items()},
                "yes": self.yes_count,
                "computed": self.computed.value,
                "level": self.level.value,
                "judgement_reason": self.judgement_reason,
                "threshold": self.threshold,
            },
            sort_keys=True,
        )


def assess(
    checklist: Checklist,
    answers: Mapping[str, Answer | str],
    *,
    judgement: RiskLevel | str | None = None,
    judgement_reason: str = "",
) -> Assessment:
    """Count the "yes" answers and apply judgement, which may raise the level but not lower it.

    Every item must be answered (yes, no or not known); unknown ids are refused. A judgement
    that differs from the computed level needs a written reason.
    """
    parsed = _answers(checklist, answers)
    yes = sum(1 for answer in parsed.values() if answer is Answer.YES)
    computed = RiskLevel.HIGH if yes >= checklist.high_threshold else RiskLevel.STANDARD
    level = computed if judgement in (None, "") else _level(judgement)
    reason = judgement_reason.strip()
    if level.rank < computed.rank:
        raise InvalidInput(
            f"the checklist gives {computed.value} risk ({yes} 'yes' answers; the threshold is "
            f"{checklist.high_threshold}); professional judgement may raise the level but never "
            "lower it"
        )
    if level is not computed and not reason:
        raise InvalidInput("raising the level by professional judgement needs a written reason")
    return Assessment(parsed, yes, computed, level, reason, checklist.high_threshold)


def _level(value: RiskLevel | str) -> RiskLevel:
    try:
        return RiskLevel(value)
    except ValueError as exc:
        raise InvalidInput(f"unknown risk level {value!r}") from exc


def _answers(checklist: Checklist, answers: Mapping[str, Answer | str]) -> dict[str, Answer]:
    unknown = sorted(set(answers) - set(checklist.ids))
    if unknown:
        raise InvalidInput("unknown checklist items: " + ", ".join(unknown))
    missing = [item_id for item_id in checklist.ids if item_id not in answers]
    if missing:
        raise InvalidInput("every question needs an answer; missing: " + ", ".join(missing))
    parsed: dict[str, Answer] = {}
    for item_id in checklist.ids:
        try:
            parsed[item_id] = Answer(answers[item_id])
        except ValueError as exc:
            raise InvalidInput(f"answer to {item_id!r} must be yes, no or not known") from exc
    return parsed


# ---- the immigration-related abuse checklist ------------------------------------------------

#: Questions on abuse that uses her immigration position, paraphrased for this project from the
#: forms the statutory guidance on controlling or coercive behaviour (Home Office, 2023) lists:
#: threats of deportation, documents withheld, a visa or sponsorship used as control. Her
#: answers are the POLICY.md v2 data category ``immigration_abuse``: sealed like her
#: immigration status (F-sealed) and never sent to Immigration Enforcement except at her own
#: request (C-abuse-evidence).
_ABUSE_PROMPTS: tuple[tuple[str, str], ...] = (
    ("threat-deport", "Has anyone threatened to report her to the Home Office or to have her "
                      "deported?"),
    ("documents", "Does anyone keep her passport, visa, residence card or other documents "
                  "from her?"),
    ("visa-control", "Is her visa or immigration status (for example as a spouse or partner) "
                     "used to control her?"),
    ("sponsorship", "Has anyone threatened to withdraw sponsorship or her application, or to "
                    "stop her renewing it?"),
    ("children", "Has anyone threatened that she will lose her children because of her "
                 "immigration status?"),
    ("misinformed", "Has anyone told her she cannot get help, report abuse or stay in the UK "
                    "without them?"),
)


@dataclass(frozen=True, slots=True)
class AbuseChecklist:
    items: tuple[ChecklistItem, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)


IMMIGRATION_ABUSE_CHECKLIST = AbuseChecklist(
    tuple(ChecklistItem(id=i, prompt=p) for i, p in _ABUSE_PROMPTS))
MAX_ABUSE_NOTE_CHARS = 2000


def record_immigration_abuse(
    answers: Mapping[str, Answer | str], note: str = "",
    checklist: AbuseChecklist = IMMIGRATION_ABUSE_CHECKLIST,
) -> str:
    """The sealed form of her answers (JSON); every item answered yes, no or not known."""
    unknown = sorted(set(answers) - set(checklist.ids))
    if unknown:
        raise InvalidInput("unknown checklist items: " + ", ".join(unknown))
    missing = [i for i in checklist.ids if i not in answers]
    if missing:
        raise InvalidInput("every question needs an answer; missing: " + ", ".join(missing))
    parsed = {}
    for item_id in checklist.ids:
        try:
            parsed[item_id] = Answer(answers[item_id]).value
        except ValueError as exc:
            raise InvalidInput(f"answer to {item_id!r} must be yes, no or not known") from exc
    text = note.strip()
    if len(text) > MAX_ABUSE_NOTE_CHARS:
        raise InvalidInput(f"the note holds at most {MAX_ABUSE_NOTE_CHARS} characters")
    return json.dumps({"answers": parsed, "note": text}, sort_keys=True)


def read_immigration_abuse(
    sealed: str, checklist: AbuseChecklist = IMMIGRATION_ABUSE_CHECKLIST,
) -> tuple[list[tuple[str, Answer]], str] | None:
    """(prompt, answer) pairs in the checklist's order and the note; None if unreadable."""
    try:
        data = json.loads(sealed)
        answers = {str(k): Answer(v) for k, v in dict(data["answers"]).items()}
        note = str(data.get("note", ""))
    except (ValueError, KeyError, TypeError):
        return None
    prompts = {item.id: item.prompt for item in checklist.items}
    order = [i for i in checklist.ids if i in answers] + sorted(set(answers) - set(prompts))
    return [(prompts.get(i, i), answers[i]) for i in order], note
