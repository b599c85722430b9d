"""The vault: seal case data under per-case keys, open it only with a Grant (invariant I1).

Every case has a random data key, stored only wrapped by a key-encryption key (KEK) from the
:class:`~safereport.vault.keystore.KeyStore`. Fields and blobs are sealed under the data key
with associated data naming their case and place (see :mod:`safereport.vault.envelope`).

Opening demands a :class:`~safereport.policy.decision.Grant` for the same case and opens only
the categories it covers (after ``redact_immigration``); sealing demands a
:class:`~safereport.policy.decision.Seal` for the same case, minted in the very transaction the
write happens in, and seals only the categories its decision decided. Any failure to open is
one opaque :class:`~safereport.errors.VaultError`, logged on the ``safereport.vault`` logger
with the case id and operation only: never plaintext, ciphertext or key material. A failure
leaves nothing half-returned and touches no other case.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, text

from safereport.domain.fields import MAX_FIELD_CHARS, CaseField, category_of
from safereport.domain.vocabulary import DataCategory, Obligation
from safereport.errors import AccessDenied, InvalidInput, SafeReportError, VaultError
from safereport.policy.decision import Grant, Seal, is_genuine
from safereport.store import vault as rows
from safereport.vault.blind import BlindKind, blind_digest
from safereport.vault.envelope import (
    DataKey,
    check_case_id,
    check_data_key,
    data_key_aad,
    new_data_key,
)
from safereport.vault.keystore import KeyStore

__all__ = ["OpenedFields", "Vault", "WithheldReason", "purge_remnants"]

log = logging.getLogger("safereport.vault")

_FIRST_VERSION = 1
_MAX_LABEL_CHARS = 100
#: Fields whose values are also indexed for exact-match lookup.
_INDEXED_FIELDS = {CaseField.EMAIL: BlindKind.EMAIL, CaseField.PHONE: BlindKind.PHONE}
#: What indexing a value writes about her (a case's reference is a routing fact, kept in clear).
_INDEX_CATEGORY: dict[BlindKind, tuple[DataCategory, ...]] = {
    BlindKind.EMAIL: (DataCategory.CONTACT,), BlindKind.PHONE: (DataCategory.CONTACT,)}


class WithheldReason(StrEnum):
    NOT_IN_DECISION = "not_in_decision"
    REDACT_IMMIGRATION = "redact_immigration"


@dataclass(frozen=True)
class OpenedFields:
    """The fields a grant opened, and those it withheld with the reason."""

    case_id: str
    values: dict[CaseField, str] = field(default_factory=dict)
    withheld: dict[CaseField, str] = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_label(label: str) -> None:
    if not isinstance(label, str) or not 0 < len(label) <= _MAX_LABEL_CHARS:
        raise InvalidInput("a blob's purpose label must be 1 to 100 characters")
    if not label.isprintable():
        raise InvalidInput("a blob's purpose label must be printable text")


def _check_grant(grant: Grant, case_id: str) -> None:
    # A Grant cannot be forged (its constructor needs the ledger's mint) nor widened (only the
    # minted object itself is genuine); the case binding stops one case's grant opening another.
    if not isinstance(grant, Grant) or not is_genuine(grant):
        # a copy, a `dataclasses.replace` widening, an unpickled or hand-built one: nothing
        raise AccessDenied("opening case data needs a Grant from the ledger")
    if grant.case_id != case_id:
        raise AccessDenied("this grant was given for another case")
    if not grant.decision.allowed:
        raise AccessDenied("a denial grants nothing")


def _check_seal(
    seal: Seal, conn: Connection, case_id: str, categories: Iterable[DataCategory]
) -> None:
    # Like a Grant, a Seal cannot be forged nor widened; it also belongs to one transaction:
    # its decision's ledger entry is in that transaction, so the write commits with it or not
    # at all (no write without its decision in the same transaction).
    if not isinstance(seal, Seal) or not is_genuine(seal):
        raise AccessDenied("writing case data needs a Seal from the ledger")
    if seal.case_id != case_id:
        raise AccessDenied("this seal was given for another case")
    if seal.transaction is not conn or not conn.in_transaction():
        raise AccessDenied("this seal was given in another transaction")
    outside = sorted(str(c) for c in set(categories) if not seal.covers(c))
    if outside:
        raise AccessDenied("this seal does not cover " + ", ".join(outside))


def _withheld_reason(grant: Grant, category: DataCategory) -> WithheldReason:
    decision = grant.decision
    if category in decision.categories and Obligation.REDACT_IMMIGRATION in decision.obligations:
        return WithheldReason.REDACT_IMMIGRATION
    return WithheldReason.NOT_IN_DECISION


class Vault:
    """Envelope encryption for case data over one :class:`KeyStore`."""

    def __init__(self, keys: KeyStore, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.keys = keys
        self._clock = clock

    # --- failures ---------------------------------------------------------------------

    @contextmanager
    def _opaque(self, operation: str, case_id: str) -> Iterator[None]:
        """Turn any failure to open into the one VaultError, and log it without secrets."""
        try:
            yield
        except VaultError as exc:
            self._log_failure(operation, case_id, exc.__cause__ or exc)
            raise VaultError() from exc
        except (SafeReportError, ValueError) as exc:
            if isinstance(exc, AccessDenied | InvalidInput):
                raise
            self._log_failure(operation, case_id, exc)
            raise VaultError() from exc

    @staticmethod
    def _log_failure(operation: str, case_id: str, cause: BaseException) -> None:
        safe_case = case_id if isinstance(case_id, str) and case_id.isprintable() else "?"
        log.warning(
            "vault: %s failed for case %s (%s)",
            operation,
            safe_case[:64],
            type(cause).__name__,
        )

    # --- data keys ----------------------------------------------------------------------

    def _wrap(self, case: bytes, version: int, key: bytes) -> tuple[str, bytes]:
        kek_id = self.keys.current_kek_id()
        return kek_id, self.keys.wrap(kek_id, key, data_key_aad(case, version, kek_id))

    def _data_key(self, conn: Connection, case_id: str, *, create: bool = False) -> DataKey:
        case = check_case_id(case_id)
        row = rows.get_case_key(conn, case_id)
        if row is None and create:
            key = new_data_key()
            kek_id, wrapped = self._wrap(case, _FIRST_VERSION, key)
            rows.insert_case_key(conn, case_id, _FIRST_VERSION, kek_id, wrapped, self._clock())
            return DataKey(key, case, _FIRST_VERSION)
        return self._unwrap(case_id, row)

    def _unwrap(self, case_id: str, row: rows.CaseKeyRow | None) -> DataKey:
        case = check_case_id(case_id)
        if row is None or row.wrapped is None or row.kek_id is None:
            raise VaultError()
        aad = data_key_aad(case, row.key_version, row.kek_id)
        key = check_data_key(self.keys.unwrap(row.kek_id, row.wrapped, aad))
        return DataKey(key, case, row.key_version)

    def create_case_key(self, conn: Connection, seal: Seal, case_id: str) -> None:
        """Give the case its data key (a no-op if it has one; VaultError if it was shredded)."""
        _check_seal(seal, conn, case_id, ())
        with self._opaque("create_case_key", case_id):
            self._data_key(conn, case_id, create=True)

    def is_shredded(self, conn: Connection, case_id: str) -> bool:
        row = rows.get_case_key(conn, case_id)
        return row is not None and row.destroyed_at is not None

    # --- fields -------------------------------------------------------------------------

    def seal_fields(
        self, conn: Connection, seal: Seal, case_id: str, values: Mapping[CaseField, str]
    ) -> None:
        """Insert or replace fields, stored only as ciphertext; email and phone are indexed."""
        checked = _check_values(values)
        _check_seal(seal, conn, case_id, {category_of(name) for name in checked})
        if not checked:
            return
        with self._opaque("seal_fields", case_id):
            key = self._data_key(conn, case_id, create=True)
            names = list(checked)
            tokens = key.seal_fields([(name, checked[name]) for name in names])
            sealed = [
                (name.value, category_of(name).value, token)
                for name, token in zip(names, tokens, strict=True)
            ]
            rows.upsert_fields(conn, case_id, key.version, sealed, self._clock())
        self._index_fields(conn, case_id, checked)

    def open_fields(
        self,
        conn: Connection,
        grant: Grant,
        case_id: str,
        names: Iterable[CaseField] | None = None,
    ) -> OpenedFields:
        """The case's fields the grant covers; the rest withheld with a reason."""
        opened = self.open_parts(conn, case_id, [(grant, names)])[0]
        if isinstance(opened, VaultError):
            raise opened
        return opened

    def open_parts(
        self,
        conn: Connection,
        case_id: str,
        parts: Sequence[tuple[Grant, Iterable[CaseField] | None]],
    ) -> list[OpenedFields | VaultError]:
        """:meth:`open_fields` for several grants on one case (a page's parts, each decided and
        recorded apart), in order: each part opens what its own grant covers and withholds the
        rest, exactly as alone, or is the VaultError that stopped it (a field of its own that
        fails to open fails that part only). The case's fields and key are read once, and the
        key unwrapped once, for them all (a case page read them once per part: issue 13). A
        key that cannot be unwrapped fails every part with something to open; rows that cannot
        be read (or a shredded case) raise."""
        checked = []
        for grant, names in parts:
            _check_grant(grant, case_id)
            try:
                wanted = None if names is None else {CaseField(n).value for n in names}
            except ValueError as exc:
                raise InvalidInput("unknown case field") from exc
            checked.append((grant, wanted))
        union: set[str] | None = set()
        for _, wanted in checked:
            union = None if wanted is None or union is None else union | wanted
        key_row, stored = rows.read_fields_and_key(
            conn, case_id, None if union is None else sorted(union)
        )
        if not stored:
            # No fields: a case that holds none, or a shredded one (its ciphertext is deleted
            # with its key). The second is a failure to open, like any other.
            gone = rows.get_case_key(conn, case_id)
            if gone is not None and gone.destroyed_at is not None:
                with self._opaque("open_fields", case_id):
                    raise VaultError()
        with self._opaque("open_fields", case_id):  # a stored name outside the closed set
            fields = [(CaseField(name), version, token) for name, version, token in stored]
        key: DataKey | VaultError | None = None  # unwrapped (or failed) once, when first needed
        results: list[OpenedFields | VaultError] = []
        for grant, wanted in checked:
            opened = OpenedFields(case_id)
            to_open = []
            for case_field, version, token in fields:
                if wanted is not None and case_field.value not in wanted:
                    continue
                category = category_of(case_field)
                if category in grant.categories:
                    to_open.append((case_field, version, token))
                else:
                    opened.withheld[case_field] = _withheld_reason(grant, category).value
            if to_open:
                if key is None:
                    try:
                        with self._opaque("open_fields", case_id):
                            key = self._unwrap(case_id, key_row)
                    except VaultError as exc:
                        key = exc
                if isinstance(key, VaultError):
                    results.append(key)
                    continue
                try:
                    with self._opaque("open_fields", case_id):
                        if any(version != key.version for _, version, _ in to_open):
                            raise VaultError()
                        texts = key.open_fields([(name, token) for name, _, token in to_open])
                except VaultError as exc:
                    results.append(exc)
                    continue
                opened.values.update(
                    (name, text) for (name, _, _), text in zip(to_open, texts, strict=True)
                )
            results.append(opened)
        return results

    # --- blobs --------------------------------------------------------------------------

    def seal_blob(
        self,
        conn: Connection,
        seal: Seal,
        case_id: str,
        category: DataCategory,
        purpose_label: str,
        data: bytes,
    ) -> bytes:
        """``data`` sealed under the case's key, bound to ``category`` and ``purpose_label``.

        The caller stores the returned bytes (a note, a message, a disclosure package).
        """
        category = DataCategory(category)
        _check_seal(seal, conn, case_id, {category})
        _check_label(purpose_label)
        with self._opaque("seal_blob", case_id):
            key = self._data_key(conn, case_id, create=True)
            return key.seal_blob(category.value, purpose_label, bytes(data))

    def open_blob(
        self,
        conn: Connection,
        grant: Grant,
        case_id: str,
        category: DataCategory,
        purpose_label: str,
        sealed: bytes,
    ) -> bytes:
        _check_grant(grant, case_id)
        category = DataCategory(category)
        if category not in grant.categories:
            raise AccessDenied(f"this grant does not cover {category}")
        _check_label(purpose_label)
        with self._opaque("open_blob", case_id):
            key = self._data_key(conn, case_id)
            return key.open_blob(category.value, purpose_label, bytes(sealed))

    # --- erasure ------------------------------------------------------------------------

    def shred(self, conn: Connection, seal: Seal, case_id: str) -> None:
        """Crypto-shredding: destroy the case's data key, so none of its ciphertext opens again.

        Only under a Seal of an allowed ``erase`` decision recorded in this transaction (her
        erasure, retention, quarantine): nothing else destroys a case.

        The key row stays as a tombstone with ``destroyed_at``; the case's blind indexes go too
        (they are keyed hashes of its phone and email). On SQLite ``secure_delete`` zeroes the
        old key's bytes in the page; call :func:`purge_remnants` after the commit to clear the
        write-ahead log as well.
        """
        check_case_id(case_id)
        _check_seal(seal, conn, case_id, ())
        if seal.decision.request.get("action") != "erase":
            raise AccessDenied("destroying a case needs an erase decision")
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        now = self._clock()
        if rows.get_case_key(conn, case_id) is None:
            rows.insert_case_key(conn, case_id, _FIRST_VERSION, "", b"", now)
        rows.destroy_case_key(conn, case_id, now)
        rows.delete_index(conn, case_id)
        # Without its key the ciphertext opens nothing; deleting it too means a KEK and an
        # old copy of the key (a WAL frame, a backup) are not enough to read the case.
        rows.delete_fields(conn, case_id)
        log.info("vault: data key of case %s destroyed", case_id)

    # --- blind indexes ------------------------------------------------------------------

    def blind_index(self, kind: BlindKind, value: str) -> str:
        """The keyed index of ``value`` (InvalidInput if it is not a ``kind``)."""
        return blind_digest(self.keys.index_key(), BlindKind(kind), value)

    def index_value(
        self, conn: Connection, seal: Seal, case_id: str, kind: BlindKind, value: str
    ) -> None:
        """Index ``value`` for the case (replacing its previous value of that kind), under a
        Seal of the write that holds it: a phone or an email is her contact details."""
        check_case_id(case_id)
        _check_seal(seal, conn, case_id, _INDEX_CATEGORY.get(BlindKind(kind), ()))
        if self.is_shredded(conn, case_id):
            raise VaultError()
        rows.replace_index(conn, case_id, BlindKind(kind).value, self.blind_index(kind, value))

    def find_cases(self, conn: Connection, kind: BlindKind, value: str) -> list[str]:
        """Case ids whose ``kind`` value equals ``value`` after normalisation."""
        return rows.find_indexed(conn, BlindKind(kind).value, self.blind_index(kind, value))

    def _index_fields(
        self, conn: Connection, case_id: str, values: Mapping[CaseField, str]
    ) -> None:
        kinds = [kind.value for name, kind in _INDEXED_FIELDS.items() if name in values]
        digests: dict[str, str] = {}
        for name, kind in _INDEXED_FIELDS.items():
            if name not in values:
                continue
            try:
                digests[kind.value] = self.blind_index(kind, values[name])
            except InvalidInput:
                # A value we cannot normalise is still sealed; it just cannot be looked up.
                log.info("vault: %s of case %s not indexed (not recognised)", kind, case_id)
        # One delete for every indexed kind given (a stale digest must not survive a change).
        rows.replace_indexes(conn, case_id, kinds, digests)

    # --- bulk ---------------------------------------------------------------------------

    def seal_new_cases(
        self,
        conn: Connection,
        cases: Iterable[tuple[Seal, str, Mapping[CaseField, str], Mapping[BlindKind, str]]],
    ) -> None:
        """Data keys, sealed fields and blind indexes for many brand-new cases at once.

        The same recipes as :meth:`create_case_key`, :meth:`seal_fields` and
        :meth:`index_value`, written with one statement per table (bulk import and the
        synthetic generator), each case with its own Seal. A case that already has a key makes
        the whole batch fail.
        """
        now = self._clock()
        keys: list[dict[str, object]] = []
        fields: list[dict[str, object]] = []
        indexes: list[dict[str, object]] = []
        for seal, case_id, values, lookups in cases:
            checked = _check_values(values)
            _check_seal(seal, conn, case_id, {category_of(name) for name in checked})
            case = check_case_id(case_id)
            key = new_data_key()
            kek_id, wrapped = self._wrap(case, _FIRST_VERSION, key)
            keys.append(
                {
                    "case_id": case_id,
                    "key_version": _FIRST_VERSION,
                    "kek_id": kek_id,
                    "wrapped": wrapped,
                    "created_at": now,
                }
            )
            tokens = DataKey(key, case, _FIRST_VERSION).seal_fields(
                (name.value, text) for name, text in checked.items()
            )
            fields += [
                {
                    "case_id": case_id,
                    "field": name.value,
                    "category": category_of(name).value,
                    "key_version": _FIRST_VERSION,
                    "ciphertext": token,
                    "updated_at": now,
                }
                for name, token in zip(checked, tokens, strict=True)
            ]
            wanted = dict(lookups)
            wanted.update(
                {kind: checked[name] for name, kind in _INDEXED_FIELDS.items() if name in checked}
            )
            for kind, value in wanted.items():
                with contextlib.suppress(InvalidInput):  # unsearchable, still sealed
                    indexes.append(
                        {
                            "kind": kind.value,
                            "case_id": case_id,
                            "digest": self.blind_index(kind, value),
                        }
                    )
        rows.insert_new_cases(conn, keys, fields, indexes)


