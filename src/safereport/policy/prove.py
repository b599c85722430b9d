"""Properties P1 to P8 of POLICY.md section 4, proved over every request the vocabulary admits.

Method: the regime is translated to z3 (:mod:`safereport.policy.smt`) together with the
request validity rules, and for each property z3 is asked for a valid request that breaks it.
``unsat`` is a proof over the whole request space (every field, every value, every non-empty
set of data categories); ``sat`` gives a counterexample, which is then decided by the real
guard (Cedar) and reported only if Cedar agrees, so a translation fault can never pass for a
broken policy, nor a broken policy for a proof: a disagreement is an error of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    DataCategory,
    HolderKind,
    Obligation,
    Recipient,
    Regime,
    SubjectRole,
)
from safereport.errors import PolicyError
from safereport.policy.guard import Guard
from safereport.policy.request import CONTEXT_FLAGS, ParsedRequest, parse_request
from safereport.policy.smt import RegimeFormulas, RequestVars, encode, valid_request

__all__ = [
    "PROPERTIES",
    "REGIME_PROPERTIES",
    "Property",
    "PropertyResult",
    "admitted_request_count",
    "prove",
    "resolve_properties",
]


@dataclass(frozen=True)
class Property:
    id: str
    text: str
    #: A violation: a valid request that the property forbids but the regime allows.
    violation: Callable[[RegimeFormulas], Any]
    #: The same test on a concrete decided request, to confirm a counterexample with Cedar.
    confirm: Callable[[ParsedRequest, Any], bool]


def _victim_or_witness(v: RequestVars) -> Any:
    return v.is_("SubjectRole", "victim", "witness")


def _p1_exception(v: RequestVars) -> Any:
    """Victim-initiated, consented disclosure for regularisation, by her or her service."""
    return z3.And(
        v.is_("Action", "disclose"),
        v.flags["victim_initiated"],
        v.flags["consent"],
        v.is_("Purpose", "regularisation_support"),
        z3.Or(
            v.is_("Role", "victim"),
            z3.And(
                v.is_("Role", "caseworker", "supervisor"),
                v.flags["same_org"],
                v.is_("Holder", "support_service"),
            ),
        ),
    )


def _staff_to_ie_unguarded(f: RegimeFormulas) -> Any:
    """Staff carrying out her request to Immigration Enforcement without all three obligations.

    POLICY.md v2: that disclosure is conditional [record_justification, supervisor_approval,
    notify_subject]; one staff member's word never suffices, so dropping any of the three is a
    violation of P1 (and of P7 and P8, which keep the same exception).
    """
    v = f.vars
    return z3.And(
        f.allowed,
        v.is_("Recipient", "immigration_enforcement"),
        z3.Not(v.is_("Role", "victim")),
        z3.Not(
            z3.And(
                f.obligations[Obligation.RECORD_JUSTIFICATION],
                f.obligations[Obligation.SUPERVISOR_APPROVAL],
                f.obligations[Obligation.NOTIFY_SUBJECT],
            )
        ),
        _p1_exception(v),
    )


def _staff_to_ie_unguarded_concrete(p: ParsedRequest, d: Any) -> bool:
    needed = {
        Obligation.RECORD_JUSTIFICATION,
        Obligation.SUPERVISOR_APPROVAL,
        Obligation.NOTIFY_SUBJECT,
    }
    return (
        d.allowed
        and p.recipient is Recipient.IMMIGRATION_ENFORCEMENT
        and p.actor_role is not ActorRole.VICTIM
        and _p1_exc_concrete(p)
        and not needed <= set(d.obligations)
    )


def _abuse_exception(v: RequestVars) -> Any:
    """C-victim-directed's kind of request (the only way immigration_abuse reaches IE)."""
    return z3.And(
        v.is_("Action", "disclose"),
        v.flags["victim_initiated"],
        v.flags["consent"],
        v.is_("Purpose", "regularisation_support"),
        z3.Or(
            v.is_("Role", "victim"),
            z3.And(
                v.is_("Role", "caseworker", "supervisor", "police_officer"),
                v.flags["same_org"],
            ),
        ),
    )


