"""Decisions are values with reasons, and the capabilities that carry them.

Three capabilities stand between a request and case data (invariant I1):

* :class:`Decision` is made only by the guard (``policy.guard``). Its constructor demands a
  private minting token, so code elsewhere cannot fabricate one.
* :class:`Grant` is a Decision whose ledger entry has been committed. It is minted only by the
  ledger, after the database transaction holding the entry has committed, and the vault opens
  nothing without one.
* :class:`Seal` is an allowing Decision to write one case, whose ledger entry has been appended
  in the very transaction that writes. It is minted only by the ledger (``Ledger.seal``), after
  it has read that entry back through the same connection, and the vault seals nothing without
  one: no write without its decision in the same transaction.

None can be widened or duplicated. The minting token is an init-only value, so
``dataclasses.replace`` (a wider category set, another case) cannot rebuild one without it;
copying and pickling are refused outright; and every Grant the ledger mints is recorded by
identity, so :func:`is_genuine` (which the vault checks) is true only for that very object: a
Grant made any other way (``object.__new__``, a copy smuggled past the checks) opens nothing.

Tests that need a Grant without a database use :func:`UnsafeGrantForTests`, named so that a
reviewer sees it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from types import MappingProxyType
from typing import Any

from safereport.domain.vocabulary import SENSITIVE_CATEGORIES, DataCategory, Effect, Obligation
from safereport.errors import AccessDenied

__all__ = ["Decision", "Grant", "Seal", "UnsafeGrantForTests", "UnsafeSealForTests", "is_genuine"]

_DECISION_MINT = object()
_GRANT_MINT = object()
_SEAL_MINT = object()

#: id -> weak reference of every Grant minted here and still alive.
_MINTED: dict[int, weakref.ref[Any]] = {}
_MINTED_LOCK = threading.Lock()


def _register(value: Any) -> None:
    key = id(value)

    def forget(_ref: weakref.ref[Any], key: int = key) -> None:
        with _MINTED_LOCK:
            if _MINTED.get(key) is _ref:
                del _MINTED[key]

    with _MINTED_LOCK:
        _MINTED[key] = weakref.ref(value, forget)


def is_genuine(value: object) -> bool:
    """True only for the very Grant or Seal object the ledger minted."""
    with _MINTED_LOCK:
        ref = _MINTED.get(id(value))
    return ref is not None and ref() is value


class _NotCopied:
    """Capabilities are not copied or pickled: a copy would be a capability nobody minted."""

    __slots__ = ()

    def __copy__(self) -> Any:
        raise TypeError(f"a {type(self).__name__} cannot be copied")

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError(f"a {type(self).__name__} cannot be copied")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"a {type(self).__name__} cannot be pickled")


#: Obligations that the vault itself honours; every other one must be fulfilled before release.
_SELF_HONOURED = frozenset({Obligation.REDACT_IMMIGRATION})


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Decision(_NotCopied):
    """The guard's answer to one request: effect, obligations, the rules that decided it."""

    effect: Effect
    obligations: frozenset[Obligation]
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    regime: str
    policy_hash: str
    categories: frozenset[DataCategory]
    request: Mapping[str, Any]
    _mint: InitVar[object] = None

    def __init__(
        self,
        effect: Effect,
        obligations: frozenset[Obligation],
        rules: tuple[str, ...],
        reasons: tuple[str, ...],
        regime: str,
        policy_hash: str,
        categories: frozenset[DataCategory],
        request: Mapping[str, Any],
        _mint: object = None,
    ) -> None:
        # Written out rather than generated: the guard makes one per first-time request, and
        # the fields' own slot setters cost half what a frozen dataclass's __init__ spends.
        if _mint is not _DECISION_MINT:
            raise TypeError("a Decision is made only by the guard")
        if effect is _DENY and obligations:
            raise ValueError("a deny has no obligations")
        set_effect, set_obligations, set_rules, set_reasons, set_regime, set_hash, \
            set_categories, set_request = _DECISION_SETTERS  # fmt: skip
        set_effect(self, effect)
        set_obligations(self, obligations)
        set_rules(self, rules)
        set_reasons(self, reasons)
        set_regime(self, regime)
        set_hash(self, policy_hash)
        set_categories(self, categories)
        set_request(self, MappingProxyType(dict(request)))

    @property
    def allowed(self) -> bool:
        """True for ``allow`` and ``conditional`` (obligations still to be met)."""
        return self.effect is not Effect.DENY

    @property
    def releasable_categories(self) -> frozenset[DataCategory]:
        """The categories that may be decrypted, after ``redact_immigration``."""
        if not self.allowed:
            return frozenset()
        if Obligation.REDACT_IMMIGRATION in self.obligations:
            return self.categories - SENSITIVE_CATEGORIES
        return self.categories


