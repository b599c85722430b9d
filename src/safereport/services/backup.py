"""Backups of a running instance, a separate keys backup, and a restore that proves itself.

An archive (``safereport-<instance>-<time>.srbackup``) holds a consistent copy of the database
(SQLite's online backup API, or ``pg_dump`` in an exported snapshot), ``config.toml`` and the
other files of the data directory, and a manifest: the row count of every table, the SHA-256 of
every member and a fingerprint of every key file. It is a gzip'd tar sealed in 1 MiB chunks with
AES-256-GCM under the instance's backup key (``keys/backup.key``); each chunk's nonce carries
its number and the last chunk is marked, and the header is authenticated with every chunk, so a
flipped, dropped, reordered or appended byte anywhere is refused.

The keys never go into an archive. ``export_keys`` writes them (``keys/`` less the log's
last-checkpoint state) to a separate file sealed under a passphrase (scrypt, then AES-256-GCM);
that file is the only other place the backup key lives, so an archive is unreadable without it.

``restore`` decrypts and checks everything in a staging folder beside the target before it
writes anything else, restores the database (a SQLite file, or ``pg_restore`` into an empty
PostgreSQL database), recomputes the ledger (``ledger verify``) and compares every table's count
with the manifest; only then is the staging folder renamed into place.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from safereport.config import CONFIG_FILE, load_settings
from safereport.errors import InstanceError, InvalidInput, SafeReportError, VaultError
from safereport.ledger.audit import AuditReport
from safereport.services.instance import Instance
from safereport.store.db import make_engine
from safereport.store.snapshot import (
    copy_sqlite,
    count_rows,
    dump_postgres,
    restore_postgres,
    table_names,
)
from safereport.vault.keyfile import make_key_folder, read_key_file, write_key_file
from safereport.vault.recipes import (
    STREAM_TAG_BYTES,
    StreamOpener,
    StreamSealer,
    new_key,
    new_salt,
    open_under_passphrase,
    seal_under_passphrase,
)

__all__ = [
    "ARCHIVE_SUFFIX",
    "BACKUP_KEY_FILE",
    "BackupDamaged",
    "BackupResult",
    "RestoreResult",
    "create_backup",
    "export_keys",
    "restore_backup",
]

ARCHIVE_SUFFIX = ".srbackup"
BACKUP_KEY_FILE = "backup.key"
_MAGIC = b"SAFEREPORT-BACKUP/1\n"
_KEYS_MAGIC = b"SAFEREPORT-KEYS/1\n"
_CHUNK = 1 << 20
_LEN = struct.Struct(">I")
#: The ledger signer's memory of its last checkpoint: state, not a key (see restore_backup).
_SIGNED_STATE = "ledger.last-checkpoint"
_SQLITE_MEMBER = "database/safereport.db"
_POSTGRES_MEMBER = "database/postgres.dump"
_MIN_PASSPHRASE = 12
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class BackupDamaged(SafeReportError):
    """The archive or keys file is damaged, truncated, foreign, or opened with the wrong key."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    counts: dict[str, int]
    removed: list[Path]


@dataclass(frozen=True)
class RestoreResult:
    target: Path
    database: str
    counts: dict[str, int]
    ledger_size: int
    ledger_checkpoints: int
    ledger_root: bytes


# --- the sealed stream --------------------------------------------------------------------


class _SealingWriter(io.RawIOBase):
    """A write-only file that seals what it is given in fixed chunks (the vault's STREAM
    recipe: each chunk's nonce carries its number and whether it is the last)."""

    def __init__(self, out: IO[bytes], key: bytes, header: bytes) -> None:
        self._out, self._sealer = out, StreamSealer(key, header)
        self._buffer = bytearray()
        out.write(_MAGIC + _LEN.pack(len(header)) + header + self._sealer.prefix)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += bytes(data)
        while len(self._buffer) > _CHUNK:
            self._emit(bytes(self._buffer[:_CHUNK]), last=False)
            del self._buffer[:_CHUNK]
        return len(data)

    def finish(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, plain: bytes, *, last: bool) -> None:
        sealed = self._sealer.seal(plain, last=last)
        self._out.write(_LEN.pack(len(sealed)) + sealed)


