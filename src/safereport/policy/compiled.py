"""A regime compiled into a complete decision table, proved equal to Cedar over every cell.

What Cedar reads for one data category of a request (a **cell**) is finite: the request
without ``data``, the category, and ``single_category``: 3,122,380,800 cells in all. The
table is a reduced ordered decision diagram over those seventeen fields: each inner node
tests one field and has one child per value of it; each leaf is the per-category answer
Cedar gives (allowed or not, and the policies that decided it, exactly as Cedar's
diagnostics list them). A lookup is one dictionary step per field the policies still read
(at most seventeen); Cedar is not called.

Compiling: each policy's syntax tree (``cedarpy.pst``) is normalised into a formula over
atoms ``field in {values}`` (the Cedar the regimes use: scope constraints, ``==``, ``!=``,
``&&``, ``||``, ``!``, ``if``, set ``contains``, ``in``, ``has``; anything else raises
:class:`TableUnavailable`), and the diagram is built by splitting on one field at a time
with every policy's formula restricted to the value taken, sharing equal sub-problems and
equal nodes. Building stops with :class:`TableUnavailable` past ``max_nodes``.

Proving (:func:`verify`): z3 is asked for a cell, anywhere in the whole space, where the
table's leaf differs from the regime's own z3 encoding (:mod:`safereport.policy.smt`, the
encoding ``policy prove`` proves the properties on): a different allowed bit or a policy in
one answer and not the other. ``unsat`` proves the table equal to Cedar's semantics over
every cell; then a sample of cells (one for each distinct leaf, and random ones) is also
asked of Cedar itself. Any difference is a :class:`TableMismatch` naming the cell, and the
guard does not use a table that has not passed both.

:func:`table_for` compiles and proves a pack's table once per process (keyed by the policy
hash) and returns None, with the reason, when there is no usable table: the guard then asks
Cedar. Tables are read-only (``MappingProxyType`` children), so the table used is the one
proved.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cedarpy import pst

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import PolicyError
from safereport.policy.regimes import PolicyPack

__all__ = [
    "CELL_FIELDS",
    "CategoryOutcome",
    "Cell",
    "CompiledTable",
    "Leaf",
    "TableMismatch",
    "TableUnavailable",
    "cell_count",
    "compile_pack",
    "table_for",
    "verify",
]

#: The fields of a cell, in the order of :meth:`CompiledTable.lookup`'s ``cell`` tuple:
#: the category, ``single_category``, then ``ParsedRequest.rest_key()``'s order.
CELL_FIELDS: tuple[str, ...] = (
    "category",
    "single_category",
    "role",
    "same_org",
    "holder",
    "action",
    "purpose",
    "recipient",
    "subject_role",
    "crime_type",
    "status_evidence",
    "consent",
    "victim_initiated",
    "automated",
    "proceedings_ongoing",
    "harm_intelligence",
    "emergency",
)
_BOOLS: tuple[bool, ...] = (False, True)
#: Each field's values (enum members or booleans), in the vocabulary's order.
DOMAINS: tuple[tuple[Any, ...], ...] = (
    tuple(DataCategory),
    _BOOLS,
    tuple(ActorRole),
    _BOOLS,
    tuple(HolderKind),
    tuple(Action),
    tuple(Purpose),
    tuple(Recipient),
    tuple(SubjectRole),
    tuple(CrimeType),
    tuple(StatusEvidence),
    *([_BOOLS] * 6),
)
_POS = {name: pos for pos, name in enumerate(CELL_FIELDS)}
_CONTEXT_ATTRS = frozenset(CELL_FIELDS) - {"category", "role", "action"}
#: Cedar entity type -> the cell position of the variable holding it (scope and context).
_VAR_POS = {"principal": _POS["role"], "action": _POS["action"], "resource": _POS["category"]}
_ENUM_KIND = {
    "Category": DataCategory,
    "Role": ActorRole,
    "Action": Action,
    "Holder": HolderKind,
    "Purpose": Purpose,
    "Recipient": Recipient,
    "SubjectRole": SubjectRole,
    "CrimeType": CrimeType,
    "StatusEvidence": StatusEvidence,
}
_POS_KIND = {
    _POS["category"]: "Category",
    _POS["role"]: "Role",
    _POS["action"]: "Action",
    _POS["holder"]: "Holder",
    _POS["purpose"]: "Purpose",
    _POS["recipient"]: "Recipient",
    _POS["subject_role"]: "SubjectRole",
    _POS["crime_type"]: "CrimeType",
    _POS["status_evidence"]: "StatusEvidence",
}
#: The order fields are tested in: the ones that rule most policies in or out first.
_ORDER: tuple[int, ...] = tuple(
    _POS[name]
    for name in (
        "category",
        "role",
        "action",
        "recipient",
        "purpose",
        "subject_role",
        "same_org",
        "holder",
        "victim_initiated",
        "consent",
        "automated",
        "emergency",
        "harm_intelligence",
        "proceedings_ongoing",
        "single_category",
        "crime_type",
        "status_evidence",
    )
)
_RANK = {pos: rank for rank, pos in enumerate(_ORDER)}
DEFAULT_MAX_NODES = 200_000

Cell = tuple[Any, ...]


def cell_count() -> int:
    """How many cells there are (every value of every field, valid or not)."""
    count = 1
    for domain in DOMAINS:
        count *= len(domain)
    return count


class TableUnavailable(PolicyError):
    """The regime cannot be compiled (a construct not modelled, or too large): use Cedar."""


class TableMismatch(PolicyError):
    """The table differs from Cedar on ``cell``: it must not be used."""

    def __init__(self, message: str, cell: Cell | None = None) -> None:
        super().__init__(message)
        self.cell = cell


@dataclass(frozen=True, slots=True)
class CategoryOutcome:
    """Cedar's answer for one data category (a cell): a leaf of the table.

    ``policies`` are the Cedar ids of the policies that decided it (Cedar's diagnostics
    reasons: the matching forbids of a deny, the matching permits of an allow), by rank.
    """

    allowed: bool
    policies: tuple[str, ...]  # Cedar ids of the policies that decided it
    error: str | None = None


Leaf = CategoryOutcome


# ---- formulas: True, False, or a hash-consed id of an atom / not / and / or ----

_TRUE = 1
_FALSE = 0


class _Formulas:
    """Hash-consed formulas over cell fields, with cached restriction."""

    def __init__(self) -> None:
        self.nodes: list[tuple[Any, ...]] = [("const", False), ("const", True)]
        self.ids: dict[tuple[Any, ...], int] = {}
        self.support: list[frozenset[int]] = [frozenset(), frozenset()]
        self._restricted: dict[tuple[int, int, Any], int] = {}

    def _make(self, node: tuple[Any, ...], support: frozenset[int]) -> int:
        found = self.ids.get(node)
        if found is not None:
            return found
        fid = len(self.nodes)
        self.nodes.append(node)
        self.support.append(support)
        self.ids[node] = fid
        return fid

    def atom(self, pos: int, values: frozenset[Any]) -> int:
        domain = DOMAINS[pos]
        values = frozenset(value for value in domain if value in values)
        if not values:
            return _FALSE
        if len(values) == len(domain):
            return _TRUE
        return self._make(("in", pos, values), frozenset({pos}))

    def not_(self, f: int) -> int:
        if f <= _TRUE:
            return _TRUE - f
        node = self.nodes[f]
        if node[0] == "not":
            return int(node[1])
        return self._make(("not", f), self.support[f])

    def and_(self, parts: Sequence[int]) -> int:
        kept: list[int] = []
        for part in parts:
            if part == _FALSE:
                return _FALSE
            if part != _TRUE and part not in kept:
                kept.append(part)
        if not kept:
            return _TRUE
        if len(kept) == 1:
            return kept[0]
        kept.sort()
        return self._make(("and", tuple(kept)), frozenset().union(*(self.support[k] for k in kept)))

    def or_(self, parts: Sequence[int]) -> int:
        return self.not_(self.and_([self.not_(part) for part in parts]))

    def restrict(self, f: int, pos: int, value: Any) -> int:
        if f <= _TRUE or pos not in self.support[f]:
            return f
        key = (f, pos, value)
        found = self._restricted.get(key)
        if found is not None:
            return found
        node = self.nodes[f]
        if node[0] == "in":
            result = _TRUE if value in node[2] else _FALSE
        elif node[0] == "not":
            result = self.not_(self.restrict(node[1], pos, value))
        else:
            result = self.and_([self.restrict(part, pos, value) for part in node[1]])
        self._restricted[key] = result
        return result


# ---- from Cedar's syntax tree to formulas ----


class _Translator:
    def __init__(self, formulas: _Formulas) -> None:
        self.f = formulas

    def policy(self, template: pst.Template) -> int:
        parts = [
            self.scope(template.principal, "Role", _POS["role"]),
            self.action(template.action),
            self.scope(template.resource, "Category", _POS["category"]),
        ]
        for clause in template.clauses:
            term = self.expr(clause.expr)
            parts.append(term if isinstance(clause, pst.When) else self.f.not_(term))
        return self.f.and_(parts)

    def scope(self, constraint: object, kind: str, pos: int) -> int:
        if isinstance(constraint, pst.ScopeAny):
            return _TRUE
        if isinstance(constraint, pst.ScopeIs):
            return _TRUE if constraint.entity_type.basename == kind else _FALSE
        if isinstance(constraint, pst.ScopeEq | pst.ScopeIn | pst.ScopeIsIn):
            # Enumerated entities have no parents, so `in` is `==`.
            return self.entity_eq(pos, kind, constraint.entity)
        raise TableUnavailable(f"scope constraint {constraint!r}")

    def action(self, constraint: object) -> int:
        pos = _POS["action"]
        if isinstance(constraint, pst.ScopeAny):
            return _TRUE
        if isinstance(constraint, pst.ActionEq):
            return self.entity_eq(pos, "Action", constraint.entity)
        if isinstance(constraint, pst.ActionIn):
            return self.f.or_([self.entity_eq(pos, "Action", e) for e in constraint.entities])
        raise TableUnavailable(f"action constraint {constraint!r}")

    def entity_eq(self, pos: int, kind: str, uid: object) -> int:
        if not isinstance(uid, pst.EntityUid):
            raise TableUnavailable(f"template slot {uid!r}")
        if uid.type.basename != kind:
            return _FALSE
        return self.f.atom(pos, frozenset({_member(kind, uid.id)}))

    def typed(self, expr: object) -> tuple[str, str, Any]:
        """(kind, "var" or "lit", cell position or value); kind "Bool" for conditions."""
        if isinstance(expr, pst.Var) and expr.name in _VAR_POS:
            pos = _VAR_POS[expr.name]
            return _POS_KIND[pos], "var", pos
        if isinstance(expr, pst.EntityLit):
            kind = expr.value.type.basename
            if kind not in _ENUM_KIND:
                raise TableUnavailable(f"entity type {kind}")
            return kind, "lit", _member(kind, expr.value.id)
        if isinstance(expr, pst.GetAttr) and expr.base == pst.Var("context"):
            if expr.attr not in _CONTEXT_ATTRS:
                raise TableUnavailable(f"context attribute {expr.attr}")
            pos = _POS[expr.attr]
            if pos in _POS_KIND:
                return _POS_KIND[pos], "var", pos
            return "Bool", "formula", self.f.atom(pos, frozenset({True}))
        return "Bool", "formula", self.expr(expr)

    def expr(self, expr: object) -> int:
        if isinstance(expr, pst.BoolLit):
            return _TRUE if expr.value else _FALSE
        if isinstance(expr, pst.HasAttr) and expr.base == pst.Var("context"):
            return _TRUE if all(attr in _CONTEXT_ATTRS for attr in expr.attrs) else _FALSE
        if isinstance(expr, pst.GetAttr):
            kind, _how, value = self.typed(expr)
            if kind != "Bool":
                raise TableUnavailable(f"non-boolean attribute used as a condition: {expr!r}")
            return int(value)
        if isinstance(expr, pst.UnaryOp) and expr.op == "not":
            return self.f.not_(self.expr(expr.arg))
        if isinstance(expr, pst.IfThenElse):
            cond = self.expr(expr.cond)
            then, other = self.expr(expr.then_expr), self.expr(expr.else_expr)
            return self.f.or_([self.f.and_([cond, then]), self.f.and_([self.f.not_(cond), other])])
        if isinstance(expr, pst.BinaryOp):
            return self.binary(expr)
        raise TableUnavailable(f"expression {expr!r}")

    def binary(self, expr: pst.BinaryOp) -> int:
        if expr.op == "and":
            return self.f.and_([self.expr(expr.left), self.expr(expr.right)])
        if expr.op == "or":
            return self.f.or_([self.expr(expr.left), self.expr(expr.right)])
        if expr.op in ("eq", "not_eq"):
            equal = self.equal(expr.left, expr.right)
            return equal if expr.op == "eq" else self.f.not_(equal)
        if expr.op == "contains" and isinstance(expr.left, pst.Set):
            return self.f.or_([self.equal(item, expr.right) for item in expr.left.elements])
        if expr.op == "in":
            right = expr.right
            items: Sequence[object] = right.elements if isinstance(right, pst.Set) else [right]
            return self.f.or_([self.equal(expr.left, item) for item in items])
        raise TableUnavailable(f"operator {expr.op}")

    def equal(self, left: object, right: object) -> int:
        left_kind, left_how, left_value = self.typed(left)
        right_kind, right_how, right_value = self.typed(right)
        if left_kind != right_kind:
            return _FALSE  # Cedar: values of different types are never equal
        if left_kind == "Bool":
            a, b = int(left_value), int(right_value)
            return self.f.or_([self.f.and_([a, b]), self.f.and_([self.f.not_(a), self.f.not_(b)])])
        if left_how == "lit" and right_how == "lit":
            return _TRUE if left_value == right_value else _FALSE
        if left_how == "var" and right_how == "var":
            if left_value == right_value:
                return _TRUE
            raise TableUnavailable(f"comparison of two fields: {left!r} == {right!r}")
        pos, value = (left_value, right_value) if left_how == "var" else (right_value, left_value)
        return self.f.atom(pos, frozenset({value}))


def _member(kind: str, value: str) -> Any:
    enum = _ENUM_KIND[kind]
    try:
        return enum(value)
    except ValueError:
        raise TableUnavailable(f"{kind}::{value!r} is not in the vocabulary") from None


# ---- the table ----

#: (cell position tested, value -> Node or leaf); read-only, so a proved table stays as proved
Node = tuple[int, Mapping[Any, Any]]


@dataclass
class CompiledTable:
    """A regime's decision table: :meth:`lookup` answers any cell without Cedar."""

    policy_hash: str
    root: Node | Leaf
    nodes: int
    leaves: int
    compile_seconds: float
    verify_seconds: float = 0.0
    verified: bool = False
    sampled: int = 0
    #: what users of the table derive from its leaves once (the guard's explanations)
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def lookup(self, cell: Cell) -> Leaf:
        """The leaf for ``cell`` (see :data:`CELL_FIELDS`); values must be in their domains."""
        node: Any = self.root
        while type(node) is tuple:
            node = node[1][cell[node[0]]]
        return node  # type: ignore[no-any-return]

    def digest(self) -> str:
        """A hash of the table's content (equal tables, equal digests)."""
        return hashlib.sha256(repr(self.fingerprint()).encode()).hexdigest()

    def fingerprint(self) -> tuple[Any, ...]:
        """The table's content as one tuple: each node numbered in a fixed walk order."""
        numbers: dict[int, int] = {}
        parts: list[Any] = []

        def walk(node: Any) -> int:
            known = numbers.get(id(node))
            if known is not None:
                return known
            if type(node) is tuple:
                kids = tuple([(value, walk(child)) for value, child in node[1].items()])
                parts.append((node[0], kids))
            else:
                parts.append((node.allowed, node.policies, node.error))
            numbers[id(node)] = number = len(numbers)
            return number

        walk(self.root)
        return tuple(parts)

    def leaf_objects(self) -> list[CategoryOutcome]:
        found: dict[int, Leaf] = {}
        seen: set[int] = set()

        def walk(node: Any) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            if type(node) is tuple:
                for child in node[1].values():
                    walk(child)
            else:
                found[id(node)] = node

        walk(self.root)
        return list(found.values())


