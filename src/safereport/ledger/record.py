"""The decision record: what one ledger leaf says, as canonical bytes.

Canonical form is compact JSON with sorted keys, UTF-8, no floats: the same record always
gives the same bytes, so anyone holding an entry can recompute its leaf hash. A random salt
in every record stops anyone guessing an entry's contents from its published hash (I5).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
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
    "records_from_decisions",
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
    bound to, as its leaf writes them (``"actor.role"``: the actor's role, nested there; the
    lists of the leaf as tuples). The record a decision is written as takes these very values
    (:func:`record_from_decision`)."""
    return {**_parts(decision).bound, "case": case_id}


def _decision_bound(decision: Decision) -> dict[str, Any]:
    """:func:`bound_fields` but the case: what the decision alone says."""
    request = decision.request
    actor = request.get("actor")
    # POLICY.md names the field ``actor.role``: nested in a request dict, or flat.
    role = actor.get("role") if isinstance(actor, Mapping) else request.get("actor.role")
    return {
        "action": _text(request.get("action")),
        "actor.role": _text(role),
        "data": tuple(sorted(str(c) for c in decision.categories)),
        "decision": str(decision.effect),
        "holder": _text(request.get("holder")),
        "obligations": tuple(sorted(str(o) for o in decision.obligations)),
        "policy_hash": decision.policy_hash,
        "purpose": _text(request.get("purpose")),
        "recipient": _text(request.get("recipient")),
        "regime": decision.regime,
        "rules": tuple(str(rule) for rule in decision.rules),
    }


#: The leaf's own fields among :func:`bound_fields` (all but the nested actor's role).
_BOUND = (
    "action", "case", "data", "decision", "holder", "obligations", "policy_hash", "purpose",
    "recipient", "regime", "rules",
)  # fmt: skip


