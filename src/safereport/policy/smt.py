"""A regime as z3 formulas over every request the vocabulary admits.

Each Cedar policy is translated from its syntax tree (``cedarpy.pst``) into a z3 formula over
the request's fields: closed sets are integers bounded to their vocabulary, flags are booleans
and ``data`` is one boolean per category. The translation covers the Cedar the regimes use
(scope constraints, ``==``, ``!=``, ``&&``, ``||``, ``!``, set ``contains``, ``has``,
``if``); anything else raises :class:`UnsupportedPolicy`, so a regime is never "proved" by a
translation that silently dropped part of it. With validated policies and a request built
against the schema, Cedar raises no evaluation errors, so no error semantics are needed.

Per-category evaluation and combination follow POLICY.md section 2 exactly: a category is
allowed when some permit matches and no forbid does; the request is allowed when ``data`` is
non-empty and every category in it is allowed; obligations are the union over the permits
that match in the request's categories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import z3
from cedarpy import pst

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Obligation,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import PolicyError
from safereport.policy.regimes import PolicyPack
from safereport.policy.request import CONTEXT_FLAGS, make_request

__all__ = ["RegimeFormulas", "RequestVars", "UnsupportedPolicy", "encode", "valid_request"]

#: Cedar entity type name -> the vocabulary enum it enumerates.
ENUMS: Mapping[str, type[StrEnum]] = {
    "Role": ActorRole,
    "Action": Action,
    "Category": DataCategory,
    "Holder": HolderKind,
    "Purpose": Purpose,
    "Recipient": Recipient,
    "SubjectRole": SubjectRole,
    "CrimeType": CrimeType,
    "StatusEvidence": StatusEvidence,
}
#: Context attribute -> Cedar entity type (the enum-valued ones).
_ENUM_ATTRS = {
    "holder": "Holder",
    "purpose": "Purpose",
    "recipient": "Recipient",
    "subject_role": "SubjectRole",
    "crime_type": "CrimeType",
    "status_evidence": "StatusEvidence",
}
_BOOL_ATTRS = ("same_org", "single_category", *CONTEXT_FLAGS)


class UnsupportedPolicy(PolicyError):
    """A policy uses Cedar the prover cannot translate: nothing is claimed about it."""


def index(kind: str, value: str) -> int:
    members = [member.value for member in ENUMS[kind]]
    if value not in members:
        raise UnsupportedPolicy(f"{kind}::{value!r} is not in the vocabulary")
    return members.index(value)


@dataclass(frozen=True)
class RequestVars:
    """The z3 variables of one request."""

    enums: Mapping[str, Any]  # "Role", "Action", and the _ENUM_ATTRS values -> z3 Int
    flags: Mapping[str, Any]  # same_org and the context flags -> z3 Bool
    data: Mapping[DataCategory, Any]  # category -> z3 Bool

    @classmethod
    def fresh(cls, prefix: str = "") -> RequestVars:
        kinds = ["Role", "Action", *_ENUM_ATTRS.values()]
        return cls(
            enums={kind: z3.Int(f"{prefix}{kind}") for kind in kinds},
            flags={name: z3.Bool(f"{prefix}{name}") for name in ("same_org", *CONTEXT_FLAGS)},
            data={cat: z3.Bool(f"{prefix}data_{cat.value}") for cat in DataCategory},
        )

    def domain(self) -> Any:
        bounds = [z3.And(var >= 0, var < len(ENUMS[kind])) for kind, var in self.enums.items()]
        return z3.And(*bounds, z3.Or(*self.data.values()))

    def single(self) -> Any:
        return z3.Sum([z3.If(d, 1, 0) for d in self.data.values()]) == 1

    def is_(self, kind: str, *values: str) -> Any:
        return z3.Or(*[self.enums[kind] == index(kind, value) for value in values])

    def attr(self, name: str) -> Any:
        if name in _ENUM_ATTRS:
            return self.enums[_ENUM_ATTRS[name]]
        if name == "single_category":
            return self.single()
        return self.flags[name]

    def request_from(self, model: Any) -> dict[str, Any]:
        """The request in POLICY.md's shape that a z3 model describes."""

        def pick(kind: str) -> str:
            value = model.eval(self.enums[kind], model_completion=True).as_long()
            return str(list(ENUMS[kind])[value].value)

        def flag(name: str) -> bool:
            return bool(z3.is_true(model.eval(self.flags[name], model_completion=True)))

        data = [c.value for c, d in self.data.items() if z3.is_true(model.eval(d, True))]
        return make_request(
            actor_role=pick("Role"),
            same_org=flag("same_org"),
            holder=pick("Holder"),
            action=pick("Action"),
            purpose=pick("Purpose"),
            recipient=pick("Recipient"),
            subject_role=pick("SubjectRole"),
            data=data,
            crime_type=pick("CrimeType"),
            status_evidence=pick("StatusEvidence"),
            **{name: flag(name) for name in CONTEXT_FLAGS},
        )


