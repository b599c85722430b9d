"""The guard: one decision point for every access, under the deployment's regime.

``Guard.decide`` checks the request in Python (POLICY.md section 2), then decides it once per
data category with Cedar (the schema passed on every call) and combines the per-category
answers exactly as POLICY.md section 2 says. It never raises: an invalid request, a Cedar
``NoDecision``, or any evaluation error is a denial with its reason (invariant I2).

The fast path: a per-category answer depends only on what Cedar reads (the request without
``data``, one category, whether that category is the whole ``data``) and on the policy set.
Whole requests seen before are memoised, under a key that keeps every value *and its type*
(``True`` and ``1`` hash alike in Python; here they do not share an entry). A first-time
request is a lookup too: the regime is compiled into a complete decision table over every
cell (:mod:`safereport.policy.compiled`), proved equal to Cedar over all of them before it
is used, and a category's answer is read from it. A regime that cannot be compiled (a
construct the compiler does not model, or too large) is decided by Cedar, whose per-category
answers are memoised under exactly that key plus the policy hash. Only clean Cedar answers
are memoised: errors are never cached, so the fast path fails closed exactly as Cedar does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from itertools import product
from pathlib import Path
from typing import Any

import cedarpy

from safereport.config import Settings
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    Effect,
    HolderKind,
    Obligation,
    Purpose,
    Recipient,
    Regime,
    ServiceRule,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import InvalidInput
from safereport.policy.compiled import CategoryOutcome, CompiledTable, table_for
from safereport.policy.decision import _DECISION_MINT, Decision, _mint_decision
from safereport.policy.regimes import PolicyPack, load_pack
from safereport.policy.request import ParsedRequest, _check_cross_fields, parse_request

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
_Pieces = tuple[Effect, frozenset[Obligation], tuple[str, ...], tuple[str, ...]]
#: A table leaf worked out once: its (rank, rule, reason) entries by rank, its obligations,
#: and its pieces when it is a request's only category (None: the reason names the request).
_Explained = tuple[tuple[tuple[int, str, str], ...], frozenset[Obligation], _Pieces | None]


def _first(entry: tuple[int, str, str]) -> int:
    return entry[0]


def _explain_leaves(table: CompiledTable, pack: PolicyPack) -> dict[int, _Explained]:
    known = table.derived.get("guard")
    if known is not None:
        return known  # type: ignore[no-any-return]
    explained: dict[int, _Explained] = {}
    for leaf in table.leaf_objects():
        infos = sorted((pack.policies[pid] for pid in leaf.policies), key=lambda i: i.rank)
        entries = tuple((info.rank, info.rule_id, info.reason) for info in infos)
        obligations = frozenset(ob for info in infos for ob in info.obligations)
        rules = tuple(dict.fromkeys(info.rule_id for info in infos))
        reasons = tuple(dict.fromkeys(info.reason for info in infos))
        pieces: _Pieces | None
        if leaf.allowed:
            effect = Effect.CONDITIONAL if obligations else Effect.ALLOW
            pieces = (effect, obligations, rules, reasons)
        else:
            pieces = (Effect.DENY, frozenset(), rules, reasons) if infos else None
        explained[id(leaf)] = (entries, obligations if leaf.allowed else frozenset(), pieces)
    table.derived["guard"] = explained
    return explained


class Guard:
    """Decides requests under one regime. Build with :meth:`load` or :func:`load_guard`."""

    def __init__(self, pack: PolicyPack, *, compiled: bool = True) -> None:
        """``compiled=False`` decides every first-time request with Cedar (no table)."""
        self._pack = pack
        self._cells: dict[_Cell, CategoryOutcome] = {}
        self._whole: dict[tuple[object, ...], Decision] = {}
        self._table: CompiledTable | None = None
        self._explained: dict[int, _Explained] = {}
        self._combos: dict[tuple[int, ...], _Pieces] = {}  # leaves of a request -> answer
        self._shapes: frozenset[tuple[object, ...]] = frozenset()
        self._table_note = "not compiled (compiled=False)"
        if compiled:
            self._table, self._table_note = table_for(pack)
        if self._table is not None:
            self._explained = _explain_leaves(self._table, pack)
            self._shapes = _valid_shapes()  # worked out once per process

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

    @property
    def table(self) -> CompiledTable | None:
        """The regime's decision table, proved equal to Cedar; None when Cedar decides."""
        return self._table

    @property
    def fast_path(self) -> str:
        """How first-time requests are decided, in a sentence (for ``policy`` commands, logs)."""
        table = self._table
        if table is None:
            return f"Cedar, answers memoised (no decision table: {self._table_note})"
        return (
            f"decision table: {table.nodes:,} nodes, {table.leaves:,} leaves, proved equal to "
            f"Cedar over every cell (compiled in {table.compile_seconds:.2f} s, "
            f"proved in {table.verify_seconds:.2f} s)"
        )

    # ---- deciding ----

    def decide(self, request: Mapping[str, Any]) -> Decision:
        """The decision for one request. Never raises."""
        key = _whole_key(request)
        if key is not None:
            try:
                known = self._whole.get(key)
            except TypeError:  # something unhashable in data: the slow path words it
                key = None
            else:
                if known is not None:  # the fast path: one key, one lookup
                    return known
        table = self._table
        if table is None:
            return self.decide_many([request])[0]
        try:
            return self._decide_by_table(request, key, table)
        except Exception as exc:  # fail closed on anything unforeseen (I2)
            return self._internal_error(request, exc)

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

    def _decide_by_table(
        self, request: Mapping[str, Any], key: tuple[object, ...] | None, table: CompiledTable
    ) -> Decision:
        if key is not None:
            decided = self._decide_key(key, table)
            if decided is not None:
                self._remember_whole(key, decided)
                return decided
        try:
            parsed = parse_request(request)
        except InvalidInput as exc:
            if key is not None and _spelled_out(key):
                # Refused the same way every time: remembered, with a copy of the request
                # (the caller's dicts are not kept).
                denied = self._invalid(copy.deepcopy(request), str(exc))
                self._remember_whole(key, denied)
                return denied
            return self._invalid(request, str(exc))
        single = len(parsed.data) == 1
        rest = parsed.rest_key()
        lookup = table.lookup
        outcomes = {category: lookup((category, single, *rest)) for category in parsed.data}
        decision = self._combine(parsed, outcomes)
        if key is not None:
            self._remember_whole(key, decision)
        return decision

    def _decide_key(self, key: tuple[Any, ...], table: CompiledTable) -> Decision | None:
        """A first-time request straight from its whole-request key, when it is plainly valid.

        None when any value is not in its vocabulary, ``data`` is empty, or a cross-field
        rule is broken: ``parse_request`` then decides it and words the reason. (The key
        already holds real booleans in the flag places; see :func:`_whole_key`.)
        """
        try:
            role = _ROLES[key[0]]
            holder = _HOLDERS[key[2]]
            action = _ACTIONS[key[3]]
            purpose = _PURPOSES[key[4]]
            recipient = _RECIPIENTS[key[5]]
            subject = _SUBJECTS[key[6]]
            crime = _CRIMES[key[7]]
            status = _STATUSES[key[8]]
            data = frozenset([_CATEGORIES[category] for category in key[15:]])
        except (KeyError, TypeError):
            return None
        same_org = key[1]
        if not data or (role, same_org, holder, action, recipient, subject) not in self._shapes:
            return None
        rest = (role, same_org, holder, action, purpose, recipient, subject, crime, status)
        rest += key[9:15]
        single = len(data) == 1
        categories = sorted(data) if not single else list(data)
        leaves = []
        for category in categories:  # CompiledTable.lookup, inlined
            cell = (category, single, *rest)
            node: Any = table.root
            while type(node) is tuple:
                node = node[1][cell[node[0]]]
            leaves.append(node)
        pieces = self._table_pieces(role, action, purpose, categories, leaves)
        consent, initiated, automated, ongoing, harm, emergency = key[9:15]
        request = {
            "actor": {"role": role._value_, "same_org": same_org},
            "holder": holder._value_,
            "action": action._value_,
            "purpose": purpose._value_,
            "recipient": recipient._value_,
            "subject": {"role": subject._value_},
            "data": [category._value_ for category in categories],
            "context": {
                "crime_type": crime._value_,
                "status_evidence": status._value_,
                "consent": consent,
                "victim_initiated": initiated,
                "automated": automated,
                "proceedings_ongoing": ongoing,
                "harm_intelligence": harm,
                "emergency": emergency,
            },
        }
        effect, obligations, rules, reasons = pieces
        pack = self._pack
        # Decision's own constructor (and its checks), called positionally: the keyword form
        # of _mint_decision costs as much again on this path.
        return Decision(
            effect, obligations, rules, reasons, pack.regime, pack.policy_hash, data, request,
            _DECISION_MINT,
        )  # fmt: skip

    def _table_pieces(
        self,
        role: ActorRole,
        action: Action,
        purpose: Purpose,
        categories: list[DataCategory],
        leaves: list[CategoryOutcome],
    ) -> _Pieces:
        """:meth:`_pieces` for table leaves, from each leaf's explanation worked out once."""
        explained = self._explained
        if len(leaves) == 1:
            known = explained[id(leaves[0])][2]
            if known is not None:
                return known
            return self._default_pieces(role, action, purpose, categories[0])
        pairs = zip(categories, leaves, strict=True)
        denied = [(category, leaf) for category, leaf in pairs if not leaf.allowed]
        if len(denied) == 1:  # one category denied: its answer alone
            category, leaf = denied[0]
            return explained[id(leaf)][2] or self._default_pieces(role, action, purpose, category)
        combo = tuple([id(leaf) for leaf in leaves])
        known = self._combos.get(combo)
        if known is not None:
            return known
        pieces = self._leaf_pieces(role, action, purpose, categories, leaves)
        if all(explained[number][2] is not None for number in combo):
            # no leaf's reason names the request: the answer is the leaves' alone
            if len(self._combos) >= _CACHE_LIMIT:
                self._combos.clear()
            self._combos[combo] = pieces
        return pieces

    @staticmethod
    def _default_pieces(
        role: ActorRole, action: Action, purpose: Purpose, category: DataCategory
    ) -> _Pieces:
        reason = _default_reason(role, action, purpose, category)
        return Effect.DENY, frozenset(), (_DEFAULT_RULE,), (reason,)

    def _leaf_pieces(
        self,
        role: ActorRole,
        action: Action,
        purpose: Purpose,
        categories: list[DataCategory],
        leaves: list[CategoryOutcome],
    ) -> _Pieces:
        explained = self._explained
        ranked: list[tuple[int, str, str]] = []
        if all(leaf.allowed for leaf in leaves):
            obligations: frozenset[Obligation] = frozenset()
            for leaf in leaves:
                entries, more, _ = explained[id(leaf)]
                ranked += entries
                obligations |= more
            effect = Effect.CONDITIONAL if obligations else Effect.ALLOW
        else:
            obligations, effect = frozenset(), Effect.DENY
            for category, leaf in zip(categories, leaves, strict=True):
                if leaf.allowed:
                    continue
                entries = explained[id(leaf)][0]
                if not entries:
                    reason = _default_reason(role, action, purpose, category)
                    entries = ((1 << 31, _DEFAULT_RULE, reason),)
                ranked += entries
        ranked.sort(key=_first)
        rules = tuple(dict.fromkeys([rule for _, rule, _ in ranked]))
        reasons = tuple(dict.fromkeys([reason for _, _, reason in ranked]))
        return effect, obligations, rules, reasons

    def _decide_many(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        table = self._table
        if table is not None:
            return [self.decide(request) for request in requests]
        results: list[Decision | None] = [None] * len(requests)
        pending: list[tuple[int, tuple[object, ...] | None, ParsedRequest]] = []
        for index, request in enumerate(requests):
            key = _whole_key(request)
            try:
                known = self._whole.get(key) if key is not None else None
            except TypeError:  # something unhashable in data: parse_request words it
                key, known = None, None
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
        effect, obligations, rules, reasons = self._pieces(
            parsed.actor_role, parsed.action, parsed.purpose, outcomes
        )
        return self._mint(parsed, effect, obligations, rules, reasons)

    def _pieces(
        self,
        actor_role: ActorRole,
        action: Action,
        purpose: Purpose,
        outcomes: Mapping[DataCategory, CategoryOutcome],
    ) -> _Pieces:
        """Effect, obligations, rules and reasons from the per-category answers."""
        denied = {c: o for c, o in outcomes.items() if not o.allowed}
        if denied:
            rules, reasons = self._deny_explanation(actor_role, action, purpose, denied)
            return Effect.DENY, frozenset(), rules, reasons
        infos = [self._pack.policies[pid] for o in outcomes.values() for pid in o.policies]
        infos.sort(key=lambda info: info.rank)
        obligations = frozenset(ob for info in infos for ob in info.obligations)
        effect = Effect.CONDITIONAL if obligations else Effect.ALLOW
        rules = tuple(dict.fromkeys(info.rule_id for info in infos))
        reasons = tuple(dict.fromkeys(info.reason for info in infos))
        return effect, obligations, rules, reasons

    def _deny_explanation(
        self,
        actor_role: ActorRole,
        action: Action,
        purpose: Purpose,
        denied: Mapping[DataCategory, CategoryOutcome],
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ranked: list[tuple[int, str, str]] = []
        for category in sorted(denied):
            outcome = denied[category]
            if outcome.error is not None:
                reason = f"Evaluation error ({category}): {outcome.error}"
                ranked.append((-1, _DEFAULT_RULE, reason))
            elif not outcome.policies:
                reason = _default_reason(actor_role, action, purpose, category)
                ranked.append((1 << 31, _DEFAULT_RULE, reason))
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

    def refuse(self, request: Mapping[str, Any], rule: ServiceRule, reason: str) -> Decision:
        """A service refusal (POLICY.md section 6): a deny under ``rule``, with the real reason.

        For a refusal that happens outside the policy's request space (no such case, an
        erased one, a vault failure, an expired package...): ``request`` is the request as far
        as it is known. Anything that is not a :class:`ServiceRule` becomes ``S-malformed``
        (fail closed). Never raises.
        """
        try:
            if not isinstance(rule, ServiceRule):
                reason, rule = f"Not a service rule: {str(rule)[:60]!r}", ServiceRule.MALFORMED
            return self._denial(request, rule.value, str(reason) or "Refused")
        except Exception as exc:
            return self._internal_error({}, exc)

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


def _default_reason(
    actor_role: ActorRole, action: Action, purpose: Purpose, category: DataCategory
) -> str:
    return (
        f"No rule allows a {actor_role} to {action} {category} for "
        f"{purpose} here; anything not allowed is denied."
    )


def _whole_key(request: object) -> tuple[object, ...] | None:
    """A key for a whole request, or None when it is not shaped for one (the slow path decides).

    Only plain ``dict``/``list`` requests whose flags are real booleans get a key. That check
    is what keeps the key sound: only valid requests are ever memoised, so a memoised key has
    text in every other place and booleans in the flag places, and ``True == 1`` with
    ``hash(True) == hash(1)`` in Python, so ``same_org: 1`` (invalid) must never be looked up.
    Text cannot equal a non-text value, so the other places need no check. The key may hold
    an unhashable value (from ``data``); its users treat the ``TypeError`` as "no key".
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
        if not (
            bool is type(same_org) is type(consent) is type(initiated) is type(automated)
            is type(ongoing) is type(harm) is type(emergency)
        ):  # fmt: skip
            return None
        return (
            actor["role"], same_org, request["holder"], request["action"], request["purpose"],
            request["recipient"], subject["role"], context["crime_type"],
            context["status_evidence"], consent, initiated, automated, ongoing, harm,
            emergency, *data,
        )  # fmt: skip
    except (KeyError, TypeError):
        return None


#: The places of a whole-request key (:func:`_whole_key`) that hold the flags (booleans).
_FLAG_PLACES = frozenset({1, 9, 10, 11, 12, 13, 14})


def _spelled_out(key: tuple[object, ...]) -> bool:
    """Whether ``key`` holds exactly ``str`` in every place but the flags (already real
    booleans): then the key determines its request exactly, and an invalid request's refusal,
    a function of the request alone, may be remembered under it. (A key with other values,
    ``1`` or ``1.0`` for a role, say, could equal another's while its refusal words it
    differently: those are decided every time.)"""
    return all(
        place in _FLAG_PLACES or type(value) is str for place, value in enumerate(key)
    )


def _members(enum: type[StrEnum]) -> dict[object, Any]:
    return {member.value: member for member in enum}


_ROLES = _members(ActorRole)
_HOLDERS = _members(HolderKind)
_ACTIONS = _members(Action)
_PURPOSES = _members(Purpose)
_RECIPIENTS = _members(Recipient)
_SUBJECTS = _members(SubjectRole)
_CRIMES = _members(CrimeType)
_STATUSES = _members(StatusEvidence)
_CATEGORIES = _members(DataCategory)


@cache
def _valid_shapes() -> frozenset[tuple[object, ...]]:
    """(role, same_org, holder, action, recipient, subject role) that pass the cross-field rules.

    Found by asking ``request._check_cross_fields`` itself about every combination, so the
    rules stay written once (they read only these six fields).
    """
    valid: set[tuple[object, ...]] = set()
    for role, same_org, holder, action, recipient, subject in product(
        ActorRole, (False, True), HolderKind, Action, Recipient, SubjectRole
    ):
        parsed = ParsedRequest(
            actor_role=role,
            same_org=same_org,
            holder=holder,
            action=action,
            purpose=Purpose.SUPPORT,
            recipient=recipient,
            subject_role=subject,
            data=frozenset({DataCategory.IDENTITY}),
            crime_type=CrimeType.OTHER,
            status_evidence=StatusEvidence.NONE,
            consent=False,
            victim_initiated=False,
            automated=False,
            proceedings_ongoing=False,
            harm_intelligence=False,
            emergency=False,
        )
        try:
            _check_cross_fields(parsed)
        except InvalidInput:
            continue
        valid.add((role, same_org, holder, action, recipient, subject))
    return frozenset(valid)


def load_guard(settings: Settings) -> Guard:
    """The guard for an instance: ``settings.regime`` (a built-in name or a folder)."""
    regime = settings.regime or Regime.FIREWALL.value
    if regime not in {r.value for r in Regime}:
        folder = Path(regime)
        if not folder.is_absolute():
            folder = settings.data_dir / folder
        return Guard.load(folder)
    return Guard.load(regime)
