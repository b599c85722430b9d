"""A regime's rules in plain English, generated from the Cedar policies themselves.

The text is rendered from each policy's syntax tree (``cedarpy.pst``), so what a victim reads
is what the engine runs: change a policy and its sentence changes with it. The ``has`` guards
of the deny rules are left out of the prose: they only make a missing attribute count as
"the rule applies".
"""

from __future__ import annotations

from cedarpy import pst

from safereport.policy.regimes import PolicyInfo, PolicyPack

__all__ = ["explain_pack", "render_policy"]

#: How each context attribute reads when compared with a value.
_NOUNS = {
    "holder": "the record's holder",
    "purpose": "the purpose",
    "recipient": "the recipient",
    "subject_role": "the person the record is about",
    "crime_type": "the crime",
    "status_evidence": "what the actor knows of her immigration status",
}
#: How each boolean attribute reads when true, and when false.
_FLAGS = {
    "same_org": ("the actor works for the organisation holding the record",
                 "the actor does not work for the organisation holding the record"),
    "single_category": ("the data asked for is this category alone",
                        "other data is asked for too"),
    "consent": ("she gave express, specific consent", "she gave no consent"),
    "victim_initiated": ("she asked for it herself", "she did not ask for it"),
    "automated": ("a system rule triggered it, not a person", "a person decided it"),
    "proceedings_ongoing": ("proceedings are ongoing", "no proceedings are ongoing"),
    "harm_intelligence": ("there is intelligence that she poses a risk of harm",
                          "there is no intelligence that she poses a risk of harm"),
    "emergency": ("a life is at immediate risk", "no life is at immediate risk"),
}  # fmt: skip
_VARS = {"principal": "the actor", "action": "the action", "resource": "the data"}


def explain_pack(pack: PolicyPack) -> list[object]:
    """One :class:`~safereport.policy.guard.RuleText` per policy, in file order."""
    from safereport.policy.guard import RuleText

    infos = sorted(pack.policies.values(), key=lambda info: info.rank)
    return [RuleText(info.rule_id, info.kind, render_policy(info)) for info in infos]


def render_policy(info: PolicyInfo) -> str:
    template = info.template
    verb = "Allow" if info.kind == "allow" else "Deny"
    if info.obligations:
        verb = "Allow, on condition of " + _list(sorted(ob.value for ob in info.obligations))
    conditions = [
        part
        for part in (
            _scope("principal", template.principal),
            _action(template.action),
            _scope("resource", template.resource),
        )
        if part
    ]
    exceptions: list[str] = []
    for clause in template.clauses:
        text = _expr(clause.expr)
        if text is None:
            continue
        (conditions if isinstance(clause, pst.When) else exceptions).append(text)
    sentence = verb + (" when " + "; and ".join(conditions) if conditions else " every request")
    if exceptions:
        sentence += ", unless " + "; or ".join(exceptions)
    return f"{sentence}. Why: {info.reason}"


def _words(value: str) -> str:
    return value.replace("_", " ")


def _list(items: list[str], joiner: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {joiner} " + items[-1]


def _scope(var: str, constraint: object) -> str | None:
    if isinstance(constraint, pst.ScopeEq | pst.ScopeIn) and isinstance(
        constraint.entity, pst.EntityUid
    ):
        return f"{_VARS[var]} is {_words(constraint.entity.id)}"
    return None


def _action(constraint: object) -> str | None:
    if isinstance(constraint, pst.ActionEq):
        return f"the action is {_words(constraint.entity.id)}"
    if isinstance(constraint, pst.ActionIn):
        return "the action is " + _list([_words(e.id) for e in constraint.entities], "or")
    return None


def _subject(expr: object) -> str:
    if isinstance(expr, pst.Var):
        return _VARS.get(expr.name, expr.name)
    if isinstance(expr, pst.GetAttr) and isinstance(expr.base, pst.Var):
        return _NOUNS.get(expr.attr, _words(expr.attr))
    return "a value"


def _value(expr: object) -> str:
    if isinstance(expr, pst.EntityLit):
        return _words(expr.value.id)
    if isinstance(expr, pst.BoolLit):
        return "true" if expr.value else "false"
    if isinstance(expr, pst.StringLit):
        return repr(expr.value)
    return _subject(expr)


def _expr(expr: object) -> str | None:
    """English for one expression; None for a ``has`` guard (always true here)."""
    if isinstance(expr, pst.HasAttr):
        return None
    if isinstance(expr, pst.GetAttr) and expr.attr in _FLAGS:
        return _FLAGS[expr.attr][0]
    if isinstance(expr, pst.UnaryOp) and expr.op == "not":
        return _negate(expr.arg)
    if isinstance(expr, pst.BinaryOp):
        return _binary(expr)
    if isinstance(expr, pst.BoolLit):
        return "always" if expr.value else "never"
    return "a condition"


def _negate(expr: object) -> str:
    if isinstance(expr, pst.GetAttr) and expr.attr in _FLAGS:
        return _FLAGS[expr.attr][1]
    if isinstance(expr, pst.BinaryOp) and expr.op == "contains":
        return _contains(expr, negated=True)
    inner = _expr(expr)
    return f"not ({inner})" if inner else "never"


def _binary(expr: pst.BinaryOp) -> str | None:
    if expr.op in ("and", "or"):
        parts = [text for text in map(_expr, _chain(expr, expr.op)) if text]
        if len(parts) < 2:
            return parts[0] if parts else None
        joiner = " and " if expr.op == "and" else " or "
        return "(" + joiner.join(parts) + ")" if expr.op == "or" else joiner.join(parts)
    if expr.op == "eq":
        return f"{_subject(expr.left)} is {_value(expr.right)}"
    if expr.op == "not_eq":
        return f"{_subject(expr.left)} is not {_value(expr.right)}"
    if expr.op == "contains":
        return _contains(expr, negated=False)
    return "a condition"


def _chain(expr: object, op: str) -> list[object]:
    """The operands of a run of the same operator: a || b || c reads as one list."""
    if isinstance(expr, pst.BinaryOp) and expr.op == op:
        return [*_chain(expr.left, op), *_chain(expr.right, op)]
    return [expr]


def _contains(expr: pst.BinaryOp, *, negated: bool) -> str:
    if isinstance(expr.left, pst.Set):
        options = _list([_value(item) for item in expr.left.elements], "or")
        verb = "is not" if negated else "is"
        return f"{_subject(expr.right)} {verb} {options}"
    return "a condition"
