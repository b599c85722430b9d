"""The log's side of C2SP tlog-witness: ask each configured witness to cosign a checkpoint.

After the log signs a checkpoint it hands the note to :meth:`WitnessClient.notify`, which
returns at once: a background thread does the asking, so a witness that is slow, down or
hostile never blocks or fails anyone's request. ``safereport ledger witness-sync`` does the
same round in the foreground (for a scheduler).

Each witness's answer is handled as the spec means it:

* 200: the cosignature line is checked against the witness's key and kept, per checkpoint;
* 409 with ``text/x.tlog.size``: the witness last cosigned another size; the request is sent
  again from that size (with a consistency proof from there);
* a 409 for our own size, a 422 (our proof does not link its view to our tree), or a witness
  that has cosigned a larger tree than ours: an **incident**. The witness has seen another
  history of this log. It is logged at CRITICAL and kept on the witness's status row, shown
  by ``safereport ledger witnesses`` and on the auditor's pages;
* anything else (refused, unreachable, a malformed answer) is a failure, kept as the
  witness's last error and tried again with the next checkpoint.

The cosignatures travel in the victim's receipts (:func:`cosigned_proof`).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import urllib.error
import urllib.request
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from safereport.errors import ConfigError, LedgerError
from safereport.ledger import tree
from safereport.ledger.keys import verify_cosignature
from safereport.ledger.notes import (
    Note,
    SignatureLine,
    SignatureType,
    Verifier,
    b64encode,
    parse_checkpoint,
    parse_note,
    parse_vkey,
)
from safereport.ledger.verifier import TlogProof, format_proof
from safereport.store.ledger import ledger_checkpoints
from safereport.store.witnesses import (
    cosignature_of,
    cosignatures_for,
    cosigned_sizes,
    save_cosignature,
    save_status,
    statuses,
)

if TYPE_CHECKING:
    from safereport.ledger.log import Ledger

__all__ = [
    "HttpPoster",
    "Outcome",
    "Poster",
    "WitnessClient",
    "WitnessEndpoint",
    "WitnessResult",
    "attach_witnesses",
    "client_for",
    "cosigned_note",
    "cosigned_proof",
    "parse_witnesses",
]

log = logging.getLogger("safereport.witness")

SIZE_TYPE = "text/x.tlog.size"
_SIZE_BODY = re.compile(r"^(0|[1-9][0-9]*)\n$")
#: A stale old size is corrected at most this many times in one round.
_ATTEMPTS = 3
#: The client attached to each open ledger, by the ledger's id (see :func:`client_for`). Weak:
#: the ledger's hook keeps its client alive, and nothing here keeps either alive.
_clients: weakref.WeakValueDictionary[int, WitnessClient] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness: its submission prefix and its cosignature/v1 verifier key."""

    url: str
    verifier: Verifier

    @property
    def key(self) -> str:
        """``<name>+<key id>``: how the witness is named in the log's tables."""
        return f"{self.verifier.name}+{self.verifier.key_id.hex()}"


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """The ``witnesses`` setting: one ``<url> <vkey>`` per line (or separated by ``;``)."""
    found = []
    for raw in re.split(r"[\n;]", text):
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        parts = item.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise ConfigError(f"a witness is given as '<http(s) url> <vkey>', not {item[:80]!r}")
        try:
            verifier = parse_vkey(parts[1])
        except LedgerError as exc:
            raise ConfigError(f"witness {parts[0]}: {exc}") from exc
        if verifier.kind is not SignatureType.COSIGNATURE_V1:
            raise ConfigError(f"witness {parts[0]}: its key must be a cosignature/v1 key (0x04)")
        found.append(WitnessEndpoint(parts[0].rstrip("/"), verifier))
    return tuple(found)


# -- talking to a witness ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


class Poster(Protocol):
    def post(self, url: str, body: bytes) -> Answer: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a witness that redirects is answering, not cosigning


