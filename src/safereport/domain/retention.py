"""Retention rules: how long a case is kept, by status or by inactivity (pure values).

A rule is written in one short line, the same in ``config.toml`` (a list of lines) and in
``SAFEREPORT_RETENTION`` (lines separated by ``;``):

- ``closed 6y``: a closed case is shredded 6 years after it was closed (its latest closure);
- ``new inactive 2y`` (any open status: ``new``, ``in_progress``, ``referred``, ``closed``):
  a case in that status with no change for 2 years;
- ``quarantined 30d``: a report held in quarantine as a suspected bot (issue 19) for 30 days.

Durations are a whole number and a unit: ``d`` days, ``w`` weeks, ``m`` calendar months,
``y`` calendar years (29 February plus one year is 28 February).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from safereport.domain.case import CaseStatus
from safereport.errors import ConfigError

__all__ = ["RetentionBasis", "RetentionRule", "add_period", "parse_rules"]


class RetentionBasis(StrEnum):
    #: measured from the case's latest closure (status ``closed`` only)
    CLOSURE = "closure"
    #: measured from the case's last change
    INACTIVITY = "inactivity"
    #: measured from when the report was put in quarantine
    QUARANTINE = "quarantine"


#: Statuses a rule may name: the open ones and ``closed`` (an erasure already pending or done
#: is not retention's business).
RULE_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.REFERRED,
                           CaseStatus.CLOSED})
QUARANTINED = "quarantined"
_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
_LINE = re.compile(
    r"^(?P<kind>[a-z_]+)(?P<inactive>\s+inactive)?\s+(?P<n>\d{1,4})(?P<unit>[dwmy])$"
)


@dataclass(frozen=True)
class RetentionRule:
    """One line of the schedule: which cases, measured from what, kept how long."""

    #: a case status, or ``quarantined``
    kind: str
    basis: RetentionBasis
    amount: int
    unit: str  # d, w, m or y

    @property
    def name(self) -> str:
        """The rule as written (canonical): what the ledger and the notices name."""
        inactive = " inactive" if self.basis is RetentionBasis.INACTIVITY else ""
        return f"{self.kind}{inactive} {self.amount}{self.unit}"

    def due(self, since: datetime) -> datetime:
        """When a case that started counting at ``since`` is due."""
        return add_period(since, self.amount, self.unit)

    def describe(self) -> str:
        span = f"{self.amount} {_UNITS[self.unit] if self.amount != 1 else _UNITS[self.unit][:-1]}"
        if self.basis is RetentionBasis.QUARANTINE:
            return f"reports in quarantine, {span} after they were quarantined"
        if self.basis is RetentionBasis.CLOSURE:
            return f"closed cases, {span} after their closure"
        return f"cases with status {self.kind}, after {span} without a change"


def add_period(when: datetime, amount: int, unit: str) -> datetime:
    """``when`` plus ``amount`` days, weeks, calendar months or calendar years."""
    if unit == "d":
        return when + timedelta(days=amount)
    if unit == "w":
        return when + timedelta(weeks=amount)
    months = amount * (12 if unit == "y" else 1)
    if unit not in ("m", "y"):
        raise ValueError(f"unknown unit {unit!r}")
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    for day in (when.day, 30, 29, 28):  # the month's last day when it is shorter
        try:
            return when.replace(year=year, month=month, day=min(when.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")  # pragma: no cover


def parse_rule(line: str) -> RetentionRule:
    """One rule from its line; a :class:`ConfigError` saying what is wrong otherwise."""
    text = " ".join(line.strip().lower().split())
    found = _LINE.match(text)
    if found is None:
        raise ConfigError(
            f"setting 'retention': {line.strip()!r} is not a rule; write e.g. 'closed 6y', "
            "'new inactive 2y' or 'quarantined 30d' (units d, w, m, y)"
        )
    kind, inactive = found["kind"], found["inactive"] is not None
    amount = int(found["n"])
    if amount < 1:
        raise ConfigError(f"setting 'retention': {line.strip()!r} must keep cases at least 1 "
                          "day")
    if kind == QUARANTINED:
        if inactive:
            raise ConfigError("setting 'retention': 'quarantined' counts from the quarantine; "
                              "write 'quarantined 30d'")
        basis = RetentionBasis.QUARANTINE
    elif kind in {s.value for s in RULE_STATUSES}:
        if not inactive and kind != CaseStatus.CLOSED.value:
            raise ConfigError(f"setting 'retention': an open case is kept by inactivity; write "
                              f"'{kind} inactive {amount}{found['unit']}'")
        basis = RetentionBasis.INACTIVITY if inactive else RetentionBasis.CLOSURE
    else:
        allowed = ", ".join(sorted({s.value for s in RULE_STATUSES} | {QUARANTINED}))
        raise ConfigError(f"setting 'retention': unknown kind {kind!r} (one of {allowed})")
    return RetentionRule(kind=kind, basis=basis, amount=amount, unit=found["unit"])


def parse_rules(value: object) -> tuple[RetentionRule, ...]:
    """The schedule from config.toml (a list of lines) or the environment (``;``-separated)."""
    if isinstance(value, str):
        lines = [part for part in value.split(";") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        lines = list(value)
    else:
        raise ConfigError("setting 'retention' must be a list of rules such as ['closed 6y']")
    rules = tuple(parse_rule(line) for line in lines)
    seen: set[tuple[str, RetentionBasis]] = set()
    for rule in rules:
        if (rule.kind, rule.basis) in seen:
            raise ConfigError(f"setting 'retention': two rules for {rule.kind} "
                              f"({rule.basis.value}); keep one")
        seen.add((rule.kind, rule.basis))
    return rules