def valid_request(v: RequestVars) -> Any:
    """POLICY.md section 2's cross-field rules (mirrors ``request.parse_request``)."""
    needs_recipient = v.is_("Action", "disclose", "publish_statistics")
    no_recipient = v.is_("Recipient", "none")
    same_org = v.flags["same_org"]
    return z3.And(
        v.domain(),
        needs_recipient == z3.Not(no_recipient),
        z3.Implies(
            z3.And(same_org, v.is_("Role", "caseworker", "supervisor")),
            v.is_("Holder", "support_service"),
        ),
        z3.Implies(
            z3.And(same_org, v.is_("Role", "police_officer", "police_system")),
            v.is_("Holder", "police"),
        ),
        z3.Not(z3.And(v.is_("Role", "victim"), v.is_("SubjectRole", "suspect"))),
    )


@dataclass(frozen=True)
class RegimeFormulas:
    """A regime's decision for the request ``vars``, as formulas."""

    vars: RequestVars
    allowed: Any
    obligations: Mapping[Obligation, Any]

    def effect_is(self, effect: str) -> Any:
        any_obligation = z3.Or(*self.obligations.values())
        if effect == "deny":
            return z3.Not(self.allowed)
        if effect == "conditional":
            return z3.And(self.allowed, any_obligation)
        return z3.And(self.allowed, z3.Not(any_obligation))


def encode(pack: PolicyPack, v: RequestVars) -> RegimeFormulas:
    """The regime's decision on ``v`` (POLICY.md section 2), as z3 formulas."""
    category_allowed = []
    per_obligation: dict[Obligation, list[Any]] = {ob: [] for ob in Obligation}
    for category in DataCategory:
        env = _Env(v, category)
        permits: list[Any] = []
        forbids: list[Any] = []
        for info in pack.policies.values():
            match = env.policy(info.template)
            (permits if info.kind == "allow" else forbids).append(match)
            for obligation in info.obligations:
                per_obligation[obligation].append(z3.And(v.data[category], match))
        allowed = z3.And(z3.Or(*permits), z3.Not(z3.Or(*forbids)))
        category_allowed.append(z3.Implies(v.data[category], allowed))
    allowed = z3.And(z3.Or(*v.data.values()), *category_allowed)
    obligations = {ob: z3.And(allowed, z3.Or(*terms)) for ob, terms in per_obligation.items()}
    return RegimeFormulas(v, allowed, obligations)


