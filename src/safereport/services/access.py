"""The one road for case data: decide, record, commit, then open (DESIGN.md section 3).

``access_case`` is the only function that turns a person's wish to see or use a case into
decrypted fields. It builds the POLICY.md request from the case row (a read snapshot) and the
actor, asks the guard, and hands the decision to the ledger's sequencer, which appends it with
those of concurrent requests in one transaction (group commit). Only after that transaction has
committed does the ledger mint a Grant, and only with a Grant does the vault open anything.
A denial is committed to the ledger too, and then raised as :class:`AccessDenied`.

It is the road for writes too: :func:`decide_write` decides and appends in the writer's own
transaction and gives a :class:`Write`, whose Seal (minted by the ledger once it reads that
entry back in the same transaction) is what the vault needs to seal anything. Services never
call the guard, the ledger's append or grant, nor the vault's open and seal themselves
(tests/audit/test_structure.py fails if they do).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from safereport.domain.fields import FIELD_CATEGORY, CaseField
from safereport.domain.refusals import refusal_for
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Obligation,
    OrgKind,
    Purpose,
    Recipient,
    ServiceRule,
    SubjectRole,
)
from safereport.errors import AccessDenied, LedgerError, VaultError
from safereport.ledger.log import EntryView
from safereport.ledger.record import record_from_decision
from safereport.policy.decision import Decision, Grant, Seal
from safereport.policy.request import make_request
from safereport.services.instance import Instance
from safereport.store.cases import case_facts
from safereport.store.provenance import standing_consent, victim_request_stands
from safereport.vault.blind import BlindKind
from safereport.vault.vault import OpenedFields

__all__ = [
    "Actor",
    "CaseAccess",
    "Part",
    "Write",
    "access_case",
    "access_case_parts",
    "active_consent",
    "decide_and_record",
    "decide_write",
    "entries_about",
    "find_cases",
    "grant_for",
    "open_blob",
    "record_failure",
    "seal_new_cases",
    "writer",
]

log = logging.getLogger("safereport.access")

_HOLDERS = {OrgKind.SUPPORT_SERVICE: HolderKind.SUPPORT_SERVICE, OrgKind.POLICE: HolderKind.POLICE}
#: Context facts a caller may state (POLICY.md v2: the staff member states these, and the
#: ledger entry keeps who). ``consent`` and ``victim_initiated`` are read from the record (her
#: own door, or two people); ``automated`` from the kind of actor. A caller who passes any of
#: them is refused as S-malformed (POLICY.md section 6).
_CALLER_CONTEXT = frozenset(
    {
        "status_evidence",
        "proceedings_ongoing",
        "harm_intelligence",
        "emergency",
    }
)


@dataclass(frozen=True)
class Actor:
    """Who asks: a staff user, or the record's own subject (role ``victim``)."""

    id: str
    role: ActorRole
    org_id: str | None = None
    org_kind: OrgKind | None = None
    #: A scheduled job or an integration acting, not a person deciding.
    system: bool = False

    @property
    def automated(self) -> bool:
        """POLICY.md v2: true for every police system, scheduled job and integration call."""
        return self.system or self.role is ActorRole.POLICE_SYSTEM