def leaf_bound_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`bound_fields` as a parsed leaf holds them."""
    found = {name: record.get(name) for name in _BOUND}
    for name in _LISTS:
        value = found[name]
        if isinstance(value, list):
            found[name] = tuple(value)
    actor = record.get("actor")
    found["actor.role"] = actor.get("role") if isinstance(actor, Mapping) else None
    return found


#: The bound fields the leaf writes as lists (:func:`bound_fields` gives them as tuples).
_LISTS = ("data", "obligations", "rules")


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
    return _made({
        **_parts(decision).fields,
        "time": now,
        "actor_id": actor_id,
        "actor_org_kind": actor_org_kind,
        "case_id": case_id,
        "salt": secrets.token_hex(_SALT_BYTES),
        "detail": {str(k): str(v) for k, v in (detail or {}).items()},
    })


def records_from_decisions(
    decisions: Sequence[Decision],
    *,
    actor_id: str,
    case_id: str | None,
    actor_org_kind: str | None,
    detail: Mapping[str, str] | None,
    now: datetime,
) -> tuple[list[DecisionRecord], list[Encoded]]:
    """:func:`record_from_decision` for each of ``decisions`` (one actor, one case, one
    moment), and the records' leaves, time text and leaf hashes as :func:`encode_records`
    gives them: the sequencer's path (issue 13).

    Each leaf is written from its decision's parts worked out once (:class:`_Parts`: the
    guard gives the same Decision for the same request) and the values this call adds,
    quoted once for all the records; the salts come from one read of the system's random
    source. The very bytes the encoder would write (tests/ledger/test_records_from_decisions.py).
    A value of another type than a string goes the slow way, through the encoder."""
    if now.tzinfo is None:
        raise LedgerError("ledger times must be timezone-aware")
    details = {str(k): str(v) for k, v in (detail or {}).items()}
    parts = [_parts(decision) for decision in decisions]
    written = _call_text(actor_id, actor_org_kind, case_id, details)
    if written is None or any(part.head is None for part in parts):
        made = [
            record_from_decision(decision, actor_id=actor_id, case_id=case_id,
                                 actor_org_kind=actor_org_kind, detail=details, now=now)
            for decision in decisions
        ]
        return made, encode_records(made)
    actor, case, shared = written
    moment = _time_text(now)
    # A salt needs no quoting (hex digits), nor the time (digits, '-', ':', '.', 'T', 'Z').
    end = f'","time":"{moment}","v":{RECORD_VERSION}}}'
    width = 2 * _SALT_BYTES
    salts = secrets.token_hex(_SALT_BYTES * len(parts))  # every record's, in one read
    sha256 = hashlib.sha256
    records, encoded = [], []
    for number, part in enumerate(parts):
        salt = salts[number * width : (number + 1) * width]
        leaf = (
            f"{part.head}{actor}{part.role}{case}{part.middle}{shared}{part.tail}{salt}{end}"
        ).encode()
        records.append(_made({
            **part.fields,
            "time": now,
            "actor_id": actor_id,
            "actor_org_kind": actor_org_kind,
            "case_id": case_id,
            "salt": salt,
            "detail": dict(details),
        }))
        encoded.append((leaf, moment, sha256(b"\x00" + leaf).digest()))  # merkle.leaf_hash
    return records, encoded


def _call_text(
    actor_id: str, actor_org_kind: str | None, case_id: str | None, details: dict[str, str]
) -> tuple[str, str, str] | None:
    """A call's own values as its leaves write them (the actor's id and organisation, the
    case, the detail), quoted once; None if one is not a string."""
    s = _quote
    try:
        actor = f'{s(actor_id)},"org":{"null" if actor_org_kind is None else s(actor_org_kind)}'
        case = "null" if case_id is None else s(case_id)
        detail = "{" + ",".join([s(key) + ":" + s(details[key]) for key in sorted(details)]) + "}"
    except TypeError:
        return None
    return actor, case, detail


#: Random bytes in a record's salt (32 hex digits).
_SALT_BYTES = 16


class _Parts:
    """What every record of one Decision shares: its bound fields (:func:`bound_fields` but
    the case), the record's fields taken from them, and its leaf's canonical text around the
    values each record adds (actor id and organisation, case, detail, salt, time), in the
    order :meth:`DecisionRecord._written` writes them (``head`` None if a value is not a
    string: :func:`records_from_decisions` then takes the slow way)."""

    __slots__ = ("bound", "fields", "head", "middle", "role", "tail")

    def __init__(self, decision: Decision) -> None:
        bound = _decision_bound(decision)
        self.bound = bound
        self.fields = {
            "actor_role": bound["actor.role"],
            "holder": bound["holder"],
            "action": bound["action"],
            "purpose": bound["purpose"],
            "recipient": bound["recipient"],
            "categories": bound["data"],
            "effect": bound["decision"],
            "obligations": bound["obligations"],
            "rules": bound["rules"],
            "regime": decision.regime,
            "policy_hash": decision.policy_hash,
        }
        self.head: str | None = None
        try:
            self._write(decision, bound)
        except TypeError:
            self.head = None

    def _write(self, decision: Decision, bound: dict[str, Any]) -> None:
        s = _quote
        self.head = f'{{"action":{s(bound["action"])},"actor":{{"id":'
        self.role = f',"role":{s(bound["actor.role"])}}},"case":'
        self.middle = (
            f',"data":[{",".join(map(s, bound["data"]))}],'
            f'"decision":{s(bound["decision"])},"detail":'
        )
        self.tail = (
            f',"holder":{s(bound["holder"])},'
            f'"obligations":[{",".join(map(s, bound["obligations"]))}],'
            f'"policy_hash":{s(decision.policy_hash)},"purpose":{s(bound["purpose"])},'
            f'"recipient":{s(bound["recipient"])},"regime":{s(decision.regime)},'
            f'"rules":[{",".join(map(s, bound["rules"]))}],"salt":"'
        )


#: Each Decision's :class:`_Parts`, by the decision's identity (checked through a weak
#: reference, so an id used again by a later object is never taken for it): the guard hands
#: out the same Decision for the same request, so a page's records are written from parts
#: worked out once. An entry goes when its decision is collected. A Decision never changes.
_PARTS: dict[int, tuple[weakref.ref[Decision], _Parts]] = {}


def _parts(decision: Decision) -> _Parts:
    key = id(decision)
    known = _PARTS.get(key)
    if known is not None and known[0]() is decision:
        return known[1]
    parts = _Parts(decision)

    def forget(reference: weakref.ref[Decision], key: int = key) -> None:
        entry = _PARTS.get(key)
        if entry is not None and entry[0] is reference:
            _PARTS.pop(key, None)

    _PARTS[key] = (weakref.ref(decision, forget), parts)
    return parts


def _made(values: dict[str, Any]) -> DecisionRecord:
    """A DecisionRecord of ``values`` (every field, by name), made without the frozen
    dataclass's ``__init__``, which sets each field through ``object.__setattr__`` and cost
    more than the rest of making a record (issue 13). Only for values taken from a Decision
    as :func:`record_from_decision` takes them."""
    record: DecisionRecord = object.__new__(DecisionRecord)
    record.__dict__.update(values)
    return record


#: What :func:`_made` is given: _Parts' fields and the ones each record adds (checked at
#: import: a new field of DecisionRecord must be added to both).
_MADE_FIELDS = {"time", "actor_id", "actor_org_kind", "case_id", "salt", "detail"}
if {field.name for field in fields(DecisionRecord)} != _MADE_FIELDS | {
    "actor_role", "holder", "action", "purpose", "recipient", "categories", "effect",
    "obligations", "rules", "regime", "policy_hash",
}:
    raise ImportError("record._Parts and records_from_decisions do not make every field")


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