def _abuse_exc_concrete(p: ParsedRequest) -> bool:
    by_her = p.actor_role is ActorRole.VICTIM or (
        p.actor_role in (ActorRole.CASEWORKER, ActorRole.SUPERVISOR, ActorRole.POLICE_OFFICER)
        and p.same_org
    )
    return (
        p.action is Action.DISCLOSE
        and p.victim_initiated
        and p.consent
        and p.purpose == "regularisation_support"
        and by_her
    )


def _consent_exception(v: RequestVars) -> Any:
    """C-consent's kind of request (POLICY.md 3.5)."""
    return z3.And(
        v.is_("Role", "police_officer"),
        v.flags["same_org"],
        v.is_("Holder", "police"),
        z3.Not(v.flags["automated"]),
        v.is_("Action", "disclose"),
        v.is_("Recipient", "immigration_enforcement"),
        v.is_("Purpose", "immigration_enforcement", "regularisation_support"),
        v.flags["consent"],
    )


def _to_ie(v: RequestVars) -> Any:
    return z3.And(v.is_("Recipient", "immigration_enforcement"), _victim_or_witness(v))


def _ie_purpose(v: RequestVars) -> Any:
    return z3.And(
        v.is_("Purpose", "immigration_enforcement", "immigration_status_check"),
        _victim_or_witness(v),
    )


def _p7(f: RegimeFormulas) -> Any:
    v = f.vars
    exception = z3.Or(_p1_exception(v), _consent_exception(v))
    wider = z3.Or(
        z3.And(_to_ie(v), z3.Not(exception)),
        z3.And(_ie_purpose(v), z3.Not(_consent_exception(v))),
    )
    # Within the exception, C-consent's obligations are never dropped.
    unguarded = z3.And(
        _consent_exception(v),
        z3.Not(_p1_exception(v)),
        _victim_or_witness(v),
        z3.Not(
            z3.And(
                f.obligations[Obligation.RECORD_JUSTIFICATION],
                f.obligations[Obligation.NOTIFY_SUBJECT],
            )
        ),
    )
    staff_alone = z3.And(_to_ie(v), _staff_to_ie_unguarded(f))
    return z3.Or(z3.And(f.allowed, z3.Or(wider, unguarded)), staff_alone)


def _vw(p: ParsedRequest) -> bool:
    return p.subject_role in (SubjectRole.VICTIM, SubjectRole.WITNESS)


def _p1_exc_concrete(p: ParsedRequest) -> bool:
    by_her = p.actor_role is ActorRole.VICTIM or (
        p.actor_role in (ActorRole.CASEWORKER, ActorRole.SUPERVISOR)
        and p.same_org
        and p.holder is HolderKind.SUPPORT_SERVICE
    )
    return (
        p.action is Action.DISCLOSE
        and p.victim_initiated
        and p.consent
        and p.purpose == "regularisation_support"
        and by_her
    )


def _consent_concrete(p: ParsedRequest) -> bool:
    return (
        p.actor_role is ActorRole.POLICE_OFFICER
        and p.same_org
        and p.holder is HolderKind.POLICE
        and not p.automated
        and p.action is Action.DISCLOSE
        and p.recipient is Recipient.IMMIGRATION_ENFORCEMENT
        and p.purpose in ("immigration_enforcement", "regularisation_support")
        and p.consent
    )


