"""Every police force by name, with what each source says about it: the force-by-force table.

The published studies give aggregate figures only (``data/SOURCES.txt``). What they do say
about named forces is used here, and nothing more: the BBC (2018) named Police Scotland as
one of its three "no" answers; The Detail and the Guardian (2022) found that every one of the
45 forces they asked referred victims; the Domestic Abuse Commissioner (2023) found referrals
by all 43 forces of England and Wales and British Transport Police. Everything else comes
from the campaign's own Freedom of Information rounds, answer by answer, with their dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import Engine

from safereport.stats import tracker
from safereport.stats.forces import Force, load_forces
from safereport.stats.labels import N_

__all__ = [
    "COUNTRY_LABELS",
    "SAID_LABELS",
    "SORT_ORDER",
    "STUDY_COLUMNS",
    "ForceRow",
    "Said",
    "SortKey",
    "SourceAnswer",
    "force_rows",
    "short_name",
    "study_answers",
]


class Said(StrEnum):
    """What a source says about one force, in the tracker's terms."""

    DOES_NOT_SHARE = "does_not_share"
    NO_ANSWER = "no_answer"
    NOT_ASKED = "not_asked"
    NOT_PUBLISHED = "not_published"
    REFUSED = "refused"
    SHARES = "shares"
    UNCLEAR = "unclear"
    WAITING = "waiting"


SAID_LABELS: dict[Said, str] = {
    Said.SHARES: N_("Shares"),
    Said.DOES_NOT_SHARE: N_("Does not share"),
    Said.UNCLEAR: N_("Unclear"),
    Said.REFUSED: N_("Refused to answer"),
    Said.NO_ANSWER: N_("No answer"),
    Said.WAITING: N_("Waiting for the answer"),
    Said.NOT_ASKED: N_("Not asked or not covered"),
    Said.NOT_PUBLISHED: N_("Not published by force"),
}

#: The countries of the forces' list, in words to translate.
COUNTRY_LABELS: dict[str, str] = {
    "England": N_("England"),
    "Wales": N_("Wales"),
    "Scotland": N_("Scotland"),
    "Northern Ireland": N_("Northern Ireland"),
    "Great Britain": N_("Great Britain (British Transport Police)"),
}

#: The studies' columns: (study id, heading, source line).
STUDY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bbc-2018", N_("BBC, 2018"),
     N_("BBC Victoria Derbyshire programme, 14 May 2018: only Police Scotland is named (one of "
        "the 3 forces that said no); the other answers were published as totals.")),
    ("detail-guardian-2022", N_("The Detail and the Guardian, 2022"),
     N_("The Detail and the Guardian, May 2020 to September 2022: all 45 forces asked had "
        "referred victims.")),
    ("dac-2023", N_("Domestic Abuse Commissioner, 2023"),
     N_("Domestic Abuse Commissioner for England and Wales, 9 November 2023: referrals by all "
        "43 forces of England and Wales and British Transport Police (April 2020 to March "
        "2023); Scotland and Northern Ireland were not covered.")),
)


def short_name(force: Force) -> str:
    """A force's name short enough for a tile: "Kent", "Avon and Somerset", "PSNI"."""
    special = {"psni": "PSNI", "british-transport-police": "British Transport",
               "metropolitan-police-service": "Metropolitan"}
    if force.id in special:
        return special[force.id]
    name = force.police_area or force.name
    return name if len(name) <= 18 else name[:17] + "…"


class SortKey(StrEnum):
    COUNTRY = "country"
    LAST = "last"
    NAME = "name"


@dataclass(frozen=True)
class SourceAnswer:
    said: Said
    on: date | None = None  # the date of the answer (FOI rounds), if known

    @property
    def label(self) -> str:
        return SAID_LABELS[self.said]


@dataclass(frozen=True)
class ForceRow:
    force: Force
    studies: tuple[SourceAnswer, ...]  # in the order of STUDY_COLUMNS
    rounds: tuple[SourceAnswer, ...]  # in the order of the rounds, oldest first

    @property
    def last(self) -> SourceAnswer:
        """The latest thing known: the newest answered FOI round, else the newest study that
        says something about this force."""
        for answer in (*reversed(self.rounds), *reversed(self.studies)):
            if answer.said not in {Said.NOT_ASKED, Said.NOT_PUBLISHED, Said.WAITING}:
                return answer
        return SourceAnswer(Said.NOT_PUBLISHED)


def _studies(force: Force) -> tuple[SourceAnswer, ...]:
    # Whether the BBC's 45 and The Detail's 45 included British Transport Police is not
    # published, so it reads "not published by force" there, not "not asked".
    territorial = force.kind == "territorial"
    bbc = Said.DOES_NOT_SHARE if force.id == "police-scotland" else Said.NOT_PUBLISHED
    detail = Said.SHARES if territorial else Said.NOT_PUBLISHED
    dac = Said.SHARES if force.country in {"England", "Wales"} or not territorial \
        else Said.NOT_ASKED
    return (SourceAnswer(bbc, date(2018, 5, 14)), SourceAnswer(detail),
            SourceAnswer(dac, date(2023, 11, 9)))


def study_answers(force: Force) -> tuple[SourceAnswer, ...]:
    """What each published study says about this force, in the order of STUDY_COLUMNS."""
    return _studies(force)


_COUNTRY_ORDER = {country: number for number, country in enumerate(COUNTRY_LABELS)}

SORT_ORDER = {said: number for number, said in enumerate((
    Said.SHARES, Said.UNCLEAR, Said.REFUSED, Said.NO_ANSWER, Said.DOES_NOT_SHARE,
    Said.WAITING, Said.NOT_PUBLISHED, Said.NOT_ASKED))}


def force_rows(engine: Engine, today: date, sort: SortKey = SortKey.NAME
               ) -> tuple[list[str], list[ForceRow]]:
    """(the FOI round names, oldest first; one row per force, sorted by ``sort``)."""
    tallies = tracker.round_tallies(engine, today)
    names = [t.name for t in tallies]
    answers: dict[tuple[str, str], SourceAnswer] = {}
    for request in tracker.list_requests(engine):
        if request.classification is None:
            said = SourceAnswer(Said.WAITING)
        else:
            said = SourceAnswer(Said(request.classification.value), request.answered_on)
        answers[(request.round_name, request.force_id)] = said
    rows = [
        ForceRow(force, _studies(force),
                 tuple(answers.get((name, force.id), SourceAnswer(Said.NOT_ASKED))
                       for name in names))
        for force in load_forces()
    ]
    return names, _sorted(rows, sort)


def _sorted(rows: Sequence[ForceRow], sort: SortKey) -> list[ForceRow]:
    if sort is SortKey.COUNTRY:
        return sorted(rows, key=lambda r: (_COUNTRY_ORDER.get(r.force.country, 9), r.force.name))
    if sort is SortKey.LAST:
        return sorted(rows, key=lambda r: (SORT_ORDER[r.last.said], r.force.name))
    return sorted(rows, key=lambda r: r.force.name)