@dataclass(frozen=True)
class CaseAccess:
    """The outcome of an allowed access: the decision, its grant, and the opened fields."""

    decision: Decision
    grant: Grant
    values: dict[CaseField, str] = field(default_factory=dict)
    withheld: dict[CaseField, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _CaseFacts:
    org_id: str
    holder: HolderKind | None
    subject_role: str
    crime_type: str
    erased: bool


def _case_facts(conn: Connection, case_id: str) -> _CaseFacts | None:
    row = case_facts(conn, case_id)
    if row is None:
        return None
    try:
        holder = _HOLDERS.get(OrgKind(row.org_kind))
    except ValueError:
        holder = None
    return _CaseFacts(row.org_id, holder, row.subject_role, row.crime_type, row.erased)


def active_consent(conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose) -> bool:
    """Whether her express consent to this recipient and purpose stands now (POLICY.md v2):
    given through her own door, or recorded by one staff member and confirmed by another.

    Nothing is sent anywhere when the recipient is ``none``, and no consent is ever given to
    ``none``: no lookup is needed to say so (a read of her case costs one query less).
    """
    if recipient is Recipient.NONE:
        return False
    return standing_consent(conn, case_id, recipient, purpose)


def _request(
    conn: Connection,
    actor: Actor,
    case_id: str,
    facts: _CaseFacts | None,
    *,
    action: Action,
    purpose: Purpose,
    categories: frozenset[DataCategory],
    recipient: Recipient,
    context: Mapping[str, Any],
    victim_request: str | None = None,
) -> dict[str, Any]:
    base = {k: v for k, v in context.items() if k in _CALLER_CONTEXT}
    request = make_request(
        actor_role=actor.role,
        same_org=facts is not None and actor.org_id is not None and actor.org_id == facts.org_id,
        holder=facts.holder if facts and facts.holder else HolderKind.SUPPORT_SERVICE,
        action=action,
        purpose=purpose,
        recipient=recipient,
        subject_role=SubjectRole(facts.subject_role) if facts else SubjectRole.VICTIM,
        data=categories,
        crime_type=CrimeType(facts.crime_type) if facts else CrimeType.OTHER,
        consent=active_consent(conn, case_id, recipient, purpose),
        victim_initiated=victim_request_stands(
            conn, case_id, victim_request, recipient, purpose, categories
        ),
        automated=actor.automated,
        **base,
    )
    return request


#: A fact a caller states to have its refusal recorded (not a fact for the policy): the
#: case, or the entry asked for, is not held by the asker (casework, victim).
_NOT_HELD_FACT = "case_not_held"


def _refusal(
    facts: _CaseFacts | None, context: Mapping[str, Any]
) -> tuple[ServiceRule, str] | None:
    """Why the service refuses before the policy is asked (POLICY.md section 6); None if not."""
    if facts is None:
        return ServiceRule.UNKNOWN_CASE, "No case has this id."
    if facts.erased:
        return ServiceRule.ERASED, "The case was erased at her request."
    if context.get(_NOT_HELD_FACT) is True:
        return ServiceRule.NOT_HELD, (
            "The case (or the part of it asked for) is not held by the asker's organisation, "
            "or is not the asker's own."
        )
    if facts.holder is None:
        return ServiceRule.MALFORMED, "The case is held by an organisation of no known kind."
    unknown = sorted(str(name)[:40] for name in set(context) - _CALLER_CONTEXT)
    if unknown:
        return ServiceRule.MALFORMED, "Facts the caller may not state: " + ", ".join(unknown)
    return None


def decide_and_record(
    instance: Instance,
    actor: Actor,
    case_id: str,
    *,
    action: Action,
    purpose: Purpose,
    categories: Iterable[DataCategory],
    recipient: Recipient = Recipient.NONE,
    context: Mapping[str, Any] | None = None,
    detail: Mapping[str, str] | None = None,
    conn: Connection | None = None,
    victim_request: str | None = None,
) -> tuple[Decision, int]:
    """Decide one request about one case and append the decision to the ledger.

    With ``conn``, both happen inside the caller's transaction (for writes that must commit
    together with their decision). Otherwise (a read) the request is built from a read
    snapshot and the decision goes through the ledger's sequencer (group commit): this returns
    only once the entry is committed, durable and inside a signed checkpoint, so whatever the
    caller opens next is opened after its decision's entry is committed (I1).
    """
    wanted = frozenset(categories)
    entry = _entry(actor, case_id, detail)
    asked = _Asked(action, purpose, wanted, recipient, context or {}, victim_request)
    if conn is not None:
        decision = _decide(instance, conn, actor, case_id, asked)
        return decision, instance.ledger.append(conn, decision, **entry)
    with instance.engine.connect() as snapshot:  # a read: no write lock, nothing queues
        decision = _decide(instance, snapshot, actor, case_id, asked)
    return decision, instance.ledger.commit(decision, **entry)


@dataclass(frozen=True)
class _Asked:
    """What one request asks of one case (the parts a caller states)."""

    action: Action
    purpose: Purpose
    categories: frozenset[DataCategory]
    recipient: Recipient = Recipient.NONE
    context: Mapping[str, Any] = field(default_factory=dict)
    victim_request: str | None = None


def _decide(
    instance: Instance, conn: Connection, actor: Actor, case_id: str, asked: _Asked,
    known: tuple[_CaseFacts | None] | None = None,
) -> Decision:
    """The guard's decision on ``asked``; ``known`` carries the case's facts when the caller
    has already read them in this snapshot (several parts of one page)."""
    asked_so_far = _failed_request(actor, asked.action, asked.purpose, asked.recipient)
    try:
        facts = known[0] if known is not None else _case_facts(conn, case_id)
        refusal = _refusal(facts, asked.context)
        if refusal is not None and refusal[0] is not ServiceRule.MALFORMED:
            return instance.guard.refuse(asked_so_far, *refusal)
        request = _request(
            conn,
            actor,
            case_id,
            facts,
            action=asked.action,
            purpose=asked.purpose,
            categories=asked.categories,
            recipient=asked.recipient,
            context=asked.context,
            victim_request=asked.victim_request,
        )
    except Exception as exc:
        # A malformed case row or context value must not become a 500 with no record (I2):
        # the guard refuses it (S-malformed), and that refusal is appended.
        log.warning("request for case %s could not be built; recorded as a denial", case_id)
        return instance.guard.refuse(
            asked_so_far, ServiceRule.MALFORMED,
            f"The request could not be built from the case record ({type(exc).__name__}).",
        )
    if refusal is not None:
        return instance.guard.refuse(request, *refusal)
    return instance.guard.decide(request)


def _entry(actor: Actor, case_id: str, detail: Mapping[str, str] | None) -> dict[str, Any]:
    """Who and which case, as the ledger entry keeps them."""
    recorded = _ledger_case_id(case_id)
    detail = _with_automated(actor, detail)
    return {
        "actor_id": actor.id,
        "case_id": recorded,
        "actor_org_kind": actor.org_kind.value if actor.org_kind else None,
        "detail": detail if recorded is not None else {**(detail or {}), "case_id": "malformed"},
    }


#: The ledger's case column holds at most this many characters (store/ledger.py).
_CASE_ID_CHARS = 32
_CASE_ID_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def _ledger_case_id(case_id: str) -> str | None:
    """The case id as the ledger may hold it; None for one no case could have.

    A case id comes from a URL: one too long for the column must still end in a denial on
    record (PostgreSQL would refuse the insert and turn the refusal into a 500).
    """
    if 0 < len(case_id) <= _CASE_ID_CHARS and set(case_id) <= _CASE_ID_ALPHABET:
        return case_id
    return None


def _with_automated(actor: Actor, detail: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """The entry's detail, saying ``automated`` when no person decided (a police system, a
    scheduled job, an integration calling the API): the ledger keeps what the guard was told."""
    if not actor.automated:
        return detail
    return {**(detail or {}), "automated": "true"}


def _failed_request(
    actor: Actor, action: Action, purpose: Purpose, recipient: Recipient
) -> dict[str, Any]:
    """Who asked what, as far as it is known before a request could be built."""
    return {
        "actor": {"role": actor.role.value},
        "action": action.value,
        "purpose": purpose.value,
        "recipient": recipient.value,
    }


def record_failure(
    instance: Instance,
    actor: Actor,
    case_id: str | None,
    decision: Decision | None,
    failure: str,
    *,
    detail: Mapping[str, str] | None = None,
    conn: Connection | None = None,
) -> Decision:
    """Commit a service refusal for an error on the road after (or instead of) a decision (I2).

    ``failure`` names what happened; the one closed table of :mod:`safereport.domain.refusals`
    gives its rule (``S-vault-failure``, ``S-expired``, ...) and its real reason, and the guard
    mints the deny (``Guard.refuse``) on the original request as far as it is known. The
    entry's ``outcome`` keeps the failure name. A name not in the table is still a deny on
    record (``S-malformed``), and logged as an error.

    The same entry records a staff step that opens no case data (an account or token change):
    its rule is ``S-step``, and ``deny`` says that the guard allowed nothing.
    With ``conn`` it is appended in the caller's transaction (it commits with the step).
    """
    request = (
        dict(decision.request) if decision is not None else {"actor": {"role": actor.role.value}}
    )
    found = refusal_for(failure, detail)
    if found is None:
        log.error("record_failure: %r is not in the table of service refusals", failure[:60])
        found = ServiceRule.MALFORMED, f"An unlisted failure: {failure[:60]}"
    denial = instance.guard.refuse(request, *found)
    entry: dict[str, Any] = {
        "actor_id": actor.id,
        "case_id": _ledger_case_id(case_id) if case_id is not None else None,
        "actor_org_kind": actor.org_kind.value if actor.org_kind else None,
        "detail": _with_automated(actor, {"outcome": failure, **(detail or {})}),
    }
    if conn is not None:
        instance.ledger.append(conn, denial, **entry)
    else:
        instance.ledger.commit(denial, **entry)
    return denial


def _denied(decision: Decision) -> AccessDenied:
    return AccessDenied(
        "access denied: " + "; ".join(decision.reasons or ("no rule allows it",)),
        rules=decision.rules,
        reasons=decision.reasons,
    )


def access_case(
    instance: Instance,
    actor: Actor,
    case_id: str,
    *,
    action: Action = Action.VIEW,
    purpose: Purpose,
    fields: Iterable[CaseField] | None = None,
    categories: Iterable[DataCategory] | None = None,
    recipient: Recipient = Recipient.NONE,
    context: Mapping[str, Any] | None = None,
    fulfilled: frozenset[Obligation] = frozenset(),
    victim_request: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> CaseAccess:
    """Decide, record, commit, and only then open the asked-for fields of one case.

    ``fields`` (default: all) says what to open; the categories asked of the guard are theirs
    unless ``categories`` names them. Raises :class:`AccessDenied` after recording a denial, or
    when the vault cannot open the case (recorded too).
    """
    names = list(fields) if fields is not None else list(CaseField)
    wanted = (
        frozenset(categories)
        if categories is not None
        else frozenset(FIELD_CATEGORY[name] for name in names)
    )
    decision, index = decide_and_record(
        instance,
        actor,
        case_id,
        action=action,
        purpose=purpose,
        categories=wanted,
        recipient=recipient,
        context=context,
        victim_request=victim_request,
        detail=detail,
    )
    return _open(instance, actor, case_id, decision, index, names, fulfilled)



def _open(
    instance: Instance,
    actor: Actor,
    case_id: str,
    decision: Decision,
    index: int,
    names: Sequence[CaseField],
    fulfilled: frozenset[Obligation] = frozenset(),
) -> CaseAccess:
    """After the entry of ``decision`` committed at ``index``: mint the Grant, then open."""
    grant = _grant(instance, actor, case_id, decision, index, fulfilled)
    opened = _open_granted(instance, actor, case_id, [(grant, names)])[0]
    if isinstance(opened, AccessDenied):
        raise opened
    return opened


def _grant(
    instance: Instance,
    actor: Actor,
    case_id: str,
    decision: Decision,
    index: int,
    fulfilled: frozenset[Obligation] = frozenset(),
) -> Grant:
    """The Grant for ``decision``, whose entry committed at ``index``; AccessDenied (recorded
    when the decision allowed) if there is none."""
    if not decision.allowed:
        raise _denied(decision)
    try:
        return instance.ledger.grant(decision, index, case_id, fulfilled)
    except (AccessDenied, LedgerError) as exc:
        # Allowed, but no Grant (an obligation unmet, the entry unreadable): nothing opens, and
        # the refusal is a denial on record, not only an exception.
        record_failure(instance, actor, case_id, decision, "grant_refused")
        if isinstance(exc, AccessDenied):
            raise
        raise AccessDenied("access denied: the decision could not be confirmed") from exc


def _open_granted(
    instance: Instance,
    actor: Actor,
    case_id: str,
    granted: Sequence[tuple[Grant, Sequence[CaseField]]],
) -> list[CaseAccess | AccessDenied]:
    """Open each grant's fields, in order, from one read of the case (:meth:`Vault.open_parts`).
    A part the vault cannot open opens nothing: its decision is recorded as a denial
    (``vault_error``) and it comes back as its AccessDenied; the others still open."""
    try:
        with instance.engine.connect() as conn:
            opened: Sequence[OpenedFields | VaultError] = instance.vault.open_parts(
                conn, case_id, [(grant, list(names)) for grant, names in granted]
            )
    except VaultError as exc:  # the case as a whole: every part fails
        opened = [exc] * len(granted)
    results: list[CaseAccess | AccessDenied] = []
    for (grant, _), fields in zip(granted, opened, strict=True):
        if isinstance(fields, VaultError):
            log.warning("vault refused to open case data (ledger index %d)", grant.ledger_index)
            # Recorded as a denial: nothing was released (the earlier version appended the
            # allowing decision again, so the ledger showed two allows for a read that returned
            # nothing).
            record_failure(instance, actor, case_id, grant.decision, "vault_error")
            denied = AccessDenied("access denied: the protected data could not be opened")
            denied.__cause__ = fields
            results.append(denied)
        else:
            results.append(
                CaseAccess(grant.decision, grant, dict(fields.values), dict(fields.withheld))
            )
    return results


@dataclass(frozen=True)
class Part:
    """One part of a page that reads a case: the fields to open and the categories asked."""

    fields: tuple[CaseField, ...]
    categories: frozenset[DataCategory]


def access_case_parts(
    instance: Instance,
    actor: Actor,
    case_id: str,
    parts: Sequence[Part],
    *,
    purpose: Purpose,
    detail: Mapping[str, str] | None = None,
) -> list[CaseAccess | AccessDenied]:
    """:func:`access_case` for several parts of one case at once (a page that shows the
    general fields and, decided apart, the sealed ones).

    Each part is its own request and its own ledger entry, decided from one read snapshot; the
    entries go to the sequencer together, so the page waits for one group commit instead of one
    per part, and nothing opens before all of them are committed (I1). A denied part comes back
    as its :class:`AccessDenied` (recorded like any denial); the others still open.
    """
    entry = _entry(actor, case_id, detail)
    with instance.engine.connect() as snapshot:  # a read: no write lock, nothing queues
        try:
            known: tuple[_CaseFacts | None] | None = (_case_facts(snapshot, case_id),)
        except Exception:
            known = None  # each part then reads (and, failing, records) on its own
        decisions = [
            _decide(instance, snapshot, actor, case_id,
                    _Asked(Action.VIEW, purpose, part.categories), known)
            for part in parts
        ]
    indices = instance.ledger.commit_many(decisions, **entry)
    results: list[CaseAccess | AccessDenied | None] = []
    granted: list[tuple[Grant, Sequence[CaseField]]] = []
    for part, decision, index in zip(parts, decisions, indices, strict=True):
        try:
            granted.append((_grant(instance, actor, case_id, decision, index), part.fields))
        except AccessDenied as exc:
            results.append(exc)
        else:
            results.append(None)  # opened below, with the other allowed parts
    # The allowed parts open together, from one read of the case.
    opened = iter(_open_granted(instance, actor, case_id, granted) if granted else ())
    return [next(opened) if result is None else result for result in results]


# ---- writes ---------------------------------------------------------------------------------


class Write:
    """An allowed write to one case, inside the transaction that holds its decision's entry.

    Everything it seals commits with that entry or not at all; it seals only the categories
    the decision decided (the vault checks its Seal).
    """

    __slots__ = ("_conn", "_instance", "_seal", "case_id", "decision", "index")

    def __init__(self, instance: Instance, conn: Connection, seal: Seal) -> None:
        self._instance = instance
        self._conn = conn
        self._seal = seal
        self.decision = seal.decision
        self.index = seal.ledger_index
        self.case_id = seal.case_id

    def create_key(self) -> None:
        """Give a new case its data key."""
        self._instance.vault.create_case_key(self._conn, self._seal, self.case_id)

    def seal_fields(self, values: Mapping[CaseField, str]) -> None:
        """Insert or replace fields of the case, stored only as ciphertext."""
        self._instance.vault.seal_fields(self._conn, self._seal, self.case_id, values)

    def seal_blob(self, category: DataCategory, label: str, data: bytes) -> bytes:
        """``data`` sealed under the case's key; the caller stores the bytes."""
        return self._instance.vault.seal_blob(
            self._conn, self._seal, self.case_id, category, label, data
        )

    def index_value(self, kind: BlindKind, value: str) -> None:
        """Make the case findable by ``value`` (its blind index: a keyed hash, never the value)."""
        self._instance.vault.index_value(self._conn, self._seal, self.case_id, kind, value)

    def shred(self) -> None:
        """Destroy the case's data key and ciphertext (an allowed ``erase`` decision only)."""
        self._instance.vault.shred(self._conn, self._seal, self.case_id)


def find_cases(instance: Instance, conn: Connection, kind: BlindKind, value: str) -> list[str]:
    """Ids of the cases whose ``kind`` value is ``value``, through the vault's blind index.

    A match opens nothing: the caller decides each match (a view of the case) before it
    shows one."""
    return instance.vault.find_cases(conn, kind, value)


def entries_about(instance: Instance, conn: Connection, case_id: str) -> list[EntryView]:
    """Every ledger entry about the case, oldest first, read from its signed leaf."""
    return instance.ledger.entries_for_case(conn, case_id)


def writer(
    instance: Instance, conn: Connection, decision: Decision, index: int, case_id: str
) -> Write:
    """The :class:`Write` for an allowing ``decision`` appended at ``index`` in ``conn``'s
    transaction (:func:`decide_and_record` with ``conn``)."""
    return Write(instance, conn, instance.ledger.seal(conn, decision, index, case_id))


def decide_write(
    instance: Instance,
    conn: Connection,
    actor: Actor,
    case_id: str,
    *,
    action: Action = Action.UPDATE,
    purpose: Purpose,
    categories: Iterable[DataCategory],
    context: Mapping[str, Any] | None = None,
    detail: Mapping[str, str] | None = None,
    victim_request: str | None = None,
) -> tuple[Decision, Write | None]:
    """Decide a write and append the decision in ``conn``'s transaction; with it, the
    :class:`Write` that may seal (None when denied: the denial is appended, nothing sealed)."""
    decision, index = decide_and_record(
        instance, actor, case_id, action=action, purpose=purpose, categories=categories,
        context=context, detail=detail, conn=conn, victim_request=victim_request,
    )
    if not decision.allowed:
        return decision, None
    return decision, writer(instance, conn, decision, index, case_id)


def open_blob(
    instance: Instance,
    conn: Connection,
    grant: Grant,
    case_id: str,
    category: DataCategory,
    label: str,
    sealed: bytes,
) -> bytes:
    """One sealed note, message, attachment or package of the case, opened under ``grant``."""
    return instance.vault.open_blob(conn, grant, case_id, category, label, sealed)


def grant_for(
    instance: Instance,
    decision: Decision,
    index: int,
    case_id: str,
    fulfilled: frozenset[Obligation] = frozenset(),
) -> Grant:
    """The Grant for ``decision``, committed at ``index`` (a disclosure's recipient, who
    opens a package once its obligations are met)."""
    return instance.ledger.grant(decision, index, case_id, fulfilled)


def seal_new_cases(
    instance: Instance,
    conn: Connection,
    new: Sequence[tuple[Actor, str, Mapping[CaseField, str], Mapping[BlindKind, str]]],
    *,
    purpose: Purpose,
    detail: Mapping[str, str],
) -> None:
    """The first write of many brand-new cases (a bulk import, the synthetic generator): each
    case's write decided on its own and its entry appended in ``conn``'s transaction, then all
    sealed at once. One denial writes nothing (AccessDenied; the transaction rolls back)."""
    now = datetime.now(UTC)
    decisions: list[Decision] = []
    records = []
    for actor, case_id, values, _ in new:
        categories = frozenset(FIELD_CATEGORY[name] for name in values) or frozenset(
            {DataCategory.CRIME_DETAILS})
        decision = _decide(instance, conn, actor, case_id,
                           _Asked(Action.UPDATE, purpose, categories))
        if not decision.allowed:
            raise _denied(decision)
        decisions.append(decision)
        records.append(record_from_decision(decision, **_entry(actor, case_id, detail), now=now))
    indices = instance.ledger.append_in(conn, records)
    seals = [
        instance.ledger.seal(conn, decision, index, case_id)
        for decision, index, (_, case_id, _, _) in zip(decisions, indices, new, strict=True)
    ]
    instance.vault.seal_new_cases(
        conn,
        ((seal, case_id, values, lookups)
         for seal, (_, case_id, values, lookups) in zip(seals, new, strict=True)),
    )
