"""Regimes: the Cedar policy sets, built in or custom, validated against the schema.

A built-in regime is a list of the ``.cedar`` fragments shipped in ``policy/cedar/`` (so the
rules every regime shares are written once). A custom regime is a folder of ``.cedar`` files,
read in name order. Either way the policy set is parsed, validated against the schema, and
checked for the annotations the guard relies on; anything wrong is a :class:`PolicyError`
carrying Cedar's own message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
from cedarpy import pst

from safereport.domain.vocabulary import Obligation, Regime
from safereport.errors import PolicyError

__all__ = [
    "REGIME_FRAGMENTS",
    "PolicyInfo",
    "PolicyPack",
    "builtin_sources",
    "load_pack",
    "schema_text",
]

#: The fragments of each built-in regime, in evaluation-irrelevant but stable order.
REGIME_FRAGMENTS: Mapping[Regime, tuple[str, ...]] = {
    Regime.FIREWALL: ("common", "firewall-common", "firewall-strict"),
    Regime.FIREWALL_CONSENT: ("common", "firewall-common", "firewall-consent"),
    Regime.NPCC_2020: ("common", "npcc"),
    Regime.NPCC_2020_REC1: ("common", "npcc", "rec1"),
}

_SCHEMA_FILE = "schema.cedarschema"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One Cedar policy and what its annotations say."""

    cedar_id: str
    rule_id: str
    kind: str  # "allow" (permit) or "deny" (forbid)
    obligations: frozenset[Obligation]
    reason: str
    outcome: str
    rank: int
    template: pst.Template


@dataclass(frozen=True, slots=True)
class PolicyPack:
    """A validated regime: its text, hash, parsed handles and per-policy metadata."""

    regime: str
    builtin: bool
    text: str
    policy_hash: str
    policy_set: Any  # cedarpy.PolicySet (untyped extension)
    schema: Any  # cedarpy.Schema
    policies: Mapping[str, PolicyInfo]

    def rule_ids(self) -> tuple[str, ...]:
        """Every rule id, in order of first appearance."""
        seen: dict[str, None] = {}
        for info in sorted(self.policies.values(), key=lambda item: item.rank):
            seen.setdefault(info.rule_id, None)
        return tuple(seen)


def _cedar_dir() -> Any:
    return resources.files("safereport.policy").joinpath("cedar")


def schema_text() -> str:
    """The Cedar schema of POLICY.md's vocabulary."""
    return str(_cedar_dir().joinpath(_SCHEMA_FILE).read_text(encoding="utf-8"))


def builtin_sources(regime: Regime | str) -> dict[str, str]:
    """File name to text for a built-in regime (a starting point for a custom one)."""
    name = Regime(regime)
    return {
        f"{index:02d}-{fragment}.cedar": _cedar_dir()
        .joinpath(f"{fragment}.cedar")
        .read_text(encoding="utf-8")
        for index, fragment in enumerate(REGIME_FRAGMENTS[name])
    }


def _folder_sources(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        raise PolicyError(f"{folder}: not a built-in regime ({_names()}) nor a folder")
    files = sorted(folder.glob("*.cedar"))
    if not files:
        raise PolicyError(f"{folder}: a custom regime needs at least one .cedar file")
    try:
        return {path.name: path.read_text(encoding="utf-8") for path in files}
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{folder}: cannot read the policy files: {exc}") from exc


def _names() -> str:
    return ", ".join(regime.value for regime in Regime)


def _join(sources: Mapping[str, str]) -> str:
    return "".join(f"// ---- {name} ----\n{text.rstrip()}\n\n" for name, text in sources.items())


def load_pack(regime: Regime | str | Path) -> PolicyPack:
    """A built-in regime by name, or a folder of ``.cedar`` files; :class:`PolicyError` if bad."""
    if not isinstance(regime, Path) and str(regime) in {r.value for r in Regime}:
        name, builtin, sources = str(regime), True, builtin_sources(str(regime))
    else:
        folder = Path(regime)
        name, builtin, sources = f"custom:{folder.resolve().name}", False, _folder_sources(folder)
    return _build(name, builtin, _join(sources))


def _build(name: str, builtin: bool, text: str) -> PolicyPack:
    try:
        schema = cedarpy.Schema.from_str(schema_text())
        policy_set = cedarpy.PolicySet.from_str(text)
        tree = policy_set.to_pst()
    except ValueError as exc:
        raise PolicyError(f"{name}: Cedar cannot parse the policies: {exc}") from exc
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        labels = result.id_annotations_by_policy_id
        messages = [
            f"[{labels.get(error.policy_id, error.policy_id)}] {error.error}"
            if error.policy_id
            else error.error
            for error in result.errors
        ]
        raise PolicyError(
            f"{name}: the policies do not validate against the schema: " + "; ".join(messages)
        )
    if tree.templates:
        raise PolicyError(f"{name}: templates are not allowed in a regime")
    policies = _policy_infos(name, tree)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return PolicyPack(name, builtin, text, digest, policy_set, schema, policies)


def _rank(cedar_id: str) -> int:
    digits = cedar_id.removeprefix("policy")
    return int(digits) if digits.isdigit() else 1 << 30


def _policy_infos(name: str, tree: pst.PolicySet) -> dict[str, PolicyInfo]:
    infos: dict[str, PolicyInfo] = {}
    for cedar_id, template in tree.static_policies.items():
        notes = dict(template.annotations)
        rule_id = notes.get("id", "").strip()
        if not rule_id:
            raise PolicyError(f"{name}: policy {cedar_id} has no @id (the rule id of POLICY.md)")
        infos[cedar_id] = PolicyInfo(
            cedar_id=cedar_id,
            rule_id=rule_id,
            kind="allow" if template.effect == "permit" else "deny",
            obligations=_obligations(name, rule_id, template),
            reason=notes.get("reason", "").strip() or f"rule {rule_id}",
            outcome=notes.get("outcome", "").strip(),
            rank=_rank(cedar_id),
            template=template,
        )
    return infos


def _obligations(name: str, rule_id: str, template: pst.Template) -> frozenset[Obligation]:
    words = template.annotations.get("obligations", "").replace(",", " ").split()
    if words and template.effect == "forbid":
        raise PolicyError(f"{name}: deny rule {rule_id} has @obligations; a deny has none")
    try:
        return frozenset(Obligation(word) for word in words)
    except ValueError:
        known = ", ".join(ob.value for ob in Obligation)
        raise PolicyError(
            f"{name}: rule {rule_id}: unknown obligation in {words!r} (known: {known})"
        ) from None