class HttpPoster:
    """POST over HTTP(S) with the standard library; redirects are not followed."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, url: str, body: bytes) -> Answer:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(
                    response.status, response.headers.get("Content-Type", ""), response.read(65536)
                )
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers.get("Content-Type", ""), exc.read(65536))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise LedgerError(f"cannot reach the witness at {url}: {exc}") from exc


# -- the client ------------------------------------------------------------------------------


class Outcome(StrEnum):
    COSIGNED = "cosigned"
    FAILED = "failed"
    INCIDENT = "incident"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class WitnessResult:
    witness: str
    outcome: Outcome
    size: int
    detail: str


class _Incident(LedgerError):
    """The witness has seen another history of this log."""


class WitnessClient:
    """Asks every configured witness to cosign the log's checkpoints; keeps the answers."""

    def __init__(
        self,
        ledger: Ledger,
        witnesses: Sequence[WitnessEndpoint],
        *,
        poster: Poster | None = None,
        padded: bool = False,
    ) -> None:
        self.ledger = ledger
        self.witnesses = tuple(witnesses)
        self.poster = poster or HttpPoster()
        #: With padding on (``ledger.publish``), only the checkpoints that end a padding tick
        #: are offered: a witness sees the published sizes, never the batches in between.
        self.padded = padded
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._round = threading.Lock()  # one round at a time (background and foreground)
        _clients[id(ledger)] = self

    # -- in the background ---------------------------------------------------------------

    def notify(self, note: str) -> None:
        """Queue a newly signed checkpoint; returns at once and never raises."""
        try:
            if self.padded and not self._published(note):
                return
            self._queue.put_nowait(note)
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="safereport-witnesses", daemon=True
                    )
                    self._thread.start()
        except Exception:  # the log's signing must never fail because of us
            log.exception("could not queue a checkpoint for the witnesses")

    def _run(self) -> None:
        while True:
            note = self._queue.get()
            while not self._queue.empty():  # only the newest checkpoint matters
                note = self._queue.get_nowait()
            try:
                self.sync(note)
            except Exception:  # a dead worker would silently stop witnessing
                log.exception("a witness round failed")
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        """Block until every queued checkpoint has been offered (for tests and shutdown)."""
        self._queue.join()

    # -- one round -----------------------------------------------------------------------

    def sync(self, note: str | None = None) -> list[WitnessResult]:
        """Offer ``note`` (default: the latest signed checkpoint) to every witness.

        With padding on, only a published checkpoint (one that ends a padding tick) is ever
        offered: without ``note``, or if ``note`` is a batch's, the last tick's is offered.
        """
        if self.padded and (note is None or not self._published(note)):
            note = self._last_published()
        elif note is None:
            note = self.ledger.checkpoint()
        if note is None:
            return []  # padded, and no tick yet: nothing is published to cosign
        with self._round:
            return [self._offer(endpoint, note) for endpoint in self.witnesses]

    def _published(self, note: str) -> bool:
        from safereport.ledger.publish import is_published_size

        size = parse_checkpoint(parse_note(note).text).size
        with self.ledger.engine.connect() as conn:
            return is_published_size(conn, size)

    def _last_published(self) -> str | None:
        from safereport.ledger.publish import last_tick

        with self.ledger.engine.connect() as conn:
            found = last_tick(conn)
        return None if found is None else found.note

    def _offer(self, endpoint: WitnessEndpoint, note: str) -> WitnessResult:
        size = parse_checkpoint(parse_note(note).text).size
        now = datetime.now(UTC)
        try:
            line = self._ask(endpoint, note, size)
        except _Incident as exc:
            log.critical("WITNESS INCIDENT with %s: %s", endpoint.key, exc)
            self._status(endpoint, tried_at=now, error=str(exc), incident=str(exc), incident_at=now)
            return WitnessResult(endpoint.key, Outcome.INCIDENT, size, str(exc))
        except LedgerError as exc:
            log.warning("witness %s did not cosign checkpoint %d: %s", endpoint.key, size, exc)
            self._status(endpoint, tried_at=now, error=str(exc))
            return WitnessResult(endpoint.key, Outcome.FAILED, size, str(exc))
        if line is None:
            if self._held(endpoint, note):
                return WitnessResult(endpoint.key, Outcome.COSIGNED, size, "already held")
            return WitnessResult(endpoint.key, Outcome.SKIPPED, size, "cosigned a later one")
        with self.ledger.engine.begin() as conn:
            save_cosignature(conn, size, endpoint.key, line.render())
        self._status(endpoint, tried_at=now, ok_at=now, size=size, error=None)
        return WitnessResult(endpoint.key, Outcome.COSIGNED, size, "")

    def _known_size(self, endpoint: WitnessEndpoint) -> int:
        with self.ledger.engine.connect() as conn:
            for status in statuses(conn):
                if status.witness == endpoint.key and status.size is not None:
                    return status.size
        return 0

    def _held(self, endpoint: WitnessEndpoint, note: str) -> bool:
        """Whether a cosignature by this witness of exactly ``note`` is already kept.

        The size alone is not enough: a rewritten log (or a restored copy) may hold a
        cosignature of another checkpoint of the same size, which must not stand for this one.
        """
        text = parse_note(note).text
        size = parse_checkpoint(text).size
        with self.ledger.engine.connect() as conn:
            lines = cosignature_of(conn, size, endpoint.key)
        if lines is None:
            return False
        try:
            line = parse_note(text + "\n" + lines).signatures[0]
            verify_cosignature(Note(text, (line,)), endpoint.verifier)
        except (LedgerError, IndexError):
            return False
        return True

    def _ask(self, endpoint: WitnessEndpoint, note: str, size: int) -> SignatureLine | None:
        old = self._known_size(endpoint)
        if old > size or (old == size and self._held(endpoint, note)):
            return None  # this witness already cosigned this checkpoint or a later one
        for _ in range(_ATTEMPTS):
            proof = self.ledger.consistency(old, size) if 0 < old < size else []
            body = f"old {old}\n" + "".join(b64encode(h) + "\n" for h in proof) + "\n" + note
            answer = self.poster.post(endpoint.url + "/add-checkpoint", body.encode())
            if answer.status == 200:
                return _cosignature_in(answer.body, note, endpoint)
            old = _next_old(answer, old, size)
        raise LedgerError(f"the witness kept answering 409 ({_ATTEMPTS} tries)")

    def _status(self, endpoint: WitnessEndpoint, **values: object) -> None:
        try:
            with self.ledger.engine.begin() as conn:
                save_status(conn, endpoint.key, endpoint.url, **values)
        except Exception:  # status keeping must not end the round
            log.exception("could not record the status of witness %s", endpoint.key)