def compile_pack(pack: PolicyPack, max_nodes: int = DEFAULT_MAX_NODES) -> CompiledTable:
    """The decision table of ``pack`` (not yet verified); :class:`TableUnavailable` if it cannot."""
    started = time.perf_counter()
    formulas = _Formulas()
    translate = _Translator(formulas)
    infos = sorted(pack.policies.values(), key=lambda info: info.rank)
    ids = tuple(info.cedar_id for info in infos)
    is_forbid = tuple(info.kind == "deny" for info in infos)
    try:
        start = tuple(translate.policy(info.template) for info in infos)
    except RecursionError:
        raise TableUnavailable("a policy nests too deeply to compile") from None
    leaves: dict[Leaf, Leaf] = {}
    nodes: dict[tuple[int, tuple[int, ...]], Node] = {}
    memo: dict[tuple[int, ...], Node | Leaf] = {}
    support = formulas.support

    def leaf(state: tuple[int, ...]) -> Leaf:
        forbids = tuple(ids[i] for i, f in enumerate(state) if f == _TRUE and is_forbid[i])
        if forbids:
            made = Leaf(False, forbids)
        else:
            permits = tuple(ids[i] for i, f in enumerate(state) if f == _TRUE)
            made = Leaf(bool(permits), permits)
        return leaves.setdefault(made, made)

    def build(state: tuple[int, ...]) -> Node | Leaf:
        known = memo.get(state)
        if known is not None:
            return known
        read: set[int] = set()
        for f in state:
            if f > _TRUE:
                read |= support[f]
        if not read:
            result: Node | Leaf = leaf(state)
        else:
            pos = min(read, key=_RANK.__getitem__)
            children = {
                value: build(tuple(formulas.restrict(f, pos, value) for f in state))
                for value in DOMAINS[pos]
            }
            first = next(iter(children.values()))
            if all(child is first for child in children.values()):
                result = first
            else:
                key = (pos, tuple(id(child) for child in children.values()))
                result = nodes.get(key) or nodes.setdefault(key, (pos, MappingProxyType(children)))
                if len(nodes) > max_nodes:
                    raise TableUnavailable(f"more than {max_nodes:,} nodes")
        memo[state] = result
        return result

    root = build(start)
    return CompiledTable(
        policy_hash=pack.policy_hash,
        root=root,
        nodes=len(nodes),
        leaves=len(leaves),
        compile_seconds=time.perf_counter() - started,
    )