def _check_values(values: Mapping[CaseField, str]) -> dict[CaseField, str]:
    checked: dict[CaseField, str] = {}
    for name, value in values.items():
        try:
            case_field = CaseField(name)
        except ValueError as exc:
            raise InvalidInput(f"unknown case field {name!r}") from exc
        if not isinstance(value, str):
            raise InvalidInput(f"the field {case_field} must be text")
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"the field {case_field} is over {MAX_FIELD_CHARS} characters")
        checked[case_field] = value
    return checked


def purge_remnants(engine: Engine, *, attempts: int = 50, wait: float = 0.1) -> None:
    """After a shred has committed, clear copies of old pages the database still keeps.

    SQLite: checkpoint and truncate the write-ahead log (old frames may hold the wrapped key).
    A reader holding an older snapshot makes the checkpoint "busy" (it cannot finish): it is
    retried ``attempts`` times, ``wait`` seconds apart, and if it still cannot finish this
    raises :class:`VaultError` (an erasure must never be reported complete while the key's old
    bytes are still on disk). PostgreSQL: ``VACUUM`` the key and field tables so dead row
    versions are reclaimed. Neither reaches backups: rotating the KEK (``safereport keys
    rotate``) is what makes those useless.
    """
    if engine.dialect.name == "sqlite":
        for attempt in range(max(1, attempts)):
            if _checkpoint_truncated(engine):
                return
            if attempt + 1 < attempts:
                time.sleep(wait)
        raise VaultError(
            "erasure not complete: the database's write-ahead log could not be cleared "
            f"after {attempts} tries (another reader kept it busy); the data key is destroyed "
            "but an old copy may remain on disk: run the erasure again when the instance is "
            "quiet (safereport report erase-due)"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM vault_case_keys"))
        conn.execute(text("VACUUM vault_fields"))


def _checkpoint_truncated(engine: Engine) -> bool:
    """One ``wal_checkpoint(TRUNCATE)``: True when it finished (not busy)."""
    # On the driver connection directly: inside a transaction the checkpoint cannot finish.
    raw = engine.raw_connection()
    try:
        # The connection's busy timeout would make each try wait for it (seconds); the
        # retries above do the waiting, so one try returns at once. Restored after: the
        # connection goes back to the pool.
        cursor = raw.cursor()
        was = cursor.execute("PRAGMA busy_timeout").fetchone()
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            row = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(was[0]) if was else 5000}")
    finally:
        raw.close()
    return row is not None and int(row[0]) == 0
