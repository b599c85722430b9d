""""Who has seen my data", told for her: newest first, repeats grouped, refusals said plainly.

Each ledger entry about her case becomes a sentence about what happened ("Opened your report",
"Tried to open your report: refused", "A request to share your report with Police was
refused. Nothing was sent."), never "looked at it" for a refusal, and never naming the person
who handled a request as the one who wanted it. Repeats of the same thing by the same kind of
person on the same day are one line with a count. Refusals that would have reached the Home
Office, or served immigration control, are counted on a reassuring line of their own. Rule ids
stay out of her page (they are in the downloadable record); the reasons are plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_date, format_time, get_timezone

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    Effect,
    OrgKind,
    Purpose,
    Recipient,
)
from safereport.ledger.log import EntryView
from safereport.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translations
from safereport.web.victim_support import label, reasons

__all__ = ["PAGE_SIZE", "SeenGroup", "SeenPage", "seen_groups"]

#: Lines of "who has seen my data" per page: short enough for a phone.
PAGE_SIZE = 10
_UK = get_timezone("Europe/London")

_ALLOWED: dict[str, str] = {
    Action.DATABASE_CHECK: N_("Checked police databases"),
    Action.DISCLOSE: N_("Shared your report with %(recipient)s"),
    Action.ENFORCEMENT_ACTION: N_("Immigration action"),
    Action.ERASE: N_("Deleted your report"),
    Action.PUBLISH_STATISTICS: N_("Counted in statistics, with no one picked out"),
    Action.UPDATE: N_("Added to or changed your report"),
    Action.VIEW: N_("Opened your report"),
}

_REFUSED: dict[str, str] = {
    Action.DATABASE_CHECK: N_("Tried to check databases: refused"),
    Action.DISCLOSE: N_("A request to share your report with %(recipient)s was refused. "
                        "Nothing was sent."),
    Action.ENFORCEMENT_ACTION: N_("Immigration action was refused"),
    Action.ERASE: N_("Deleting your report was refused"),
    Action.PUBLISH_STATISTICS: N_("Counted in statistics, with no one picked out"),
    Action.UPDATE: N_("Tried to change your report: refused"),
    Action.VIEW: N_("Tried to open your report: refused"),
}

_IMMIGRATION_PURPOSES = {Purpose.IMMIGRATION_ENFORCEMENT, Purpose.IMMIGRATION_STATUS_CHECK}


@dataclass(frozen=True)
class SeenGroup:
    """One line: what happened, by whom, why, how often that day, and the plain reasons."""

    day: str
    time: str
    what: str
    who: str
    why: str
    count: int
    refused: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SeenPage:
    groups: tuple[SeenGroup, ...]
    page: int
    pages: int
    immigration_refusals: int
    entries: int


def _towards_immigration(entry: EntryView) -> bool:
    return (entry.recipient == Recipient.IMMIGRATION_ENFORCEMENT
            or entry.actor_role == ActorRole.IMMIGRATION_OFFICER
            or entry.actor_org_kind == OrgKind.IMMIGRATION_ENFORCEMENT
            or entry.purpose in _IMMIGRATION_PURPOSES
            or entry.action == Action.ENFORCEMENT_ACTION)


def _gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def _what(lang: str, entry: EntryView) -> str:
    refused = entry.effect == Effect.DENY
    table = _REFUSED if refused else _ALLOWED
    message = table.get(entry.action)
    if message is None:
        return label(lang, entry.action)
    text = _gettext(lang, message)
    if "%(recipient)s" in message:
        text = text % {"recipient": label(lang, entry.recipient)}
    return text


def _who(lang: str, entry: EntryView) -> str:
    role = label(lang, entry.actor_role)
    if entry.actor_org_kind and entry.actor_role != ActorRole.VICTIM:
        comma = LANGUAGES.get(lang, LANGUAGES[DEFAULT_LANGUAGE]).comma
        return f"{role}{comma}{label(lang, entry.actor_org_kind)}"
    return role


def _day(lang: str, moment: datetime, today: date) -> tuple[date, str]:
    local = moment.astimezone(_UK).date()
    if local == today:
        return local, _gettext(lang, N_("Today"))
    return local, str(format_date(local, format="long", locale=lang))


def seen_groups(lang: str, entries: Sequence[EntryView], *, page: int = 1,
                now: datetime | None = None) -> SeenPage:
    """Her entries (oldest first, as the ledger gives them) as grouped lines, newest first."""
    today = (now or datetime.now(_UK)).astimezone(_UK).date()
    groups: list[SeenGroup] = []
    where: dict[tuple[object, ...], int] = {}
    for entry in reversed(entries):
        local, day = _day(lang, entry.time, today)
        key = (local, entry.actor_role, entry.actor_org_kind, entry.action, entry.purpose,
               entry.recipient, entry.effect, entry.rules)
        if key in where:  # the same thing again that day: one line, counted
            last = groups[where[key]]
            groups[where[key]] = SeenGroup(last.day, last.time, last.what, last.who, last.why,
                                           last.count + 1, last.refused, last.reasons)
            continue
        where[key] = len(groups)
        refused = entry.effect == Effect.DENY
        groups.append(SeenGroup(
            day=day,
            time=str(format_time(entry.time, format="short", locale=lang, tzinfo=_UK)),
            what=_what(lang, entry),
            who=_who(lang, entry),
            # A refused attempt has no purpose worth repeating: what it claimed is not hers.
            why="" if refused else label(lang, entry.purpose),
            count=1,
            refused=refused,
            reasons=tuple(text for _rule, text in reasons(lang, entry.rules) if text),
        ))
    pages = max(1, -(-len(groups) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = groups[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    refusals = sum(1 for e in entries if e.effect == Effect.DENY and _towards_immigration(e))
    return SeenPage(tuple(shown), page, pages, refusals, len(entries))