# ---- the proof ----


def verify(table: CompiledTable, pack: PolicyPack, samples: int = 200) -> None:
    """Prove ``table`` equal to ``pack`` over every cell (z3), then spot-check with Cedar.

    Raises :class:`TableMismatch` with the differing cell, or :class:`TableUnavailable` if
    the regime uses Cedar the z3 encoding does not model. Marks the table verified.
    """
    started = time.perf_counter()
    table.verified = False
    if table.policy_hash != pack.policy_hash:
        raise TableMismatch("the table was compiled from another policy set")
    _prove_with_z3(table, pack)
    table.sampled = _check_with_cedar(table, pack, samples)
    table.verify_seconds = time.perf_counter() - started
    table.verified = True


def _prove_with_z3(table: CompiledTable, pack: PolicyPack) -> None:
    import z3

    from safereport.policy import smt

    class _Vars(smt.RequestVars):
        """Cells, not requests: ``single_category`` is a field of its own."""

        def single(self) -> Any:
            return self.flags["single_category"]

    base = smt.RequestVars.fresh("cell_")
    v = _Vars(
        enums=base.enums,
        flags={**base.flags, "single_category": z3.Bool("cell_single_category")},
        data=base.data,
    )
    bounds = [var >= 0 for var in v.enums.values()]
    bounds += [var < len(smt.ENUMS[kind]) for kind, var in v.enums.items()]
    term_of: dict[int, Any] = {}
    for pos, kind in _POS_KIND.items():
        if kind != "Category":
            term_of[pos] = v.enums[kind]
    for pos, name in enumerate(CELL_FIELDS):
        if DOMAINS[pos] is _BOOLS:
            term_of[pos] = v.flags[name]

    conds: dict[tuple[int, Any], Any] = {}

    def cond(pos: int, value: Any) -> Any:
        known = conds.get((pos, value))
        if known is None:
            if DOMAINS[pos] is _BOOLS:
                known = term_of[pos] if value else z3.Not(term_of[pos])
            else:
                known = term_of[pos] == DOMAINS[pos].index(value)
            conds[(pos, value)] = known
        return known

    shapes: dict[tuple[int, tuple[int, ...]], int] = {}
    shape_list: list[tuple[int, tuple[int, ...]]] = []
    z3_terms: dict[int, Any] = {0: z3.BoolVal(False), 1: z3.BoolVal(True)}

    def z3_term(number: int) -> Any:
        known = z3_terms.get(number)
        if known is None:
            pos, kids = shape_list[number - 2]
            values = DOMAINS[pos]
            known = z3_term(kids[-1])
            for value, kid in zip(reversed(values[:-1]), reversed(kids[:-1]), strict=True):
                if kid != kids[-1]:
                    known = z3.If(cond(pos, value), z3_term(kid), known)
            z3_terms[number] = known
        return known

    # The table projected on each question ("+": allowed?; a policy id: among the reasons?):
    # per question a reduced diagram of its own, hash-consed in Python (0 and 1 are the
    # constant answers, other numbers nodes), then one z3 term per projected node.
    projections: dict[int, dict[str, int]] = {}

    def project(node: Any) -> dict[str, int]:
        """Question -> projected node, for the questions not constantly "no" below ``node``."""
        known = projections.get(id(node))
        if known is not None:
            return known
        if type(node) is not tuple:
            known = dict.fromkeys(node.policies, 1)
            if node.allowed:
                known["+"] = 1
        else:
            pos, children = node
            if pos == _POS["category"]:
                raise TableMismatch("the table tests the category twice")
            if children.keys() != set(DOMAINS[pos]):
                raise TableMismatch(f"a node on {CELL_FIELDS[pos]} lacks or adds values")
            maps = [project(children[value]) for value in DOMAINS[pos]]
            known = {}
            for name in {name for one in maps for name in one}:
                kids = tuple(one.get(name, 0) for one in maps)
                first = kids[0]
                if all(kid == first for kid in kids):
                    known[name] = first
                    continue
                shape = (pos, kids)
                made = shapes.get(shape, 0)
                if not made:
                    made = shapes[shape] = len(shape_list) + 2
                    shape_list.append(shape)
                known[name] = made
        projections[id(node)] = known
        return known

    infos = sorted(pack.policies.values(), key=lambda info: info.rank)
    for category in DataCategory:
        try:
            env = smt._Env(v, category)
            matches = {info.cedar_id: env.policy(info.template) for info in infos}
        except smt.UnsupportedPolicy as exc:
            raise TableUnavailable(f"z3 cannot model the regime: {exc}") from exc
        forbid_any = _any([m for pid, m in matches.items() if pack.policies[pid].kind == "deny"])
        permit_any = _any([m for pid, m in matches.items() if pack.policies[pid].kind == "allow"])
        expected_allowed = z3.And(permit_any, z3.Not(forbid_any))
        start = table.root
        while type(start) is tuple and start[0] == _POS["category"]:
            start = start[1][category]
        answers = project(start)
        strangers = set(answers) - set(matches) - {"+"}
        if strangers:
            raise TableMismatch(f"the table names policies not in {pack.regime}: {strangers}")
        checks = [(z3_term(answers.get("+", 0)), expected_allowed)]
        for pid, match in matches.items():
            if pack.policies[pid].kind == "deny":
                expected = match
            else:
                expected = z3.And(match, z3.Not(forbid_any))
            checks.append((z3_term(answers.get(pid, 0)), expected))
        solver = z3.Solver()
        solver.add(*bounds)
        verdict = z3.unsat
        for got, expected in checks:
            solver.push()
            solver.add(got != expected)
            verdict = solver.check()
            if verdict != z3.unsat:
                break
            solver.pop()
        if verdict == z3.unsat:
            continue
        if verdict != z3.sat:
            raise TableUnavailable(f"z3 could not decide the table for {category} ({verdict})")
        model = solver.model()
        cell = tuple(
            category
            if pos == _POS["category"]
            else (
                bool(z3.is_true(model.eval(term_of[pos], model_completion=True)))
                if DOMAINS[pos] is _BOOLS
                else DOMAINS[pos][model.eval(term_of[pos], model_completion=True).as_long()]
            )
            for pos in range(len(CELL_FIELDS))
        )
        raise TableMismatch(
            f"the table differs from {pack.regime} at {describe(cell)}: table {table.lookup(cell)}",
            cell,
        )