def _p7_concrete(p: ParsedRequest, d: Any) -> bool:
    if not d.allowed:
        return False
    if _vw(p) and _staff_to_ie_unguarded_concrete(p, d):
        return True
    to_ie = p.recipient is Recipient.IMMIGRATION_ENFORCEMENT and _vw(p)
    ie_purpose = _vw(p) and p.purpose in ("immigration_enforcement", "immigration_status_check")
    if to_ie and not (_p1_exc_concrete(p) or _consent_concrete(p)):
        return True
    if ie_purpose and not _consent_concrete(p):
        return True
    needed = {Obligation.RECORD_JUSTIFICATION, Obligation.NOTIFY_SUBJECT}
    return (
        _consent_concrete(p)
        and not _p1_exc_concrete(p)
        and _vw(p)
        and not needed <= set(d.obligations)
    )


PROPERTIES: Mapping[str, Property] = {
    p.id: p
    for p in (
        Property(
            "P1",
            "no victim's or witness's data to Immigration Enforcement, except her own "
            "consented request for regularisation_support, made by her or her support service",
            lambda f: z3.Or(
                z3.And(f.allowed, _to_ie(f.vars), z3.Not(_p1_exception(f.vars))),
                z3.And(_to_ie(f.vars), _staff_to_ie_unguarded(f)),
            ),
            lambda p, d: (
                d.allowed
                and p.recipient is Recipient.IMMIGRATION_ENFORCEMENT
                and _vw(p)
                and (not _p1_exc_concrete(p) or _staff_to_ie_unguarded_concrete(p, d))
            ),
        ),
        Property(
            "P2",
            "nothing allowed for immigration_enforcement or immigration_status_check "
            "on a victim or witness",
            lambda f: z3.And(f.allowed, _ie_purpose(f.vars)),
            lambda p, d: (
                d.allowed
                and _vw(p)
                and p.purpose in ("immigration_enforcement", "immigration_status_check")
            ),
        ),
        Property(
            "P3",
            "database_check for immigration_status_check is always denied",
            lambda f: z3.And(
                f.allowed,
                f.vars.is_("Action", "database_check"),
                f.vars.is_("Purpose", "immigration_status_check"),
            ),
            lambda p, d: (
                d.allowed
                and p.action is Action.DATABASE_CHECK
                and p.purpose == "immigration_status_check"
            ),
        ),
        Property(
            "P4",
            "an automated disclosure to Immigration Enforcement is always denied",
            lambda f: z3.And(
                f.allowed,
                f.vars.flags["automated"],
                f.vars.is_("Recipient", "immigration_enforcement"),
            ),
            lambda p, d: (
                d.allowed and p.automated and p.recipient is Recipient.IMMIGRATION_ENFORCEMENT
            ),
        ),
        Property(
            "P5",
            "admin, auditor and analyst never view a record",
            lambda f: z3.And(
                f.allowed,
                f.vars.is_("Role", "admin", "auditor", "analyst"),
                f.vars.is_("Action", "view"),
            ),
            lambda p, d: (
                d.allowed
                and p.actor_role in (ActorRole.ADMIN, ActorRole.AUDITOR, ActorRole.ANALYST)
                and p.action is Action.VIEW
            ),
        ),
        Property(
            "P6",
            "immigration_officer is never allowed anything",
            lambda f: z3.And(f.allowed, f.vars.is_("Role", "immigration_officer")),
            lambda p, d: d.allowed and p.actor_role is ActorRole.IMMIGRATION_OFFICER,
        ),
        Property(
            "P7",
            "as P1 and P2, with the express-consent exception (C-consent, with its "
            "obligations) and nothing wider",
            _p7,
            _p7_concrete,
        ),
        Property(
            "P8",
            "nothing whose data includes immigration_abuse goes to Immigration Enforcement, "
            "except C-victim-directed requests",
            lambda f: z3.And(
                f.allowed,
                f.vars.data[DataCategory.IMMIGRATION_ABUSE],
                f.vars.is_("Recipient", "immigration_enforcement"),
                z3.Not(_abuse_exception(f.vars)),
            ),
            lambda p, d: (
                d.allowed
                and DataCategory.IMMIGRATION_ABUSE in p.data
                and p.recipient is Recipient.IMMIGRATION_ENFORCEMENT
                and not _abuse_exc_concrete(p)
            ),
        ),
    )
}

