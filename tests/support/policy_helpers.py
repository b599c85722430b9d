"""Requests for the policy tests: one plain base, changed field by field."""

from __future__ import annotations

from functools import cache
from typing import Any

from safereport.policy.guard import Guard
from safereport.policy.request import make_request

REGIMES = ("firewall", "firewall-consent", "npcc-2020", "npcc-2020-rec1")

BASE: dict[str, Any] = {
    "actor_role": "police_officer",
    "same_org": True,
    "holder": "police",
    "action": "view",
    "purpose": "investigation",
    "recipient": "none",
    "subject_role": "victim",
    "data": ["crime_details"],
    "crime_type": "other",
    "status_evidence": "none",
}


def req(**changes: Any) -> dict[str, Any]:
    return make_request(**{**BASE, **changes})


@cache
def guard(regime: str) -> Guard:
    return Guard.load(regime)
