"""The police forces of the UK and the published studies of their data sharing (package data)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safereport.errors import InvalidInput
from safereport.stats.bankholidays import Jurisdiction

__all__ = [
    "BBC_2018",
    "Force",
    "Study",
    "force_by_id",
    "load_forces",
    "load_studies",
    "source_notes",
]

BBC_2018 = "bbc-2018"

#: The FOI regime's working days follow the bank holidays where the force is.
_JURISDICTION_BY_COUNTRY = {
    "England": Jurisdiction.ENGLAND_WALES,
    "Wales": Jurisdiction.ENGLAND_WALES,
    # British Transport Police is a public authority under FOIA, headquartered in London.
    "Great Britain": Jurisdiction.ENGLAND_WALES,
    "Northern Ireland": Jurisdiction.NORTHERN_IRELAND,
    "Scotland": Jurisdiction.SCOTLAND,
}


@dataclass(frozen=True)
class Force:
    id: str
    name: str
    police_area: str
    country: str
    kind: str

    @property
    def jurisdiction(self) -> Jurisdiction:
        return _JURISDICTION_BY_COUNTRY[self.country]


@dataclass(frozen=True)
class Study:
    """One published study: its figures are kept as the source gives them."""

    id: str
    title: str
    published: date | None
    period: tuple[str, str] | None
    question: str | None
    forces_asked: int | None
    answers: dict[str, int]
    findings: dict[str, Any]
    notes: str | None


def _data_text(name: str) -> str:
    return resources.files("safereport.stats").joinpath("data", name).read_text("utf-8")


@lru_cache(maxsize=1)
def load_forces() -> tuple[Force, ...]:
    rows = csv.DictReader(io.StringIO(_data_text("police-forces.csv")))
    return tuple(Force(**{key: row[key] for key in Force.__dataclass_fields__}) for row in rows)


def force_by_id(force_id: str) -> Force:
    for force in load_forces():
        if force.id == force_id:
            return force
    raise InvalidInput(f"no police force with id {force_id!r} (see `safereport foi forces`)")


def _study(item: dict[str, Any]) -> Study:
    period = item.get("period")
    return Study(
        id=str(item["id"]),
        title=str(item["title"]),
        published=item.get("published"),
        period=(str(period["from"]), str(period["to"])) if period else None,
        question=item.get("question"),
        forces_asked=item.get("forces_asked"),
        # YAML 1.1 reads the key ``yes`` as True and ``no`` as False: restore the words.
        answers={_answer_key(k): int(v) for k, v in (item.get("answers") or {}).items()},
        findings=dict(item.get("findings") or {}),
        notes=item.get("notes"),
    )


def _answer_key(key: object) -> str:
    if key is True:
        return "yes"
    if key is False:
        return "no"
    return str(key)


@lru_cache(maxsize=1)
def load_studies() -> tuple[Study, ...]:
    return tuple(_study(item) for item in yaml.safe_load(_data_text("foi-studies.yaml")))


def source_notes() -> str:
    return _data_text("SOURCES.txt")
