"""The guard: one decision point for every access, under the deployment's regime.

``Guard.decide`` checks the request in Python (POLICY.md section 2), then decides it once per
data category with Cedar (the schema passed on every call) and combines the per-category
answers exactly as POLICY.md section 2 says. It never raises: an invalid request, a Cedar
``NoDecision``, or any evaluation error is a denial with its reason (invariant I2).

The fast path: a per-category answer depends only on what Cedar reads (the request without
``data``, one category, whether that category is the whole ``data``) and on the policy set.
Those answers are memoised under exactly that key plus the policy hash, so a repeated
category is a dictionary lookup rather than a Cedar call; whole requests seen before are
memoised too, under a key that keeps every value *and its type* (``True`` and ``1`` hash
alike in Python; here they do not share an entry). Only clean Cedar answers are memoised:
errors are never cached, so the fast path fails closed exactly as Cedar does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from safereport.config import Settings
from safereport.domain.vocabulary import DataCategory, Effect, Obligation, Regime
from safereport.errors import InvalidInput
from safereport.policy.decision import Decision, _mint_decision
from safereport.policy.regimes import PolicyPack, load_pack
from safereport.policy.request import ParsedRequest, parse_request

__all__ = ["CategoryOutcome", "Guard", "RuleText", "cedar_request", "load_guard"]

_NS = "SafeReport"
_EMPTY_ENTITIES = cedarpy.Entities.from_json_str("[]")
_DEFAULT_RULE = "C-default"
_CACHE_LIMIT = 1 << 18


@dataclass(frozen=True, slots=True)
class RuleText:
    """One rule of a regime in plain English (for the victim-facing pages)."""

    id: str
    kind: str  # "allow" or "deny"
    text: str


@dataclass(frozen=True, slots=True)
class CategoryOutcome:
    """Cedar's answer for one data category."""

    allowed: bool
    policies: tuple[str, ...]  # Cedar ids of the policies that decided it
    error: str | None = None