REGIME_PROPERTIES: Mapping[Regime, tuple[str, ...]] = {
    Regime.FIREWALL: ("P1", "P2", "P3", "P4", "P5", "P6", "P8"),
    Regime.FIREWALL_CONSENT: ("P3", "P4", "P5", "P6", "P7", "P8"),
    Regime.NPCC_2020: ("P3", "P4", "P5", "P6", "P8"),
    Regime.NPCC_2020_REC1: ("P3", "P4", "P5", "P6", "P8"),
}


def resolve_properties(names: str | None, regime: str) -> tuple[str, ...]:
    """``--properties``: a built-in regime's set, or ids like ``P1,P3``; default by regime."""
    if not names:
        builtin = {r.value: r for r in Regime}
        return REGIME_PROPERTIES[builtin.get(regime, Regime.FIREWALL)]
    if names in {r.value for r in Regime}:
        return REGIME_PROPERTIES[Regime(names)]
    chosen = tuple(part.strip().upper() for part in names.split(",") if part.strip())
    unknown = [name for name in chosen if name not in PROPERTIES]
    if unknown or not chosen:
        raise PolicyError(
            f"--properties: unknown {', '.join(unknown) or 'empty list'}; use P1..P8 "
            "or a built-in regime name"
        )
    return chosen


@dataclass(frozen=True)
class PropertyResult:
    id: str
    text: str
    holds: bool
    counterexample: Mapping[str, Any] | None = None
    decision: Any = None


def prove(guard: Guard, property_ids: Sequence[str]) -> list[PropertyResult]:
    """Each property, proved by z3 over every valid request, or refuted with a counterexample."""
    v = RequestVars.fresh()
    formulas = encode(guard.pack, v)
    base = valid_request(v)
    results: list[PropertyResult] = []
    for pid in property_ids:
        prop = PROPERTIES[pid]
        solver = z3.Solver()
        solver.add(base, prop.violation(formulas))
        verdict = solver.check()
        if verdict == z3.unsat:
            results.append(PropertyResult(pid, prop.text, True))
            continue
        if verdict != z3.sat:
            raise PolicyError(f"{pid}: z3 could not decide ({verdict})")
        request = v.request_from(solver.model())
        decision = guard.decide_uncached(request)
        if not prop.confirm(parse_request(request), decision):
            raise PolicyError(
                f"{pid}: the prover's model of {guard.regime} disagrees with Cedar on {request}"
            )
        results.append(PropertyResult(pid, prop.text, False, request, decision))
    return results


def admitted_request_count() -> int:
    """How many distinct valid requests the vocabulary admits (``data`` as a set)."""
    flags = 1 << len(CONTEXT_FLAGS)
    # purpose, crime type, status evidence, flags, non-empty data sets
    others = 11 * 6 * 4 * flags * ((1 << len(DataCategory)) - 1)
    count = 0
    for role, same_org, holder, action, recipient, subject in itertools.product(
        ActorRole, (False, True), HolderKind, Action, Recipient, SubjectRole
    ):
        if _valid_shape(role, same_org, holder, action, recipient, subject):
            count += 1
    return count * others


def _valid_shape(
    role: ActorRole,
    same_org: bool,
    holder: HolderKind,
    action: Action,
    recipient: Recipient,
    subject: SubjectRole,
) -> bool:
    needs = action in (Action.DISCLOSE, Action.PUBLISH_STATISTICS)
    if needs == (recipient is Recipient.NONE):
        return False
    staff = role in (ActorRole.CASEWORKER, ActorRole.SUPERVISOR)
    if same_org and staff and holder is not HolderKind.SUPPORT_SERVICE:
        return False
    police = role in (ActorRole.POLICE_OFFICER, ActorRole.POLICE_SYSTEM)
    if same_org and police and holder is not HolderKind.POLICE:
        return False
    return not (role is ActorRole.VICTIM and subject is SubjectRole.SUSPECT)