def _any(terms: list[Any]) -> Any:
    import z3

    return z3.Or(*terms) if terms else z3.BoolVal(False)


def describe(cell: Cell) -> str:
    return ", ".join(f"{name}={value}" for name, value in zip(CELL_FIELDS, cell, strict=True))


def cedar_cell_request(cell: Cell) -> dict[str, Any]:
    """The Cedar request for a cell (the guard's own shape)."""

    def ent(kind: str, value: Any) -> dict[str, Any]:
        return {"__entity": {"type": f"SafeReport::{kind}", "id": str(value)}}

    c = dict(zip(CELL_FIELDS, cell, strict=True))
    return {
        "principal": {"type": "SafeReport::Role", "id": str(c["role"])},
        "action": {"type": "SafeReport::Action", "id": str(c["action"])},
        "resource": {"type": "SafeReport::Category", "id": str(c["category"])},
        "context": {
            "same_org": c["same_org"],
            "holder": ent("Holder", c["holder"]),
            "purpose": ent("Purpose", c["purpose"]),
            "recipient": ent("Recipient", c["recipient"]),
            "subject_role": ent("SubjectRole", c["subject_role"]),
            "single_category": c["single_category"],
            "crime_type": ent("CrimeType", c["crime_type"]),
            "status_evidence": ent("StatusEvidence", c["status_evidence"]),
            "consent": c["consent"],
            "victim_initiated": c["victim_initiated"],
            "automated": c["automated"],
            "proceedings_ongoing": c["proceedings_ongoing"],
            "harm_intelligence": c["harm_intelligence"],
            "emergency": c["emergency"],
        },
    }