class _Env:
    """Translates one policy for one category."""

    def __init__(self, v: RequestVars, category: DataCategory) -> None:
        self.v = v
        self.resource = z3.IntVal(index("Category", category.value))

    def policy(self, template: pst.Template) -> Any:
        parts = [
            self.scope(template.principal, "Role", self.v.enums["Role"]),
            self.action(template.action),
            self.scope(template.resource, "Category", self.resource),
        ]
        for clause in template.clauses:
            term = self.expr(clause.expr)
            parts.append(term if isinstance(clause, pst.When) else z3.Not(term))
        return z3.And(*parts)

    def scope(self, constraint: object, kind: str, term: Any) -> Any:
        if isinstance(constraint, pst.ScopeAny):
            return z3.BoolVal(True)
        if isinstance(constraint, pst.ScopeIs):
            return z3.BoolVal(constraint.entity_type.basename == kind)
        if isinstance(constraint, pst.ScopeEq | pst.ScopeIn | pst.ScopeIsIn):
            # Enumerated entities have no parents, so `in` is `==`.
            return self.entity_eq(term, kind, constraint.entity)
        raise UnsupportedPolicy(f"scope constraint {constraint!r}")

    def action(self, constraint: object) -> Any:
        term = self.v.enums["Action"]
        if isinstance(constraint, pst.ScopeAny):
            return z3.BoolVal(True)
        if isinstance(constraint, pst.ActionEq):
            return self.entity_eq(term, "Action", constraint.entity)
        if isinstance(constraint, pst.ActionIn):
            return z3.Or(*[self.entity_eq(term, "Action", e) for e in constraint.entities])
        raise UnsupportedPolicy(f"action constraint {constraint!r}")

    def entity_eq(self, term: Any, kind: str, uid: object) -> Any:
        if not isinstance(uid, pst.EntityUid):
            raise UnsupportedPolicy(f"template slot {uid!r}")
        if uid.type.basename != kind:
            return z3.BoolVal(False)
        return term == index(kind, uid.id)

    def typed(self, expr: object) -> tuple[str, Any]:
        """(kind, term): kind is an entity type name, or "Bool"."""
        if isinstance(expr, pst.Var):
            if expr.name == "principal":
                return "Role", self.v.enums["Role"]
            if expr.name == "action":
                return "Action", self.v.enums["Action"]
            if expr.name == "resource":
                return "Category", self.resource
        if isinstance(expr, pst.EntityLit):
            kind = expr.value.type.basename
            if kind not in ENUMS:
                raise UnsupportedPolicy(f"entity type {kind}")
            return kind, z3.IntVal(index(kind, expr.value.id))
        if isinstance(expr, pst.GetAttr) and expr.base == pst.Var("context"):
            if expr.attr in _ENUM_ATTRS:
                return _ENUM_ATTRS[expr.attr], self.v.attr(expr.attr)
            if expr.attr in _BOOL_ATTRS:
                return "Bool", self.v.attr(expr.attr)
            raise UnsupportedPolicy(f"context attribute {expr.attr}")
        return "Bool", self.expr(expr)

    def expr(self, expr: object) -> Any:
        if isinstance(expr, pst.BoolLit):
            return z3.BoolVal(expr.value)
        if isinstance(expr, pst.HasAttr) and expr.base == pst.Var("context"):
            return z3.BoolVal(all(attr in (*_ENUM_ATTRS, *_BOOL_ATTRS) for attr in expr.attrs))
        if isinstance(expr, pst.GetAttr):
            kind, term = self.typed(expr)
            if kind != "Bool":
                raise UnsupportedPolicy(f"non-boolean attribute used as a condition: {expr!r}")
            return term
        if isinstance(expr, pst.UnaryOp) and expr.op == "not":
            return z3.Not(self.expr(expr.arg))
        if isinstance(expr, pst.IfThenElse):
            return z3.If(self.expr(expr.cond), self.expr(expr.then_expr), self.expr(expr.else_expr))
        if isinstance(expr, pst.BinaryOp):
            return self.binary(expr)
        raise UnsupportedPolicy(f"expression {expr!r}")

    def binary(self, expr: pst.BinaryOp) -> Any:
        if expr.op == "and":
            return z3.And(self.expr(expr.left), self.expr(expr.right))
        if expr.op == "or":
            return z3.Or(self.expr(expr.left), self.expr(expr.right))
        if expr.op in ("eq", "not_eq"):
            equal = self.equal(expr.left, expr.right)
            return equal if expr.op == "eq" else z3.Not(equal)
        if expr.op == "contains" and isinstance(expr.left, pst.Set):
            return z3.Or(*[self.equal(item, expr.right) for item in expr.left.elements])
        if expr.op == "in":
            right = expr.right
            items: Sequence[object] = right.elements if isinstance(right, pst.Set) else [right]
            return z3.Or(*[self.equal(expr.left, item) for item in items])
        raise UnsupportedPolicy(f"operator {expr.op}")

    def equal(self, left: object, right: object) -> Any:
        left_kind, left_term = self.typed(left)
        right_kind, right_term = self.typed(right)
        if left_kind != right_kind:
            return z3.BoolVal(False)  # Cedar: values of different types are never equal
        return left_term == right_term