def _entity(kind: str, value: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": f"{_NS}::{kind}", "id": value}}


def cedar_request(parsed: ParsedRequest, category: DataCategory, single: bool) -> dict[str, Any]:
    """The Cedar request for one category of a valid request."""
    return {
        "principal": {"type": f"{_NS}::Role", "id": parsed.actor_role.value},
        "action": {"type": f"{_NS}::Action", "id": parsed.action.value},
        "resource": {"type": f"{_NS}::Category", "id": category.value},
        "context": {
            "same_org": parsed.same_org,
            "holder": _entity("Holder", parsed.holder.value),
            "purpose": _entity("Purpose", parsed.purpose.value),
            "recipient": _entity("Recipient", parsed.recipient.value),
            "subject_role": _entity("SubjectRole", parsed.subject_role.value),
            "single_category": single,
            "crime_type": _entity("CrimeType", parsed.crime_type.value),
            "status_evidence": _entity("StatusEvidence", parsed.status_evidence.value),
            "consent": parsed.consent,
            "victim_initiated": parsed.victim_initiated,
            "automated": parsed.automated,
            "proceedings_ongoing": parsed.proceedings_ongoing,
            "harm_intelligence": parsed.harm_intelligence,
            "emergency": parsed.emergency,
        },
    }


def _outcome(result: cedarpy.AuthzResult) -> CategoryOutcome:
    errors = list(result.diagnostics.errors)
    if errors:
        return CategoryOutcome(False, (), "; ".join(str(error) for error in errors))
    if result.decision == cedarpy.Decision.Allow:
        return CategoryOutcome(True, tuple(result.diagnostics.reasons))
    if result.decision == cedarpy.Decision.Deny:
        return CategoryOutcome(False, tuple(result.diagnostics.reasons))
    return CategoryOutcome(False, (), "Cedar reached no decision")


_Cell = tuple[object, ...]


class Guard:
    """Decides requests under one regime. Build with :meth:`load` or :func:`load_guard`."""

    def __init__(self, pack: PolicyPack) -> None:
        self._pack = pack
        self._cells: dict[_Cell, CategoryOutcome] = {}
        self._whole: dict[tuple[object, ...], Decision] = {}

    @classmethod
    def load(cls, regime: str | Path) -> Guard:
        """A built-in regime name or a folder of ``.cedar`` files; PolicyError if invalid."""
        return cls(load_pack(regime))

    @property
    def regime(self) -> str:
        return self._pack.regime

    @property
    def policy_hash(self) -> str:
        return self._pack.policy_hash

    @property
    def pack(self) -> PolicyPack:
        return self._pack

    # ---- deciding ----

    def decide(self, request: Mapping[str, Any]) -> Decision:
        """The decision for one request. Never raises."""
        key = _whole_key(request)
        if key is not None:
            known = self._whole.get(key)
            if known is not None:  # the fast path: one key, one lookup
                return known
        return self.decide_many([request])[0]

    def decide_many(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Decisions in order; every category not yet known is sent to Cedar in one batch."""
        try:
            return self._decide_many(requests)
        except Exception as exc:  # fail closed on anything unforeseen (I2)
            return [self._internal_error(request, exc) for request in requests]

    def decide_uncached(self, request: Mapping[str, Any]) -> Decision:
        """Direct Cedar, no memo: the reference the fast path is tested and benchmarked against."""
        try:
            parsed = parse_request(request)
        except InvalidInput as exc:
            return self._invalid(request, str(exc))
        try:
            categories = sorted(parsed.data)
            single = len(categories) == 1
            outcomes = self._ask_cedar([cedar_request(parsed, c, single) for c in categories])
            return self._combine(parsed, dict(zip(categories, outcomes, strict=True)))
        except Exception as exc:
            return self._internal_error(request, exc)

    def _decide_many(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        results: list[Decision | None] = [None] * len(requests)
        pending: list[tuple[int, tuple[object, ...] | None, ParsedRequest]] = []
        for index, request in enumerate(requests):
            key = _whole_key(request)
            known = self._whole.get(key) if key is not None else None
            if known is not None:
                results[index] = known
                continue
            try:
                pending.append((index, key, parse_request(request)))
            except InvalidInput as exc:
                results[index] = self._invalid(request, str(exc))
        errors = self._fill_cells(parsed for _, _, parsed in pending)
        for index, key, parsed in pending:
            outcomes = self._outcomes(parsed, errors)
            decision = self._combine(parsed, outcomes)
            results[index] = decision
            if key is not None and all(o.error is None for o in outcomes.values()):
                self._remember_whole(key, decision)
        return [decision for decision in results if decision is not None]

    def _cell(self, parsed: ParsedRequest, category: DataCategory) -> _Cell:
        # Everything Cedar reads, and the policy set it reads it with.
        return (self._pack.policy_hash, category, len(parsed.data) == 1, *parsed.rest_key())

    def _fill_cells(self, parsed_requests: Iterable[ParsedRequest]) -> dict[_Cell, CategoryOutcome]:
        """Ask Cedar about every unknown cell at once; return the cells that failed (never kept)."""
        missing: dict[_Cell, dict[str, Any]] = {}
        for parsed in parsed_requests:
            single = len(parsed.data) == 1
            for category in parsed.data:
                cell = self._cell(parsed, category)
                if cell not in self._cells and cell not in missing:
                    missing[cell] = cedar_request(parsed, category, single)
        if not missing:
            return {}
        outcomes = self._ask_cedar(list(missing.values()))
        if len(self._cells) + len(missing) > _CACHE_LIMIT:
            self._cells.clear()
        errors: dict[_Cell, CategoryOutcome] = {}
        for cell, outcome in zip(missing, outcomes, strict=True):
            if outcome.error is None:
                self._cells[cell] = outcome
            else:
                errors[cell] = outcome
        return errors

    def _outcomes(
        self, parsed: ParsedRequest, errors: Mapping[_Cell, CategoryOutcome]
    ) -> dict[DataCategory, CategoryOutcome]:
        outcomes: dict[DataCategory, CategoryOutcome] = {}
        for category in parsed.data:
            cell = self._cell(parsed, category)
            found = errors.get(cell) or self._cells.get(cell)
            outcomes[category] = found or CategoryOutcome(False, (), "no answer from Cedar")
        return outcomes

    def _remember_whole(self, key: tuple[object, ...], decision: Decision) -> None:
        if len(self._whole) >= _CACHE_LIMIT:
            self._whole.clear()
        self._whole[key] = decision

    def _ask_cedar(self, cedar_requests: list[dict[str, Any]]) -> list[CategoryOutcome]:
        results = cedarpy.is_authorized_batch(
            cedar_requests, self._pack.policy_set, _EMPTY_ENTITIES, schema=self._pack.schema
        )
        if len(results) != len(cedar_requests):
            raise RuntimeError("Cedar answered a different number of requests")
        return [_outcome(result) for result in results]

    # ---- combining (POLICY.md section 2) ----

    def _combine(
        self, parsed: ParsedRequest, outcomes: Mapping[DataCategory, CategoryOutcome]
    ) -> Decision:
        denied = {c: o for c, o in outcomes.items() if not o.allowed}
        if denied:
            rules, reasons = self._deny_explanation(parsed, denied)
            return self._mint(parsed, Effect.DENY, frozenset(), rules, reasons)
        infos = [self._pack.policies[pid] for o in outcomes.values() for pid in o.policies]
        infos.sort(key=lambda info: info.rank)
        obligations = frozenset(ob for info in infos for ob in info.obligations)
        effect = Effect.CONDITIONAL if obligations else Effect.ALLOW
        rules = tuple(dict.fromkeys(info.rule_id for info in infos))
        reasons = tuple(dict.fromkeys(info.reason for info in infos))
        return self._mint(parsed, effect, obligations, rules, reasons)

    def _deny_explanation(
        self, parsed: ParsedRequest, denied: Mapping[DataCategory, CategoryOutcome]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ranked: list[tuple[int, str, str]] = []
        for category in sorted(denied):
            outcome = denied[category]
            if outcome.error is not None:
                reason = f"Evaluation error ({category}): {outcome.error}"
                ranked.append((-1, _DEFAULT_RULE, reason))
            elif not outcome.policies:
                ranked.append((1 << 31, _DEFAULT_RULE, _default_reason(parsed, category)))
            for pid in outcome.policies:
                info = self._pack.policies[pid]
                ranked.append((info.rank, info.rule_id, info.reason))
        ranked.sort(key=lambda item: item[0])
        rules = tuple(dict.fromkeys(rule for _, rule, _ in ranked))
        reasons = tuple(dict.fromkeys(reason for _, _, reason in ranked))
        return rules, reasons

    def _mint(
        self,
        parsed: ParsedRequest,
        effect: Effect,
        obligations: frozenset[Obligation],
        rules: tuple[str, ...],
        reasons: tuple[str, ...],
    ) -> Decision:
        return _mint_decision(
            effect=effect,
            obligations=obligations,
            rules=rules,
            reasons=reasons,
            regime=self._pack.regime,
            policy_hash=self._pack.policy_hash,
            categories=parsed.data,
            request=parsed.as_dict(),
        )

    def _denial(self, request: object, rule: str, reason: str) -> Decision:
        return _mint_decision(
            effect=Effect.DENY,
            obligations=frozenset(),
            rules=(rule,),
            reasons=(reason,),
            regime=self._pack.regime,
            policy_hash=self._pack.policy_hash,
            categories=frozenset(),
            request=dict(request) if isinstance(request, Mapping) else {},
        )

    def _invalid(self, request: object, message: str) -> Decision:
        return self._denial(request, _DEFAULT_RULE, f"Invalid request: {message}")

    def _internal_error(self, request: object, exc: Exception) -> Decision:
        try:
            return self._denial(request, _DEFAULT_RULE, f"Evaluation error: {type(exc).__name__}")
        except Exception:
            return self._denial({}, _DEFAULT_RULE, "Evaluation error")

    # ---- explaining ----

    def explain(self) -> list[RuleText]:
        """The rules of this regime in plain English, generated from the policy files."""
        from safereport.policy.explain import explain_pack

        return [text for text in explain_pack(self._pack) if isinstance(text, RuleText)]


def _default_reason(parsed: ParsedRequest, category: DataCategory) -> str:
    return (
        f"No rule allows a {parsed.actor_role} to {parsed.action} {category} for "
        f"{parsed.purpose} here; anything not allowed is denied."
    )


def _whole_key(request: object) -> tuple[object, ...] | None:
    """A key for a whole request, or None when it is not shaped for one (the slow path decides).

    Only plain ``dict``/``list`` requests whose flags are real booleans get a key. That check
    is what keeps the key sound: only valid requests are ever memoised, so a memoised key has
    text in every other place and booleans in the flag places, and ``True == 1`` with
    ``hash(True) == hash(1)`` in Python, so ``same_org: 1`` (invalid) must never be looked up.
    Text cannot equal a non-text value, so the other places need no check.
    """
    if type(request) is not dict or len(request) != 8:
        return None
    try:
        actor = request["actor"]
        subject = request["subject"]
        context = request["context"]
        data = request["data"]
        if type(actor) is not dict or type(subject) is not dict or type(context) is not dict:
            return None
        if type(data) is not list or len(actor) != 2 or len(subject) != 1 or len(context) != 8:
            return None
        same_org, consent, initiated = (
            actor["same_org"], context["consent"], context["victim_initiated"],
        )  # fmt: skip
        automated, ongoing, harm, emergency = (
            context["automated"], context["proceedings_ongoing"],
            context["harm_intelligence"], context["emergency"],
        )  # fmt: skip
        if (
            type(same_org) is not bool or type(consent) is not bool
            or type(initiated) is not bool or type(automated) is not bool
            or type(ongoing) is not bool or type(harm) is not bool
            or type(emergency) is not bool
        ):  # fmt: skip
            return None
        key = (
            actor["role"], same_org, request["holder"], request["action"], request["purpose"],
            request["recipient"], subject["role"], context["crime_type"],
            context["status_evidence"], consent, initiated, automated, ongoing, harm,
            emergency, *data,
        )  # fmt: skip
        hash(key)
        return key
    except (KeyError, TypeError):
        return None


def load_guard(settings: Settings) -> Guard:
    """The guard for an instance: ``settings.regime`` (a built-in name or a folder)."""
    regime = settings.regime or Regime.FIREWALL.value
    if regime not in {r.value for r in Regime}:
        folder = Path(regime)
        if not folder.is_absolute():
            folder = settings.data_dir / folder
        return Guard.load(folder)
    return Guard.load(regime)
