"""The decision record: what one ledger leaf says, as canonical bytes.

Canonical form is compact JSON with sorted keys, UTF-8, no floats: the same record always
gives the same bytes, so anyone holding an entry can recompute its leaf hash. A random salt
in every record stops anyone guessing an entry's contents from its published hash (I5).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from safereport.errors import LedgerError
from safereport.policy.decision import Decision

__all__ = [
    "PADDING",
    "RECORD_VERSION",
    "DecisionRecord",
    "Encoded",
    "bound_fields",
    "canonical_bytes",
    "encode_records",
    "index_columns",
    "is_padding",
    "leaf_bound_fields",
    "padding_record",
    "parse_leaf",
    "record_from_decision",
]

RECORD_VERSION = 1
#: What every field of a padding entry says (decision, action, purpose, holder...): a leaf
#: that records no decision, only that it is padding (see :func:`padding_record`).
PADDING = "padding"
_INVALID = "invalid"
_COLUMN_WIDTH = 32


#: One encoder for every leaf: ``json.dumps`` with keyword arguments builds a new encoder per
#: call, which cost more than the encoding itself on the append path (issue 13).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


#: The encoder's own string writer (``ensure_ascii=False``): quotes and escapes one string.
_quote = json.encoder.encode_basestring


def canonical_bytes(value: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def _text(value: Any) -> str:
    """A vocabulary value from a request that may be malformed (it was denied if so)."""
    if isinstance(value, str) and 0 < len(value) <= _COLUMN_WIDTH:
        return value
    return _INVALID


def _time_text(moment: datetime) -> str:
    """``2026-11-25T13:05:07.123456Z``: the UTC time with microseconds, as ``isoformat`` writes
    it (formatted here directly: about twice as fast, the same text)."""
    if moment.tzinfo is None:
        raise LedgerError("ledger times must be timezone-aware")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 (faster than format)
        moment.year, moment.month, moment.day,
        moment.hour, moment.minute, moment.second, moment.microsecond,
    )


@dataclass(frozen=True)
class DecisionRecord:
    """One decision, allowed or denied, as it is written into the ledger."""

    time: datetime
    actor_id: str
    actor_role: str
    actor_org_kind: str | None
    holder: str
    action: str
    purpose: str
    recipient: str
    case_id: str | None
    categories: tuple[str, ...]
    effect: str
    obligations: tuple[str, ...]
    rules: tuple[str, ...]
    regime: str
    policy_hash: str
    salt: str
    detail: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "time": _time_text(self.time),
            "actor": {"id": self.actor_id, "role": self.actor_role, "org": self.actor_org_kind},
            "holder": self.holder,
            "action": self.action,
            "purpose": self.purpose,
            "recipient": self.recipient,
            "case": self.case_id,
            "data": list(self.categories),
            "decision": self.effect,
            "obligations": list(self.obligations),
            "rules": list(self.rules),
            "regime": self.regime,
            "policy_hash": self.policy_hash,
            "salt": self.salt,
            "detail": dict(sorted(self.detail.items())),
        }

    def leaf(self) -> bytes:
        """The canonical bytes of :meth:`as_json` (see :meth:`encoded`)."""
        return self.encoded()[0]

    def encoded(self) -> tuple[bytes, str]:
        """The leaf and its UTC time text (``"time"`` in the leaf: the copy columns derive the
        month and, on SQLite, the stored time from it, so the time is formatted once).

        The leaf is written out field by field (the keys are already in sorted order) with the
        JSON encoder's own string writer: about three times faster than the encoder on the
        append path (issue 13), and the same bytes (tests/ledger/test_record_encoding.py). A
        field of another type than a string (the writer raises TypeError) goes through the
        encoder instead."""
        moment = _time_text(self.time)
        try:
            return self._written(moment), moment
        except TypeError:
            return canonical_bytes(self.as_json()), moment

    def _written(self, moment: str | None = None) -> bytes:
        s = _quote
        detail = self.detail
        org = self.actor_org_kind
        case = self.case_id
        # One f-string: no intermediate strings. ``moment`` needs no quoting (digits, '-',
        # ':', '.', 'T' and 'Z').
        return (
            f'{{"action":{s(self.action)},"actor":{{"id":{s(self.actor_id)},'
            f'"org":{"null" if org is None else s(org)},"role":{s(self.actor_role)}}},'
            f'"case":{"null" if case is None else s(case)},'
            f'"data":[{",".join(map(s, self.categories))}],"decision":{s(self.effect)},'
            f'"detail":{{{",".join([s(key) + ":" + s(detail[key]) for key in sorted(detail)])}}},'
            f'"holder":{s(self.holder)},"obligations":[{",".join(map(s, self.obligations))}],'
            f'"policy_hash":{s(self.policy_hash)},"purpose":{s(self.purpose)},'
            f'"recipient":{s(self.recipient)},"regime":{s(self.regime)},'
            f'"rules":[{",".join(map(s, self.rules))}],"salt":{s(self.salt)},'
            f'"time":"{_time_text(self.time) if moment is None else moment}",'
            f'"v":{RECORD_VERSION}}}'
        ).encode()

    @property
    def month(self) -> str:
        return _time_text(self.time)[:7]


#: A record's leaf, its time text and its leaf hash (:func:`encode_records`).
Encoded = tuple[bytes, str, bytes]


def encode_records(records: Sequence[DecisionRecord]) -> list[Encoded]:
    """Each record's leaf, time text and leaf hash. The sequencer's callers run this in their
    own threads before they queue (while a batch's commit waits on the disk), so the one
    thread every batch goes through does not (issue 13)."""
    sha256 = hashlib.sha256
    encoded = []
    for record in records:
        leaf, moment = record.encoded()
        encoded.append((leaf, moment, sha256(b"\x00" + leaf).digest()))  # merkle.leaf_hash
    return encoded


def bound_fields(decision: Decision, case_id: str | None) -> dict[str, Any]:
    """What an entry recording ``decision`` about ``case_id`` holds in the fields a Grant is
    bound to, as its leaf writes them (``"actor.role"``: the actor's role, nested there). The
    record a decision is written as takes these very values (:func:`record_from_decision`)."""
    request = decision.request
    actor = request.get("actor")
    # POLICY.md names the field ``actor.role``: nested in a request dict, or flat.
    role = actor.get("role") if isinstance(actor, Mapping) else request.get("actor.role")
    return {
        "action": _text(request.get("action")),
        "actor.role": _text(role),
        "case": case_id,
        "data": sorted(str(c) for c in decision.categories),
        "decision": str(decision.effect),
        "holder": _text(request.get("holder")),
        "obligations": sorted(str(o) for o in decision.obligations),
        "policy_hash": decision.policy_hash,
        "purpose": _text(request.get("purpose")),
        "recipient": _text(request.get("recipient")),
        "regime": decision.regime,
        "rules": [str(rule) for rule in decision.rules],
    }


#: The leaf's own fields among :func:`bound_fields` (all but the nested actor's role).
_BOUND = (
    "action", "case", "data", "decision", "holder", "obligations", "policy_hash", "purpose",
    "recipient", "regime", "rules",
)  # fmt: skip


def leaf_bound_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`bound_fields` as a parsed leaf holds them."""
    fields = {name: record.get(name) for name in _BOUND}
    actor = record.get("actor")
    fields["actor.role"] = actor.get("role") if isinstance(actor, Mapping) else None
    return fields


def record_from_decision(
    decision: Decision,
    *,
    actor_id: str,
    case_id: str | None,
    actor_org_kind: str | None,
    detail: Mapping[str, str] | None,
    now: datetime,
) -> DecisionRecord:
    if now.tzinfo is None:
        raise LedgerError("ledger times must be timezone-aware")
    bound = bound_fields(decision, case_id)
    return DecisionRecord(
        time=now,
        actor_id=actor_id,
        actor_role=bound["actor.role"],
        actor_org_kind=actor_org_kind,
        holder=bound["holder"],
        action=bound["action"],
        purpose=bound["purpose"],
        recipient=bound["recipient"],
        case_id=case_id,
        categories=tuple(bound["data"]),
        effect=bound["decision"],
        obligations=tuple(bound["obligations"]),
        rules=tuple(bound["rules"]),
        regime=decision.regime,
        policy_hash=decision.policy_hash,
        salt=secrets.token_hex(16),
        detail={str(k): str(v) for k, v in (detail or {}).items()},
    )


def padding_record(now: datetime) -> DecisionRecord:
    """A dummy leaf that pads a batch (issue 16): it commits to nothing but a random salt.

    Its hash looks like any other leaf's to anyone who sees only hashes (tiles, proofs); whoever
    holds the leaf (``ledger verify``, ``ledger entry``, the auditor) sees ``"decision":
    "padding"`` and nothing else: no actor, no case, no data, no rule.
    """
    return DecisionRecord(
        time=now,
        actor_id="",
        actor_role=PADDING,
        actor_org_kind=None,
        holder=PADDING,
        action=PADDING,
        purpose=PADDING,
        recipient=PADDING,
        case_id=None,
        categories=(),
        effect=PADDING,
        obligations=(),
        rules=(),
        regime=PADDING,
        policy_hash="",
        salt=secrets.token_hex(16),
        detail={},
    )


def is_padding(record: Mapping[str, Any]) -> bool:
    """Whether a parsed leaf is padding rather than a decision."""
    return record.get("decision") == PADDING


def parse_leaf(leaf: bytes, *, encoded_here: bool = False) -> dict[str, Any]:
    """The record in a stored leaf; LedgerError if the bytes are not a canonical record.
    ``encoded_here``: the bytes are ones this process's encoder wrote (the sequencer's, kept
    for :meth:`Ledger.grant`), canonical by construction: not encoded again to check."""
    try:
        value = json.loads(leaf.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError("a ledger leaf is not a decision record") from exc
    if not isinstance(value, dict) or value.get("v") != RECORD_VERSION:
        raise LedgerError("a ledger leaf is not a decision record of a known version")
    if not encoded_here and canonical_bytes(value) != leaf:
        raise LedgerError("a ledger leaf is not in canonical form")
    return value


def index_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the ledger table's copy columns must hold for this parsed leaf.

    The columns are an index for queries; the signed leaf is the truth. ``verify_log``
    compares every row's columns with this, and the views are built from the leaf.
    """
    actor = record.get("actor") or {}
    time = str(record.get("time", ""))
    return {
        "created_at": time,
        "month": time[:7],
        "case_id": record.get("case"),
        "actor_id": actor.get("id"),
        "actor_role": actor.get("role"),
        "actor_org_kind": actor.get("org"),
        "holder": record.get("holder"),
        "action": record.get("action"),
        "purpose": record.get("purpose"),
        "recipient": record.get("recipient"),
        "effect": record.get("decision"),
        "rules": " ".join(record.get("rules") or ()),
        "regime": record.get("regime"),
    }