def _read_exact(handle: IO[bytes], size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise BackupDamaged(f"the archive is truncated ({what} is cut short)")
    return data


def _read_header(handle: IO[bytes]) -> tuple[bytes, dict[str, Any]]:
    if handle.read(len(_MAGIC)) != _MAGIC:
        raise BackupDamaged("not a safereport backup archive (or its first bytes are damaged)")
    (length,) = _LEN.unpack(_read_exact(handle, _LEN.size, "the header"))
    if length > 64 * 1024:
        raise BackupDamaged("the archive's header is damaged")
    header = _read_exact(handle, length, "the header")
    try:
        fields = json.loads(header)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupDamaged("the archive's header is damaged") from exc
    if not isinstance(fields, dict):
        raise BackupDamaged("the archive's header is damaged")
    return header, fields


def _open_chunks(handle: io.BufferedReader, key: bytes, header: bytes) -> Iterator[bytes]:
    """Every chunk's plaintext, each checked; BackupDamaged at the first one that fails."""
    opener = StreamOpener(key, header, _read_exact(handle, 7, "the header"))
    index = 0
    while True:
        raw = handle.read(_LEN.size)
        if len(raw) != _LEN.size:
            raise BackupDamaged("the archive is truncated (its last chunk is missing)")
        (length,) = _LEN.unpack(raw)
        if length > _CHUNK + STREAM_TAG_BYTES:
            raise BackupDamaged(f"the archive is damaged (chunk {index} has an impossible length)")
        sealed = _read_exact(handle, length, f"chunk {index}")
        last = handle.peek(1) == b""  # a chunk is the last one if nothing follows it
        try:
            yield opener.open(index, sealed, last=last)
        except VaultError as exc:
            raise BackupDamaged(
                f"the archive is damaged: chunk {index} fails its integrity check"
            ) from exc
        if last:
            return
        index += 1


# --- keys ---------------------------------------------------------------------------------


def _key_files(keys_dir: Path) -> dict[str, bytes]:
    """Every key file, by its path under ``keys/`` (organisations' keys are in ``orgs/``)."""
    return {
        path.relative_to(keys_dir).as_posix(): read_key_file(path, "the key file")
        for path in sorted(keys_dir.rglob("*"))
        if path.is_file() and not _is_state(path.name) and not path.name.endswith(".partial")
    }


def _is_state(name: str) -> bool:
    """The signer's memory, or one of its temporaries (``ledger.last-checkpoint.<pid>.tmp``,
    there for a moment while a checkpoint is signed during a backup)."""
    return name == _SIGNED_STATE or (name.startswith(f"{_SIGNED_STATE}.")
                                     and name.endswith(".tmp"))


def _key_path(keys_dir: Path, name: str) -> Path:
    """Where a key named in a keys backup goes; BackupDamaged for a name that leaves keys/."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise BackupDamaged(f"the keys backup names a key outside keys/: {name!r}")
    return keys_dir.joinpath(*parts)


def _fingerprints(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def _key_id(backup_key: bytes) -> str:
    return hashlib.sha256(b"safereport backup key\n" + backup_key).hexdigest()[:32]


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < _MIN_PASSPHRASE:
        raise InvalidInput(f"the passphrase must have at least {_MIN_PASSPHRASE} characters")


def export_keys(instance: Instance, destination: Path, passphrase: str) -> Path:
    """Write every key of the instance to ``destination``, sealed under ``passphrase``.

    Makes the backup key first if the instance has none (archives need it).
    """
    _check_passphrase(passphrase)
    keys_dir = instance.settings.keys_dir
    backup_key = keys_dir / BACKUP_KEY_FILE
    if not backup_key.exists():
        write_key_file(backup_key, new_key())
    files = _key_files(keys_dir)
    salt = new_salt()
    header = json.dumps({
        "format": 1, "instance_id": instance.settings.instance_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "kdf": "scrypt", **_SCRYPT, "salt": base64.b64encode(salt).decode(),
    }, sort_keys=True).encode()
    body = json.dumps({n: base64.b64encode(d).decode() for n, d in files.items()}).encode()
    sealed = seal_under_passphrase(passphrase, salt, body, header, **_SCRYPT)
    blob = _KEYS_MAGIC + _LEN.pack(len(header)) + header + sealed
    write_key_file(destination, blob, replace=True)
    return destination


def _read_keys(path: Path, passphrase: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the keys backup {path}: {exc.strerror}") from exc
    if not data.startswith(_KEYS_MAGIC):
        raise BackupDamaged(f"{path} is not a safereport keys backup")
    rest = data[len(_KEYS_MAGIC):]
    try:
        (length,) = _LEN.unpack(rest[: _LEN.size])
        header = rest[_LEN.size : _LEN.size + length]
        fields = json.loads(header)
        sealed = rest[_LEN.size + length :]
        salt = base64.b64decode(fields["salt"])
        body = json.loads(open_under_passphrase(passphrase, salt, sealed, header, **_SCRYPT))
    except VaultError as exc:
        raise BackupDamaged(f"the passphrase is wrong, or {path} is damaged") from exc
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise BackupDamaged(f"{path} is damaged") from exc
    return fields, {name: base64.b64decode(value) for name, value in body.items()}


# --- backup -------------------------------------------------------------------------------


def _data_files(instance: Instance) -> list[Path]:
    """Files of the data directory that go into an archive: not keys, not the live database."""
    root = instance.settings.data_dir
    live = instance.settings.sqlite_path.name
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] == "keys" or relative.name.startswith(live):
            continue
        found.append(path)
    return found


def _snapshot(instance: Instance, workdir: Path) -> tuple[str, Path, dict[str, int]]:
    if instance.engine.dialect.name == "postgresql":
        dump = workdir / "postgres.dump"
        counts = dump_postgres(instance.engine, instance.settings.effective_database_url(), dump)
        return _POSTGRES_MEMBER, dump, counts
    copy = workdir / "safereport.db"
    copy_sqlite(Path(instance.engine.url.database or instance.settings.sqlite_path), copy)
    engine = make_engine(f"sqlite:///{copy}", pool=False)
    try:
        with engine.connect() as conn:
            counts = count_rows(conn)
    finally:
        engine.dispose()
    return _SQLITE_MEMBER, copy, counts


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def create_backup(
    instance: Instance,
    directory: Path,
    *,
    keep: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupResult:
    """Write one sealed archive of the running instance into ``directory``; keep the newest
    ``keep`` archives of this instance there (older ones are deleted after this one is safe)."""
    if keep is not None and keep < 1:
        raise InvalidInput("--keep must be at least 1")
    settings = instance.settings
    if not (settings.keys_dir / BACKUP_KEY_FILE).exists():
        raise InstanceError(
            "this instance has no backup key yet: run `safereport backup-keys --to FILE` first "
            "(archives are sealed under a key that only the keys backup holds)"
        )
    backup_key = read_key_file(settings.keys_dir / BACKUP_KEY_FILE, "the backup key")
    directory = directory.expanduser().resolve()
    if not directory.is_dir():
        raise InvalidInput(f"the folder {directory} does not exist")
    if directory.is_relative_to(settings.data_dir.resolve()):
        raise InvalidInput("keep backups outside the data directory (each would hold the last)")
    moment = now()
    name = f"safereport-{settings.instance_id}-{moment.strftime('%Y%m%dT%H%M%S%fZ')}"
    path = directory / (name + ARCHIVE_SUFFIX)
    workdir = Path(tempfile.mkdtemp(prefix=".safereport-backup-", dir=directory))
    try:
        member, snapshot, counts = _snapshot(instance, workdir)
        files = [(member, snapshot)] + [
            (f"data/{p.relative_to(settings.data_dir)}", p) for p in _data_files(instance)
        ]
        manifest = {
            "format": 1, "instance_id": settings.instance_id, "origin": settings.log_origin,
            "created": moment.isoformat(), "database": member, "counts": counts,
            "sha256": {arc: _sha256_file(p) for arc, p in files},
            "keys": _fingerprints(_key_files(settings.keys_dir)),
        }
        header = json.dumps({
            "format": 1, "instance_id": settings.instance_id, "key_id": _key_id(backup_key),
            "created": moment.isoformat(),
        }, sort_keys=True).encode()
        _seal_archive(path, backup_key, header, manifest, files)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    removed = _rotate(directory, settings.instance_id, keep) if keep else []
    return BackupResult(path, path.stat().st_size, counts, removed)


def _seal_archive(path: Path, key: bytes, header: bytes, manifest: dict[str, Any],
                  files: list[tuple[str, Path]]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            writer = _SealingWriter(out, key, header)
            # gzip level 1: the sealed fields do not compress, the rest does, and quickly.
            with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=1, mtime=0) as packed, \
                    tarfile.open(fileobj=packed, mode="w|") as tar:
                body = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
                for arcname, source in files:
                    tar.add(source, arcname=arcname, recursive=False)
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _rotate(directory: Path, instance_id: str, keep: int) -> list[Path]:
    mine = sorted(directory.glob(f"safereport-{instance_id}-*{ARCHIVE_SUFFIX}"))
    old = mine[:-keep]
    for path in old:
        path.unlink()
    return old


# --- restore ------------------------------------------------------------------------------


def _decrypt_to(archive: Path, key: bytes, header: bytes, destination: Path) -> None:
    with open(archive, "rb") as handle, open(destination, "wb") as out:
        handle.seek(len(_MAGIC) + _LEN.size + len(header))
        for plain in _open_chunks(handle, key, header):
            out.write(plain)


def _unpack(plain_tar: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(plain_tar, mode="r:gz") as tar:
            tar.extractall(into, filter="data")
        manifest: dict[str, Any] = json.loads((into / "manifest.json").read_text("utf-8"))
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise BackupDamaged(f"the archive's contents are damaged ({exc})") from exc
    for arcname, digest in manifest.get("sha256", {}).items():
        member = into / arcname
        if not member.is_file() or _sha256_file(member) != digest:
            raise BackupDamaged(f"the archive's {arcname} does not match its manifest")
    return manifest


def _check_keys(manifest: dict[str, Any], keys: dict[str, bytes]) -> None:
    """The keys backup must hold the very keys the archive was made with."""
    have = _fingerprints(keys)
    for name, digest in manifest.get("keys", {}).items():
        # An organisation's disclosure key is made on first release to it, without the
        # operator knowing: one made after the keys backup does not stop a restore (only
        # packages sealed to it stay closed; docs/operations.md says to export keys again).
        if name == BACKUP_KEY_FILE or name.startswith("orgs/"):
            continue
        if have.get(name) != digest:
            raise BackupDamaged(
                f"the keys backup's {name} is not the one this archive was made with "
                "(keys rotated since?): use a keys backup made after the last `keys rotate`"
            )


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InstanceError(f"{target} exists and is not an empty folder; nothing was changed")
    if not target.parent.is_dir():
        raise InstanceError(f"the folder {target.parent} does not exist")


def restore_backup(
    archive: Path,
    keys_backup: Path,
    passphrase: str,
    target: Path,
    *,
    database_url: str | None = None,
) -> RestoreResult:
    """Restore ``archive`` into the new folder ``target`` (and, for a PostgreSQL archive, the
    empty database at ``database_url``); refuse a damaged or foreign archive, writing nothing."""
    target = target.expanduser().resolve()
    _check_target(target)
    key_fields, keys = _read_keys(keys_backup, passphrase)
    try:
        with open(archive, "rb") as handle:
            header, fields = _read_header(handle)
    except OSError as exc:
        raise InvalidInput(f"cannot read {archive}: {exc.strerror}") from exc
    if BACKUP_KEY_FILE not in keys or fields.get("key_id") != _key_id(keys[BACKUP_KEY_FILE]):
        raise BackupDamaged(
            f"this archive was not made under this keys backup's key (it names instance "
            f"{fields.get('instance_id')!r}, the keys backup {key_fields.get('instance_id')!r}): "
            "a foreign archive, or its header is damaged"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        staging.chmod(0o700)
        result = _restore_into(archive, header, keys, staging, database_url)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreResult(target, *result)


def _restore_into(
    archive: Path, header: bytes, keys: dict[str, bytes], staging: Path, database_url: str | None
) -> tuple[str, dict[str, int], int, int, bytes]:
    work = staging / ".restore"
    work.mkdir(mode=0o700)
    _decrypt_to(archive, keys[BACKUP_KEY_FILE], header, work / "archive.tar.gz")
    manifest = _unpack(work / "archive.tar.gz", work / "archive")
    _check_keys(manifest, keys)
    for name, data in keys.items():
        path = _key_path(staging / "keys", name)
        make_key_folder(path.parent)
        write_key_file(path, data)
    for arcname in manifest["sha256"]:
        if arcname.startswith("data/"):
            destination = staging / arcname.removeprefix("data/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / "archive" / arcname, destination)
    database = _restore_database(manifest, work / "archive", staging, database_url)
    shutil.rmtree(work)
    counts, report = _prove(staging, manifest, database_url)
    return database, counts, report.size, report.checkpoints, report.root


def _restore_database(
    manifest: dict[str, Any], unpacked: Path, staging: Path, database_url: str | None
) -> str:
    member = manifest.get("database")
    if member == _SQLITE_MEMBER:
        if database_url:
            raise InstanceError(
                "this archive holds a SQLite database: unset SAFEREPORT_DATABASE_URL to restore it"
            )
        shutil.copy2(unpacked / member, staging / "safereport.db")
        return "sqlite"
    if member == _POSTGRES_MEMBER:
        if not database_url:
            raise InstanceError(
                "this archive holds a PostgreSQL dump: set SAFEREPORT_DATABASE_URL to an empty "
                "database to restore it into"
            )
        engine = make_engine(database_url, pool=False)
        try:
            with engine.connect() as conn:
                if table_names(conn):
                    raise InstanceError("the PostgreSQL database is not empty; nothing was changed")
        finally:
            engine.dispose()
        restore_postgres(database_url, unpacked / member)
        return "postgresql"
    raise BackupDamaged("the archive's manifest names no database")


def _prove(
    staging: Path, manifest: dict[str, Any], database_url: str | None
) -> tuple[dict[str, int], AuditReport]:
    """``ledger verify`` on the restored instance, and every table's count as backed up."""
    from dataclasses import replace

    from safereport.config import Secret
    from safereport.ledger.log import open_ledger

    settings = load_settings(staging)
    settings = replace(settings, database_url=Secret(database_url) if database_url else None)
    if not (staging / CONFIG_FILE).is_file():
        raise BackupDamaged("the archive holds no config.toml")
    engine = make_engine(settings.effective_database_url(), pool=False)
    try:
        with engine.connect() as conn:
            counts = count_rows(conn)
        if counts != manifest["counts"]:
            wrong = sorted(n for n in set(counts) | set(manifest["counts"])
                           if counts.get(n) != manifest["counts"].get(n))
            raise BackupDamaged(f"restored counts differ from the archive's for: {wrong}")
        ledger = open_ledger(settings, engine)
        try:
            report = ledger.verify()
        finally:
            ledger.close()
    finally:
        engine.dispose()
    return counts, report