def cedar_leaves(pack: PolicyPack, cells: Sequence[Cell]) -> list[Leaf | None]:
    """Cedar's own answers for ``cells`` (None where Cedar reported an error)."""
    import cedarpy

    if not cells:
        return []
    results = cedarpy.is_authorized_batch(
        [cedar_cell_request(cell) for cell in cells],
        pack.policy_set,
        cedarpy.Entities.from_json_str("[]"),
        schema=pack.schema,
    )
    out: list[Leaf | None] = []
    for result in results:
        if list(result.diagnostics.errors):
            out.append(None)
            continue
        allowed = result.decision == cedarpy.Decision.Allow
        ranks = {pid: pack.policies[pid].rank for pid in result.diagnostics.reasons}
        out.append(Leaf(allowed, tuple(sorted(ranks, key=ranks.__getitem__))))
    return out


def leaf_cells(table: CompiledTable) -> list[Cell]:
    """One cell reaching each distinct leaf (the first path found to it)."""
    found: dict[int, Cell] = {}
    seen: set[int] = set()
    prefix: dict[int, Any] = {}

    def walk(node: Any) -> None:
        if type(node) is not tuple:
            if id(node) not in found:
                found[id(node)] = tuple(
                    prefix.get(pos, DOMAINS[pos][0]) for pos in range(len(CELL_FIELDS))
                )
            return
        if id(node) in seen:
            return
        seen.add(id(node))
        pos, children = node
        for value, child in children.items():
            prefix[pos] = value
            walk(child)
        prefix.pop(pos, None)

    walk(table.root)
    return list(found.values())