def _next_old(answer: Answer, old: int, size: int) -> int:
    """The old size to retry from after a refusal, or the refusal as an error."""
    text = answer.body.decode("utf-8", errors="replace").strip()[:300]
    if answer.status == 409 and answer.content_type.split(";")[0].strip() == SIZE_TYPE:
        match = _SIZE_BODY.match(answer.body.decode("ascii", errors="replace"))
        if match is None:
            raise LedgerError("the witness answered 409 with a malformed size")
        theirs = int(match.group(1))
        if theirs > size:
            raise _Incident(
                f"the witness has cosigned size {theirs} but this log has signed only {size}"
            )
        if theirs == old:
            raise LedgerError(f"the witness answered 409 for the size {old} it says it holds")
        return theirs
    if answer.status == 409:
        raise _Incident(f"the witness holds another checkpoint of size {size}: {text}")
    if answer.status == 422:
        raise _Incident(f"the witness's view of the log is not a prefix of ours: {text}")
    raise LedgerError(f"the witness answered {answer.status}: {text}")


def _cosignature_in(body: bytes, note: str, endpoint: WitnessEndpoint) -> SignatureLine:
    """The witness's own, valid cosignature among the lines it sent back."""
    try:
        lines = parse_note(note + body.decode("utf-8")).signatures
    except (LedgerError, UnicodeDecodeError) as exc:
        raise LedgerError("the witness's answer is not signature lines") from exc
    text = parse_note(note).text
    for line in lines:
        if line.name == endpoint.verifier.name and line.key_id == endpoint.verifier.key_id:
            verify_cosignature(Note(text, (line,)), endpoint.verifier)
            return line
    raise LedgerError("the witness's answer holds no cosignature by its key")


# -- wiring and receipts ---------------------------------------------------------------------


def client_for(ledger: Ledger) -> WitnessClient | None:
    """The witness client already attached to ``ledger``, if any."""
    client = _clients.get(id(ledger))
    return client if client is not None and client.ledger is ledger else None


def attach_witnesses(
    ledger: Ledger, setting: str, *, padded: bool = False
) -> WitnessClient | None:
    """Make ``ledger`` offer each new checkpoint to the witnesses in ``setting`` (with
    ``padded``, only the checkpoints that end a padding tick)."""
    endpoints = parse_witnesses(setting)
    if not endpoints:
        return None
    client = WitnessClient(ledger, endpoints, padded=padded)
    ledger.on_checkpoint(client.notify)
    return client


def cosigned_note(ledger: Ledger, note: str) -> str:
    """``note`` with every cosignature the log holds for it."""
    parsed = parse_note(note)
    size = parse_checkpoint(parsed.text).size
    with ledger.engine.connect() as conn:
        lines = cosignatures_for(conn, size)
    return parse_note(parsed.render() + "".join(lines)).render() if lines else parsed.render()


def cosigned_proof(ledger: Ledger, index: int) -> str:
    """A tlog-proof for entry ``index`` on the newest cosigned checkpoint that holds it.

    Falls back to :meth:`Ledger.proof_for` (the latest checkpoint, signed by the log only)
    while no witness has cosigned a checkpoint that covers the entry.
    """
    with ledger.engine.connect() as conn:
        for size in cosigned_sizes(conn, index + 1):
            note = conn.execute(
                select(ledger_checkpoints.c.note).where(ledger_checkpoints.c.size == size)
            ).scalar()
            if note is not None:
                hashes = tree.inclusion_proof(conn, index, size)
                break
        else:
            return ledger.proof_for(index)
    return format_proof(TlogProof(index, tuple(hashes), cosigned_note(ledger, str(note))))
