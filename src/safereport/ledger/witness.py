"""A witness: an outside party that checks a log only ever grows, and cosigns what it checked.

The witness keeps, per log origin, the last checkpoint it cosigned, in its own state
directory (never in the log's database). It answers C2SP tlog-witness ``add-checkpoint``
requests (an old size, a consistency proof, the checkpoint): a checkpoint is cosigned (C2SP
tlog-cosignature, Ed25519 ``cosignature/v1`` with a timestamp) only if the log's key signed
it and a consistency proof links it to the last one. The check and the new state are one
step under an exclusive lock, and the state is fsync'd before the cosignature is returned.

Every refused request is appended to ``refusals.jsonl`` with its status, the checkpoint
offered and the last one cosigned: two signed, inconsistent checkpoints are proof that the
log forked or rewrote its history. Anyone can send requests, so that record is capped: once
``refusals.jsonl`` would pass half of ``refusals_max_bytes`` (default 16 MiB) it becomes
``refusals.1.jsonl`` (replacing the one before) and a new file starts, so the two hold the
most recent refusals and never more than the cap (one refusal is at most about 200 KiB).
The refusals that can prove a fork (a 409 for a second root at the same size, a 422: both
only ever recorded for a checkpoint the log's key signed) are also kept in
``evidence.jsonl``, once per checkpoint offered, and never rotated away: strangers cannot
make more of them than the log signed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from safereport.errors import ConfigError, LedgerError
from safereport.ledger import merkle
from safereport.ledger.keys import CosignatureSigner, read_key_file, write_key_file
from safereport.ledger.notes import (
    Checkpoint,
    Note,
    b64decode,
    parse_checkpoint,
    parse_note,
    parse_vkey,
)
from safereport.vault.keyfile import fsync_folder

__all__ = [
    "MAX_PROOF_LINES",
    "REFUSALS_MAX_BYTES",
    "AddCheckpoint",
    "Refused",
    "Witness",
    "WitnessRefusal",
    "parse_add_checkpoint",
]

_KEY = "witness.key"
_LOGS = "logs.json"
_REFUSALS = "refusals.jsonl"
_REFUSALS_OLD = "refusals.1.jsonl"
_EVIDENCE = "evidence.jsonl"
_REFUSALS_LOCK = ".refusals.lock"
#: The default cap on the refusal record (the two files together), in bytes.
REFUSALS_MAX_BYTES = 16 * 1024 * 1024
_LOCK = ".lock"
#: tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
_OLD = re.compile(r"^old (0|[1-9][0-9]*)$")


class Refused(IntEnum):
    """Why a witness refuses, as the HTTP status tlog-witness prescribes for it."""

    BAD_REQUEST = 400
    FORBIDDEN = 403
    UNKNOWN_LOG = 404
    CONFLICT = 409
    TOO_LARGE = 413
    UNPROCESSABLE = 422


class WitnessRefusal(LedgerError):
    """The witness will not cosign this checkpoint (the refusal has been recorded).

    ``size`` is set on a 409 for a stale old size: the size the witness last cosigned.
    """

    def __init__(self, message: str, status: Refused, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` request body."""

    old: int
    proof: tuple[bytes, ...]
    note: str


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """``old N``, up to 63 base64 proof lines, a blank line, a signed checkpoint note."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LedgerError("the request is not UTF-8 text") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise LedgerError("the request has an old size line, proof lines, a blank line, a note")
    lines = head.split("\n")
    match = _OLD.match(lines[0])
    if match is None:
        raise LedgerError("the request starts with the line 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise LedgerError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(b64decode(line, "a consistency proof line") for line in lines[1:])
    if any(len(value) != merkle.HASH_SIZE for value in proof):
        raise LedgerError("a consistency proof line is not a 32-byte hash")
    return AddCheckpoint(int(match.group(1)), proof, note)


@dataclass(frozen=True)
class _Seen:
    vkey: str
    note: str | None

    @property
    def checkpoint(self) -> Checkpoint | None:
        return None if self.note is None else parse_checkpoint(parse_note(self.note).text)

    @property
    def size(self) -> int:
        checkpoint = self.checkpoint
        return 0 if checkpoint is None else checkpoint.size


class Witness:
    def __init__(
        self,
        state_dir: Path,
        clock: Callable[[], int] | None = None,
        *,
        refusals_max_bytes: int = REFUSALS_MAX_BYTES,
    ) -> None:
        if refusals_max_bytes < 2:
            raise ConfigError("the refusal record needs a cap of at least a few bytes")
        self.state_dir = state_dir
        self.refusals_max_bytes = refusals_max_bytes
        self.signer = read_key_file(state_dir / _KEY, CosignatureSigner)
        self._clock = clock or (lambda: int(time.time()))

    @classmethod
    def create(cls, state_dir: Path, name: str) -> Witness:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_key_file(state_dir / _KEY, CosignatureSigner.generate(name))
        return cls(state_dir)

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    # -- state -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict[str, _Seen]]:
        """The state, under an exclusive lock; saved when the block ends without error."""
        with open(self.state_dir / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            logs = self._load()
            before = dict(logs)
            yield logs
            if logs != before:
                self._save(logs)

    def _load(self) -> dict[str, _Seen]:
        path = self.state_dir / _LOGS
        if not path.exists():
            return {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"the witness state {path} is unreadable") from exc
        return {origin: _Seen(item["vkey"], item.get("checkpoint")) for origin, item in raw.items()}

    def _save(self, logs: dict[str, _Seen]) -> None:
        """Replace the state file atomically and durably (file and directory fsync'd)."""
        path = self.state_dir / _LOGS
        data = {o: {"vkey": s.vkey, "checkpoint": s.note} for o, s in sorted(logs.items())}
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_folder(self.state_dir)

    def trust(self, vkey: str) -> str:
        """Start watching the log whose key is ``vkey``; returns its origin (the key's name)."""
        verifier = parse_vkey(vkey)
        with self._locked() as logs:
            known = logs.get(verifier.name)
            if known is not None and known.vkey != vkey.strip():
                raise ConfigError(f"the witness already knows {verifier.name} by another key")
            if known is None:
                logs[verifier.name] = _Seen(vkey.strip(), None)
        return verifier.name

    def last(self, origin: str) -> str | None:
        seen = self._load().get(origin)
        return None if seen is None else seen.note

    def refusals(self) -> list[dict[str, Any]]:
        """The refusals still on record (the capped files), oldest first."""
        return [
            item for name in (_REFUSALS_OLD, _REFUSALS) for item in self._jsonl(name)
        ]

    def evidence(self) -> list[dict[str, Any]]:
        """Refusals that may prove a fork, once per checkpoint offered; never rotated."""
        return self._jsonl(_EVIDENCE)

    def _jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self.state_dir / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    # -- cosigning -------------------------------------------------------------------------

    def add_checkpoint(self, body: bytes) -> str:
        """Answer a tlog-witness ``add-checkpoint`` request: the cosignature line(s).

        Raises WitnessRefusal with the status the spec prescribes; every refusal is recorded.
        """
        try:
            request = parse_add_checkpoint(body)
            note = parse_note(request.note)
        except LedgerError as exc:
            self._record(Refused.BAD_REQUEST, str(exc), body=body)
            raise WitnessRefusal(str(exc), Refused.BAD_REQUEST) from exc
        return self._cosign(note, request.old, request.proof, body)

    def cosign(self, note_text: str, proof: Sequence[bytes] = ()) -> str:
        """Check ``note_text`` against the last checkpoint cosigned; return it cosigned.

        The file-based round (``safereport witness cosign``): the old size is always the one
        the witness last cosigned, so ``proof`` must run from there.
        """
        try:
            note = parse_note(note_text)
        except LedgerError as exc:
            self._record(Refused.BAD_REQUEST, str(exc), offered=note_text)
            raise WitnessRefusal(str(exc), Refused.BAD_REQUEST) from exc
        seen = self._load().get(note.text.split("\n", 1)[0])
        old = 0 if seen is None else seen.size
        line = self._cosign(note, old, tuple(proof), None)
        return note.render() + line

    def _cosign(self, note: Note, old: int, proof: tuple[bytes, ...], body: bytes | None) -> str:
        origin = note.text.split("\n", 1)[0]
        with self._locked() as logs:
            seen = logs.get(origin)
            try:
                if seen is None:
                    raise WitnessRefusal(
                        f"this witness does not watch the log {origin!r}", Refused.UNKNOWN_LOG
                    )
                _check(seen, note, old, proof)
            except WitnessRefusal as exc:
                self._record(
                    exc.status,
                    str(exc),
                    origin=origin,
                    last=None if seen is None else seen.note,
                    offered=note.render(),
                    body=body,
                )
                raise
            logs[origin] = _Seen(seen.vkey, note.render())
        timestamp = max(1, self._clock())  # tlog-witness: the timestamp MUST NOT be zero
        cosigned = self.signer.cosign(Note(note.text, ()), timestamp)
        return cosigned.signatures[0].render()

    def _record(
        self,
        status: Refused,
        reason: str,
        *,
        origin: str | None = None,
        last: str | None = None,
        offered: str | None = None,
        body: bytes | None = None,
    ) -> None:
        """Append one refusal, durably: with a valid signature it may prove a fork."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": int(status),
            "origin": origin,
            "reason": reason,
            "last_cosigned": last,
            "offered": offered,
            "request": None if body is None else body.decode("utf-8", errors="replace"),
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        # One writer at a time, also outside _locked (a lock of its own: flock on a second
        # descriptor of _LOCK would wait for this very process).
        with open(self.state_dir / _REFUSALS_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._rotate(len(line.encode("utf-8")))
            _append_durably(self.state_dir / _REFUSALS, line)
            if offered is not None and _is_evidence(status, reason) and not self._kept(offered):
                _append_durably(self.state_dir / _EVIDENCE, line)

    def _rotate(self, adding: int) -> None:
        """Start a new refusal file if ``adding`` bytes would take this one past half the cap
        (the older file is dropped)."""
        path = self.state_dir / _REFUSALS
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size > 0 and size + adding > self.refusals_max_bytes // 2:
            os.replace(path, self.state_dir / _REFUSALS_OLD)
            fsync_folder(self.state_dir)

    def _kept(self, offered: str) -> bool:
        return any(item.get("offered") == offered for item in self._jsonl(_EVIDENCE))

    def record_refusal(self, status: Refused, reason: str, body: bytes) -> None:
        """Record a request refused before it reached the checks (e.g. an oversized body)."""
        self._record(status, reason, body=body)


def _is_evidence(status: Refused, reason: str) -> bool:
    """A refusal of a checkpoint the log's key signed that contradicts the one cosigned."""
    forked = status is Refused.CONFLICT and "the log forked" in reason
    return forked or status is Refused.UNPROCESSABLE


def _append_durably(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _check(seen: _Seen, note: Note, old: int, proof: tuple[bytes, ...]) -> None:
    """The checks of tlog-witness ``add-checkpoint`` after the origin's, in the spec's order."""
    origin = note.text.split("\n", 1)[0]
    try:
        note.verify(parse_vkey(seen.vkey))
    except LedgerError as exc:
        raise WitnessRefusal(f"refused to cosign {origin}: {exc}", Refused.FORBIDDEN) from exc
    try:
        checkpoint = parse_checkpoint(note.text)
    except LedgerError as exc:
        raise WitnessRefusal(f"refused to cosign {origin}: {exc}", Refused.BAD_REQUEST) from exc
    if old > checkpoint.size:
        raise WitnessRefusal(
            f"refused to cosign {origin}: size {checkpoint.size} is smaller than the "
            f"old size {old}",
            Refused.BAD_REQUEST,
        )
    last = seen.checkpoint
    known = 0 if last is None else last.size
    if old != known:
        raise WitnessRefusal(
            f"refused to cosign {origin}: the last checkpoint cosigned has size {known}, not {old}",
            Refused.CONFLICT,
            size=known,
        )
    _check_growth(origin, last, checkpoint, proof)


def _check_growth(
    origin: str, old: Checkpoint | None, new: Checkpoint, proof: Sequence[bytes]
) -> None:
    if old is None or old.size == 0:
        if proof:
            raise WitnessRefusal(
                f"refused to cosign {origin}: a proof from size 0 must be empty",
                Refused.UNPROCESSABLE,
            )
        return  # Trust on first use; every tree extends the empty one.
    if new.size == old.size:
        if new.root != old.root:
            raise WitnessRefusal(
                f"refused to cosign {origin}: two different roots for size {new.size}: "
                "the log forked",
                Refused.CONFLICT,
            )
        if proof:
            raise WitnessRefusal(
                f"refused to cosign {origin}: equal sizes take an empty proof",
                Refused.UNPROCESSABLE,
            )
        return
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except LedgerError as exc:
        raise WitnessRefusal(f"refused to cosign {origin}: {exc}", Refused.UNPROCESSABLE) from exc