def random_cells(seed: int | str, count: int) -> list[Cell]:
    rng = random.Random(seed)
    return [tuple(rng.choice(domain) for domain in DOMAINS) for _ in range(count)]


def _check_with_cedar(table: CompiledTable, pack: PolicyPack, samples: int) -> int:
    cells = leaf_cells(table) + random_cells(pack.policy_hash, samples)
    for cell, want in zip(cells, cedar_leaves(pack, cells), strict=True):
        got = table.lookup(cell)
        if want is None or got != want:
            raise TableMismatch(
                f"the table differs from Cedar at {describe(cell)}: table {got}, Cedar {want}",
                cell,
            )
    return len(cells)


# ---- one verified table per policy set, per process ----

_TABLES: dict[str, CompiledTable] = {}  # policy hash -> its proved table
_REFUSED: dict[tuple[str, int], str] = {}  # (policy hash, max_nodes) -> why there is none


def table_for(
    pack: PolicyPack, max_nodes: int = DEFAULT_MAX_NODES
) -> tuple[CompiledTable | None, str]:
    """The verified table of ``pack`` (compiled and proved once per process), or None and why.

    Tables are read-only (every node's children are a ``MappingProxyType``), so the table in
    the cache is the table that was proved.
    """
    known = _TABLES.get(pack.policy_hash)
    if known is not None and known.verified:
        return known, "compiled"
    if (pack.policy_hash, max_nodes) in _REFUSED:
        return None, _REFUSED[(pack.policy_hash, max_nodes)]
    try:
        table = compile_pack(pack, max_nodes)
        verify(table, pack)
    except (TableUnavailable, TableMismatch) as exc:
        _REFUSED[(pack.policy_hash, max_nodes)] = str(exc)
        return None, str(exc)
    _TABLES[pack.policy_hash] = table
    return table, "compiled"
