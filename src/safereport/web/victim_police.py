"""What the law says, and what her local police force said, where she decides about the police.

Shown on the report form (beside "who may we share your report with?") and on the page that
confirms sharing with the police. She picks a force from a list (no free text); nothing about
her choice is kept: the report form does not store it, and the consent page only shows it.

What a force "said" comes from the forces tracker (:mod:`safereport.stats.forcetable`): the
published studies, which name few forces (``stats/data/SOURCES.txt``), and the answers to the
Freedom of Information rounds recorded there, each with its source and date. Nothing is said
about a force that no source says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date
from sqlalchemy.exc import SQLAlchemyError

from safereport.errors import SafeReportError
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.forces import Force, load_forces
from safereport.stats.forcetable import Said, study_answers
from safereport.web.i18n import N_
from safereport.web.victim_support import translate

__all__ = ["PoliceLaw", "Statement", "police_law"]

log = logging.getLogger("safereport.web.victim")

_BBC_NO = N_("In May 2018 this force told the BBC that it does not pass the details of "
             "victims to the Home Office.")
_BBC_TOTALS = N_("In May 2018 the BBC asked 45 police forces whether they pass the details of "
                 "victims and witnesses to the Home Office: 27 said yes, 3 said no and 15 gave "
                 "no clear answer. Which answer this force gave was not published.")
_DETAIL = N_("Between May 2020 and September 2022 this force passed the details of victims "
             "of crime to the Home Office.")
_DAC = N_("Between April 2020 and March 2023 this force passed the details of victims of "
          "domestic abuse to Immigration Enforcement. The Commissioner found that none of the "
          "537 referrals made by all these forces led to immigration enforcement action.")
_DAC_NOT_COVERED = N_("The Domestic Abuse Commissioner's 2023 study covered England and Wales "
                      "only, not this force.")
_FOI: dict[Classification, str] = {
    Classification.SHARES: N_("This force said that it passes the details of victims to "
                              "Immigration Enforcement."),
    Classification.DOES_NOT_SHARE: N_("This force said that it does not pass the details of "
                                      "victims to Immigration Enforcement."),
    Classification.UNCLEAR: N_("This force answered, but its answer was not clear."),
    Classification.REFUSED: N_("This force refused to answer."),
    Classification.NO_ANSWER: N_("This force did not answer."),
}
_FOI_WAITING = N_("This force was asked and has not answered yet.")
_FOI_SOURCE = N_("A Freedom of Information request")

_BBC_SOURCE = "BBC Victoria Derbyshire programme"
_DETAIL_SOURCE = "The Detail and the Guardian"
_DAC_SOURCE = "Domestic Abuse Commissioner for England and Wales"


@dataclass(frozen=True)
class Statement:
    """One thing a source says about the force, in her language: when, what, and who says so."""

    when: str
    text: str
    source: str
    source_lang: str = ""  # "en" when the source's name is a title in English


@dataclass(frozen=True)
class PoliceLaw:
    """The force list for the choice, the chosen force (if any) and what it said."""

    forces: tuple[tuple[str, str], ...]
    chosen: Force | None
    said: tuple[Statement, ...]


def _day(lang: str, day: date, pattern: str = "long") -> str:
    # English here is British English: "9 November 2023", not "November 9, 2023".
    return str(format_date(day, format=pattern, locale="en_GB" if lang == "en" else lang))


def _studies(lang: str, force: Force) -> list[Statement]:
    """What the published studies say about this force, newest first."""
    bbc, detail, dac = study_answers(force)
    out: list[Statement] = []
    if dac.said is Said.SHARES:
        out.append(Statement(_day(lang, date(2023, 11, 9)), translate(lang, _DAC),
                             _DAC_SOURCE, "en"))
    elif dac.said is Said.NOT_ASKED:
        out.append(Statement(_day(lang, date(2023, 11, 9)), translate(lang, _DAC_NOT_COVERED),
                             _DAC_SOURCE, "en"))
    if detail.said is Said.SHARES:
        out.append(Statement(_day(lang, date(2022, 9, 1), "MMMM y"), translate(lang, _DETAIL),
                             _DETAIL_SOURCE, "en"))
    bbc_text = _BBC_NO if bbc.said is Said.DOES_NOT_SHARE else _BBC_TOTALS
    out.append(Statement(_day(lang, date(2018, 5, 14)), translate(lang, bbc_text),
                         _BBC_SOURCE, "en"))
    return out


def _rounds(lang: str, force: Force, engine: Any) -> list[Statement]:
    """The force's answers to the tracker's Freedom of Information rounds, newest first."""
    source = translate(lang, _FOI_SOURCE)
    mine = [r for r in tracker.list_requests(engine) if r.force_id == force.id]
    out = []
    for request in sorted(mine, key=lambda r: r.answered_on or r.sent_on, reverse=True):
        if request.classification is None:
            out.append(Statement(_day(lang, request.sent_on), translate(lang, _FOI_WAITING),
                                 source))
        else:
            out.append(Statement(_day(lang, request.answered_on or request.sent_on),
                                 translate(lang, _FOI[request.classification]), source))
    return out


def police_law(lang: str, engine: Any, force_id: str) -> PoliceLaw:
    """The choice of forces, and what the chosen one said (newest first; none if unknown)."""
    forces = sorted(load_forces(), key=lambda f: f.name)
    choices = tuple((f.id, f.name) for f in forces)
    chosen = next((f for f in forces if f.id == force_id), None)
    if chosen is None:
        return PoliceLaw(choices, None, ())
    try:
        rounds = _rounds(lang, chosen, engine) if engine is not None else []
    except (SQLAlchemyError, SafeReportError):
        # The tracker could not be read: she is still told what the published studies say.
        log.exception("the forces tracker could not be read")
        rounds = []
    return PoliceLaw(choices, chosen, tuple(rounds + _studies(lang, chosen)))
