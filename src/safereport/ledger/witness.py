"""A witness: an outside party that checks a log only ever grows, and cosigns what it checked.

The witness keeps, per log origin, the last checkpoint it cosigned, in its own state
directory (never in the log's database). A new checkpoint is cosigned (C2SP tlog-cosignature,
Ed25519 ``cosignature/v1``) only if the log's key signed it and a consistency proof links it
to the last one. Anything else is refused, and the refusal is written to ``refusals.jsonl``
with both checkpoints: two signed, inconsistent checkpoints are proof that the log forked or
rewrote its history.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safereport.errors import ConfigError, LedgerError
from safereport.ledger import merkle
from safereport.ledger.keys import CosignatureSigner, read_key_file, write_key_file
from safereport.ledger.notes import Checkpoint, parse_checkpoint, parse_note, parse_vkey

__all__ = ["Witness", "WitnessRefusal"]

_KEY = "witness.key"
_LOGS = "logs.json"
_REFUSALS = "refusals.jsonl"
_LOCK = ".lock"


class WitnessRefusal(LedgerError):
    """The witness will not cosign this checkpoint (the refusal has been recorded)."""


@dataclass(frozen=True)
class _Seen:
    vkey: str
    note: str | None

    @property
    def checkpoint(self) -> Checkpoint | None:
        return None if self.note is None else parse_checkpoint(parse_note(self.note).text)


class Witness:
    def __init__(self, state_dir: Path, clock: Callable[[], int] | None = None) -> None:
        self.state_dir = state_dir
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
            yield logs
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
        path = self.state_dir / _LOGS
        data = {o: {"vkey": s.vkey, "checkpoint": s.note} for o, s in sorted(logs.items())}
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)

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
        path = self.state_dir / _REFUSALS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    # -- cosigning -------------------------------------------------------------------------

    def cosign(self, note_text: str, proof: Sequence[bytes] = ()) -> str:
        """Check ``note_text`` against the last checkpoint seen, then cosign it."""
        note = parse_note(note_text)
        origin = note.text.split("\n", 1)[0]
        with self._locked() as logs:
            seen = logs.get(origin)
            if seen is None:
                raise WitnessRefusal(f"this witness does not watch the log {origin!r}")
            try:
                note.verify(parse_vkey(seen.vkey))
                checkpoint = parse_checkpoint(note.text)
                _check_growth(seen.checkpoint, checkpoint, proof)
            except LedgerError as exc:
                self._record_refusal(origin, seen.note, note_text, str(exc))
                raise WitnessRefusal(f"refused to cosign {origin}: {exc}") from exc
            logs[origin] = _Seen(seen.vkey, note.render())
        return self.signer.cosign(note, self._clock()).render()

    def _record_refusal(self, origin: str, last: str | None, offered: str, reason: str) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "origin": origin,
            "reason": reason,
            "last_cosigned": last,
            "offered": offered,
        }
        with open(self.state_dir / _REFUSALS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _check_growth(old: Checkpoint | None, new: Checkpoint, proof: Sequence[bytes]) -> None:
    if old is None or old.size == 0:
        return  # Trust on first use; every tree extends the empty one.
    if new.size < old.size:
        raise LedgerError(f"size {new.size} is smaller than the {old.size} already cosigned")
    if new.size == old.size:
        if new.root != old.root:
            raise LedgerError(f"two different roots for size {new.size}: the log forked")
        return
    merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
