"""The requests two regimes decide differently, grouped, counted, with an example of each.

Both regimes are translated to z3 over the same request variables. A group is one shape of
request: (actor role, action, purpose, recipient, subject role). z3 finds each shape holding
at least one request the regimes decide differently (effect or obligations); the requests in
it are counted exactly over every other field (same_org, holder, crime type, status evidence,
the six flags and every set of data categories) by splitting the space until each part is
all-different or all-same; the example is decided again by both guards (Cedar).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import z3

from safereport.domain.vocabulary import DataCategory
from safereport.policy.guard import Guard
from safereport.policy.request import CONTEXT_FLAGS
from safereport.policy.smt import ENUMS, RequestVars, encode, valid_request

__all__ = ["DiffGroup", "diff_regimes"]

_SHAPE = ("Role", "Action", "Purpose", "Recipient", "SubjectRole")
_SPLIT_LIMIT = 50_000


@dataclass(frozen=True)
class DiffGroup:
    shape: dict[str, str]
    count: int
    exact: bool
    example: dict[str, Any]
    decision_a: Any
    decision_b: Any


def diff_regimes(a: Guard, b: Guard) -> Iterator[DiffGroup]:
    v = RequestVars.fresh()
    fa, fb = encode(a.pack, v), encode(b.pack, v)
    differ = z3.Or(
        fa.allowed != fb.allowed,
        *[fa.obligations[ob] != fb.obligations[ob] for ob in fa.obligations],
    )
    finder = z3.Solver()
    finder.add(valid_request(v), differ)
    category = z3.Int("category")
    one_hot = [(d, index_is(category, c)) for c, d in v.data.items()]
    counted = z3.substitute(z3.And(_cross_fields(v), differ), *one_hot)
    counted = z3.simplify(z3.And(counted, category >= 0, category < len(v.data)))
    while finder.check() == z3.sat:
        model = finder.model()
        values = {kind: model.eval(v.enums[kind], True).as_long() for kind in _SHAPE}
        shape_eq = z3.And(*[v.enums[kind] == value for kind, value in values.items()])
        example = v.request_from(model)
        shape_values = [(v.enums[kind], z3.IntVal(value)) for kind, value in values.items()]
        per_shape = z3.simplify(z3.substitute(counted, *shape_values))
        count, exact = _Counter(v, category, per_shape).count()
        yield DiffGroup(
            shape={kind: list(ENUMS[kind])[value].value for kind, value in values.items()},
            count=count,
            exact=exact,
            example=example,
            decision_a=a.decide_uncached(example),
            decision_b=b.decide_uncached(example),
        )
        finder.add(z3.Not(shape_eq))


def index_is(category: Any, which: DataCategory) -> Any:
    return category == list(DataCategory).index(which)


def _cross_fields(v: RequestVars) -> Any:
    # The validity rules without "data is non-empty": an empty data set is denied by both
    # regimes, so it never differs and the box can include it.
    bounds = [z3.And(var >= 0, var < len(ENUMS[kind])) for kind, var in v.enums.items()]
    full = valid_request(v)
    return z3.And(*bounds, *full.children()[1:])


class _Counter:
    """Exact counting: enumerate only the fields the per-shape formula still mentions."""

    def __init__(self, v: RequestVars, category: Any, formula: Any) -> None:
        self.formula = formula
        self.fields: list[tuple[Any, list[Any]]] = [
            (v.flags["same_org"], [z3.BoolVal(True), z3.BoolVal(False)]),
            *[
                (v.enums[kind], [z3.IntVal(i) for i in range(len(ENUMS[kind]))])
                for kind in ("Holder", "CrimeType", "StatusEvidence")
            ],
            *[(v.flags[f], [z3.BoolVal(True), z3.BoolVal(False)]) for f in CONTEXT_FLAGS],
            (category, [z3.IntVal(i) for i in range(len(v.data))]),
        ]

    def count(self) -> tuple[int, bool]:
        mentioned = _constants(self.formula)
        used = [(var, values) for var, values in self.fields if var.get_id() in mentioned]
        unused = 1
        for var, values in self.fields:
            if var.get_id() not in mentioned:
                unused *= len(values)
        points = 1
        for _, values in used:
            points *= len(values)
        if points > _SPLIT_LIMIT:
            return unused, False  # a lower bound
        return _count(self.formula, used, 0) * unused, True


def _count(formula: Any, fields: list[tuple[Any, list[Any]]], start: int) -> int:
    """Models of ``formula`` over ``fields[start:]``, fixing one field at a time and stopping
    as soon as the formula simplifies to true (every remaining point counts) or false."""
    if z3.is_true(formula):
        size = 1
        for _, values in fields[start:]:
            size *= len(values)
        return size
    if z3.is_false(formula) or start == len(fields):
        return 0
    var, values = fields[start]
    return sum(
        _count(z3.simplify(z3.substitute(formula, (var, value))), fields, start + 1)
        for value in values
    )


def _constants(expr: Any) -> set[int]:
    """The ids of the uninterpreted constants (request fields) in ``expr``."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found.add(node.get_id())
        stack.extend(node.children())
    return found