_DENY = Effect.DENY
#: Decision's slot setters, in field order (they bypass the frozen ``__setattr__``).
_DECISION_SETTERS = tuple(
    getattr(Decision, name).__set__
    for name in ("effect", "obligations", "rules", "reasons", "regime", "policy_hash",
                 "categories", "request")
)  # fmt: skip


def _mint_decision(**fields: Any) -> Decision:
    """For ``policy.guard`` only."""
    return Decision(**fields, _mint=_DECISION_MINT)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Grant(_NotCopied):
    """An allowing Decision whose ledger entry is committed, with obligations met."""

    decision: Decision
    ledger_index: int
    case_id: str | None
    fulfilled: frozenset[Obligation]
    _mint: InitVar[object] = None

    def __post_init__(self, _mint: object) -> None:
        if _mint is not _GRANT_MINT:
            raise TypeError("a Grant is made only by the ledger after its entry is committed")
        if not self.decision.allowed:
            raise ValueError("a denial grants nothing")
        missing = self.decision.obligations - _SELF_HONOURED - self.fulfilled
        if missing:
            raise ValueError("obligations not met: " + ", ".join(sorted(missing)))

    @property
    def categories(self) -> frozenset[DataCategory]:
        return self.decision.releasable_categories


def _mint_grant(
    decision: Decision, ledger_index: int, case_id: str | None, fulfilled: frozenset[Obligation]
) -> Grant:
    """For ``ledger`` only, after the transaction holding the entry has committed.

    ``case_id`` binds the grant to the one case its ledger entry names: the vault refuses to
    open any other case with it.
    """
    if not isinstance(decision, Decision):
        raise AccessDenied("a Grant is made only for a Decision the guard made")
    grant = Grant(decision, ledger_index, case_id, fulfilled, _mint=_GRANT_MINT)
    _register(grant)
    return grant


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Seal(_NotCopied):
    """An allowing Decision to write one case, recorded in the writing transaction.

    ``transaction`` is the connection whose open transaction holds the decision's ledger entry:
    the vault seals with it on that connection only, so a Seal cannot outlive its transaction
    nor be carried to another. It covers the data categories its decision decided; a decision
    to disclose also covers the written reason kept with it (a case note).
    """

    decision: Decision
    ledger_index: int
    case_id: str
    transaction: object
    _mint: InitVar[object] = None

    def __post_init__(self, _mint: object) -> None:
        if _mint is not _SEAL_MINT:
            raise TypeError("a Seal is made only by the ledger, in the writing transaction")
        if not self.decision.allowed:
            raise ValueError("a denial writes nothing")

    def covers(self, category: DataCategory) -> bool:
        """Whether this decision lets ``category`` of the case be written."""
        if category in self.decision.categories:
            return True
        return (category is DataCategory.CASE_NOTES
                and self.decision.request.get("action") == "disclose")


def _mint_seal(decision: Decision, ledger_index: int, case_id: str, transaction: object) -> Seal:
    """For ``ledger`` only, once entry ``ledger_index`` is read back in ``transaction``."""
    if not isinstance(decision, Decision):
        raise AccessDenied("a Seal is made only for a Decision the guard made")
    seal = Seal(decision, ledger_index, case_id, transaction, _mint=_SEAL_MINT)
    _register(seal)
    return seal


def UnsafeSealForTests(
    categories: frozenset[DataCategory], *, case_id: str, transaction: object,
    action: str = "update",
) -> Seal:
    """A Seal with no guard and no ledger behind it. Tests only; never in ``src/``."""
    decision = _mint_decision(
        effect=Effect.ALLOW,
        obligations=frozenset(),
        rules=("UNSAFE-test",),
        reasons=("made by UnsafeSealForTests",),
        regime="unsafe-test",
        policy_hash="0" * 64,
        categories=categories,
        request={"action": action},
    )
    return _mint_seal(decision, -1, case_id, transaction)


def UnsafeGrantForTests(
    categories: frozenset[DataCategory],
    *,
    case_id: str | None,
    obligations: frozenset[Obligation] = frozenset(),
    request: Mapping[str, Any] | None = None,
) -> Grant:
    """A Grant with no guard and no ledger behind it. Tests only; never in ``src/``."""
    decision = _mint_decision(
        effect=Effect.CONDITIONAL if obligations else Effect.ALLOW,
        obligations=obligations,
        rules=("UNSAFE-test",),
        reasons=("made by UnsafeGrantForTests",),
        regime="unsafe-test",
        policy_hash="0" * 64,
        categories=categories,
        request=request or {},
    )
    return _mint_grant(decision, -1, case_id, obligations - _SELF_HONOURED)
