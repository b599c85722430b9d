"""Group commit: batches, a signed checkpoint per batch, failures, several processes, kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text
from tests.support.ledger_helpers import ORIGIN, make_decision, make_ledger
from tests.support.paths import ROOT, SUPPORT

from safereport.domain.vocabulary import DataCategory, Obligation
from safereport.errors import LedgerError
from safereport.ledger import merkle, tree
from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import Ledger, latest_checkpoint
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.sequencer import _Waiter
from safereport.policy.decision import _mint_decision
from safereport.store.db import make_engine
from safereport.store.ledger import ledger_checkpoints, ledger_entries
from safereport.store.tables import metadata

APPENDER = SUPPORT / "appender.py"


@pytest.fixture
def ledger(engine: Engine) -> Iterator[Ledger]:
    made = make_ledger(engine)
    yield made
    made.close()


def _actors(conn: Connection) -> dict[int, str]:
    return {
        int(row.idx): str(row.actor_id)
        for row in conn.execute(select(ledger_entries.c.idx, ledger_entries.c.actor_id))
    }


def _commit_from_threads(ledger: Ledger, count: int) -> list[int]:
    results: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        index = ledger.commit(make_decision(), actor_id=f"t{i}", case_id="case-1")
        with lock:
            results.append(index)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_commit_returns_a_durable_entry_then_signs_over_it(engine: Engine) -> None:
    ledger = make_ledger(engine)
    index = ledger.commit(make_decision(), actor_id="u1", case_id="case-1")
    assert index == 0
    with engine.connect() as conn:  # another connection: the entry is committed
        assert _actors(conn) == {0: "u1"}
    ledger.close()
    with engine.connect() as conn:
        latest = latest_checkpoint(conn)
    assert latest is not None and latest.size == 1
    assert ledger.verify().checkpoints == 1


def test_the_next_batch_signs_over_the_last_in_its_own_transaction(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint over batch 1 is stored by batch 2's commit: nothing signed is lost."""
    sizes_at_append: list[int] = []
    original = ledger._append  # every append, the sequencer's included, goes through it

    def watching(conn: Connection, records: Any, *args: Any) -> Any:
        latest = latest_checkpoint(conn)  # inside the batch's transaction, before its entries
        sizes_at_append.append(latest.size if latest else 0)
        return original(conn, records, *args)

    monkeypatch.setattr(ledger, "_append", watching)
    monkeypatch.setattr(ledger.sequencer, "_sign_alone", lambda: None)  # never idle-signs
    ledger.commit(make_decision(), actor_id="u1", case_id="c")
    ledger.commit(make_decision(), actor_id="u2", case_id="c")
    assert sizes_at_append == [0, 1]


def test_concurrent_requests_share_one_batch(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one batch commits, the requests that arrive meanwhile queue into the next one."""
    release = threading.Event()
    original = ledger._append
    calls: list[int] = []

    def slow_append(conn: Connection, records: Any, *args: Any) -> Any:
        calls.append(len(records))
        if len(calls) == 1:
            release.wait(30)
        return original(conn, records, *args)

    monkeypatch.setattr(ledger, "_append", slow_append)
    first = threading.Thread(
        target=ledger.commit, args=(make_decision(),), kwargs={"actor_id": "a", "case_id": "c"}
    )
    first.start()
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.001)
    assert calls, "the batch never reached the append"
    others = threading.Thread(target=_commit_from_threads, args=(ledger, 10))
    others.start()
    _queued(ledger, 10)
    release.set()
    first.join()
    others.join()
    assert calls == [1, 10]  # eleven decisions, two transactions
    assert ledger.sequencer.batches == 2
    ledger.close()  # the sequencer signs over the last batch once idle; wait for it
    with ledger.engine.connect() as conn:
        assert sorted(_actors(conn)) == list(range(11))
        sizes = [row.size for row in conn.execute(select(ledger_checkpoints.c.size))]
    # One signed checkpoint per batch, each signed after that batch committed: the first in
    # the second batch's transaction, the second once the sequencer was idle.
    assert sorted(sizes) == [1, 11]


def test_a_batch_is_never_larger_than_its_maximum(engine: Engine) -> None:
    ledger = make_ledger(engine)
    ledger.sequencer.max_batch = 3
    indices = _commit_from_threads(ledger, 20)
    ledger.close()
    assert sorted(indices) == list(range(20))
    assert ledger.sequencer.batches >= 7


def test_a_failed_batch_fails_every_request_in_it(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: Connection, records: Any, *args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledger, "_append", broken)
    with pytest.raises(LedgerError, match="RuntimeError"):
        ledger.commit(make_decision(), actor_id="u", case_id="c")
    assert ledger.size() == 0
    monkeypatch.undo()
    assert ledger.commit(make_decision(), actor_id="u", case_id="c") == 0  # it recovers


def test_a_refusal_to_sign_fails_the_request_closed(engine: Engine) -> None:
    """Entries committed but not signable (the tree contradicts a signed checkpoint): no ack."""
    ledger = make_ledger(engine)
    ledger.commit(make_decision(), actor_id="u1", case_id="c")
    ledger.sign_checkpoint()  # (the sequencer may not have signed over entry 0 yet)
    with engine.begin() as conn:  # someone rewrites entry 0 and its hash
        conn.execute(
            ledger_entries.update().where(ledger_entries.c.idx == 0).values(leaf_hash=b"\0" * 32)
        )
    with pytest.raises(LedgerError, match="refusing to sign"):
        ledger.commit(make_decision(), actor_id="u2", case_id="c")
    ledger.close()


def test_each_signed_checkpoint_reaches_the_hook_after_it_is_committed(engine: Engine) -> None:
    ledger = make_ledger(engine)
    seen: list[tuple[int, int | None]] = []

    def hook(note: str) -> None:
        size = parse_checkpoint(parse_note(note).text).size
        with engine.connect() as conn:
            stored = conn.execute(
                select(ledger_checkpoints.c.size).where(ledger_checkpoints.c.size == size)
            ).scalar()
        seen.append((size, stored))

    def failing(note: str) -> None:
        raise RuntimeError("the witness is down")

    ledger.on_checkpoint(failing)  # a failing hook changes nothing for the log or other hooks
    ledger.on_checkpoint(hook)
    for i in range(3):
        ledger.commit(make_decision(), actor_id=f"u{i}", case_id="c")
    ledger.close()
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_a_write_in_its_own_transaction_is_signed_over_by_close(engine: Engine) -> None:
    ledger = make_ledger(engine)
    with engine.begin() as conn:
        ledger.append(conn, make_decision(), actor_id="w", case_id="c")
    with engine.connect() as conn:
        assert latest_checkpoint(conn) is None
    ledger.close()
    with engine.connect() as conn:
        latest = latest_checkpoint(conn)
    assert latest is not None and latest.size == 1


def test_a_write_is_signed_over_by_a_running_sequencer(engine: Engine) -> None:
    ledger = make_ledger(engine)
    ledger.sequencer.start()
    with engine.begin() as conn:
        ledger.append(conn, make_decision(), actor_id="w", case_id="c")
    deadline = time.monotonic() + 30
    latest = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            latest = latest_checkpoint(conn)
        if latest is not None:
            break
        time.sleep(0.01)
    assert latest is not None and latest.size == 1
    assert not ledger._unsigned.is_set()
    ledger.close()


# -- several processes, and kill -9 --------------------------------------------------------


def _spawn(url: str, state: Path, name: str, threads: int, each: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, str(APPENDER), url, str(state), name, str(threads), str(each)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _parse(output: str) -> tuple[dict[int, str], list[str], bool]:
    acks: dict[int, str] = {}
    notes: list[str] = []
    done = False
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "ACK":
            index, actor = rest.split()
            assert int(index) not in acks, f"index {index} acknowledged twice"
            acks[int(index)] = actor
        elif kind == "CHECKPOINT":
            notes.append(bytes.fromhex(rest).decode())
        elif kind == "DONE":
            done = True
    return acks, notes, done


def _wait_for_the_dead(engine: Engine) -> None:
    """On PostgreSQL, a killed client's backend may still be finishing its last commit."""
    if engine.dialect.name != "postgresql":
        return
    others = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(others).scalar() == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the killed process's connections did not go away")


def _check_log(
    url: str, state: Path, acks: dict[int, str], notes: list[str], restart: str = "restart"
) -> int:
    """Nothing acknowledged lost; every signed checkpoint consistent; ``verify`` passes."""
    engine = make_engine(url)
    _wait_for_the_dead(engine)
    ledger = Ledger(engine, NoteSigner(ORIGIN, b"\x07" * 32), ORIGIN, signed_state=state)
    try:
        with engine.connect() as conn:
            stored = _actors(conn)
            size = tree.tree_size(conn)
        assert sorted(stored) == list(range(size)), "a gap in the indices"
        assert len(set(stored.values())) == size, "one decision stored twice"
        for index, actor in acks.items():
            assert stored.get(index) == actor, f"acknowledged entry {index} lost or changed"
        external = [(f"checkpoint {i} announced", note) for i, note in enumerate(notes)]
        report = ledger.verify(external)  # stored checkpoints, the signer's state file, these
        assert report.size == size
        # After a restart the log keeps signing and appending on top of what survived.
        ledger.commit(make_decision(), actor_id=restart, case_id="c")
        assert ledger.verify().size == size + 1
        return size
    finally:
        ledger.close()
        engine.dispose()


@pytest.mark.slow
def test_several_processes_append_without_gaps_or_duplicates(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    metadata.create_all(engine)
    engine.dispose()
    state = tmp_path / "ledger.last-checkpoint"
    children = [_spawn(db_url, state, f"p{p}", 4, 12) for p in range(3)]
    acks: dict[int, str] = {}
    notes: list[str] = []
    for child in children:
        output, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        got, announced, done = _parse(output)
        assert done
        assert not set(got) & set(acks), "two processes were given the same index"
        acks.update(got)
        notes.extend(announced)
    each = 12 + 4  # per thread: 12 through the sequencer, 4 in write transactions
    assert sorted(acks) == list(range(3 * 4 * each))
    assert notes, "no checkpoint was announced"
    assert _check_log(db_url, state, acks, notes) == 3 * 4 * each


CRASH_RUNS = 20


@pytest.mark.slow
def test_kill_9_during_batches_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    metadata.create_all(engine)
    engine.dispose()
    state = tmp_path / "ledger.last-checkpoint"
    rng = random.Random(13)
    acks: dict[int, str] = {}
    notes: list[str] = []
    killed_mid_run = 0
    for run in range(CRASH_RUNS):
        child = _spawn(db_url, state, f"r{run}", 8, 400)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=60)
        got, announced, done = _parse(output)
        killed_mid_run += not done
        assert not set(got) & set(acks), "an index acknowledged in an earlier run came back"
        acks.update(got)
        notes.extend(announced)
        _check_log(db_url, state, acks, notes, restart=f"restart-{run}")
    assert killed_mid_run == CRASH_RUNS
    assert acks and notes


def test_a_grant_checks_the_committed_leaf_of_a_batch(ledger: Ledger) -> None:
    """Entries the sequencer committed are checked against their exact leaves, like any."""
    made = make_decision()
    index = ledger.commit(made, actor_id="u1", case_id="case-1")
    assert ledger.grant(made, index, "case-1").ledger_index == index
    with pytest.raises(LedgerError, match="records another decision"):
        ledger.grant(make_decision(purpose="investigation"), index, "case-1")
    with pytest.raises(LedgerError, match="records another decision"):
        ledger.grant(made, index, "case-2")
    # An entry still in an open transaction grants nothing.
    with pytest.raises(_RolledBack), ledger.engine.begin() as conn:
        pending = ledger.append(conn, made, actor_id="u2", case_id="case-1")
        with pytest.raises(LedgerError, match="not committed"):
            ledger.grant(made, pending, "case-1")
        raise _RolledBack


def _as_role(decision: Any, role: str) -> Any:
    """``decision`` as if made for an actor of another ``role`` (same rules, same outcome)."""
    request = {**decision.request, "actor": {**decision.request["actor"], "role": role}}
    return _mint_decision(
        effect=decision.effect, obligations=decision.obligations, rules=decision.rules,
        reasons=decision.reasons, regime=decision.regime, policy_hash=decision.policy_hash,
        categories=decision.categories, request=request,
    )  # fmt: skip


@pytest.mark.parametrize("kept", [True, False], ids=["kept-leaf", "stored-leaf"])
def test_a_grant_names_what_its_entry_records_otherwise(ledger: Ledger, kept: bool) -> None:
    """Checked against the leaf the sequencer kept, or read back from the database."""
    made = make_decision()
    index = ledger.commit(made, actor_id="u1", case_id="case-1")
    if not kept:
        ledger._recent.clear()
    cases = [
        (_as_role(made, "police_officer"), r"\(actor\.role\)"),
        (make_decision(categories=frozenset({DataCategory.IMMIGRATION_STATUS})), r"\(data\)"),
        (make_decision(obligations=frozenset({Obligation.NOTIFY_SUBJECT})), r"\(obligations\)"),
        (make_decision(action="export", purpose="investigation"), r"\(action, purpose\)"),
    ]
    for other, named in cases:
        with pytest.raises(LedgerError, match=named):
            ledger.grant(other, index, "case-1")
    assert ledger.grant(made, index, "case-1").ledger_index == index


def test_a_grant_refuses_a_stored_leaf_that_is_not_canonical(ledger: Ledger) -> None:
    """A leaf read back from the database is checked to be in canonical form, even when its
    stored hash was made to match (only the sequencer's own kept bytes are not re-encoded)."""
    made = make_decision()
    index = ledger.commit(made, actor_id="u1", case_id="case-1")
    ledger._recent.clear()
    leaf = ledger.entry(index)
    loose = leaf.replace(b'","', b'", "', 1)
    assert loose != leaf and json.loads(loose) == json.loads(leaf)
    with ledger.engine.begin() as conn:
        conn.execute(ledger_entries.update().where(ledger_entries.c.idx == index).values(
            leaf=loose, leaf_hash=merkle.leaf_hash(loose)))
    with pytest.raises(LedgerError, match="canonical form"):
        ledger.grant(made, index, "case-1")


class _RolledBack(Exception):
    pass


def test_under_steady_load_a_batch_costs_one_commit(ledger: Ledger) -> None:
    """A request that comes right after a batch is in the next batch, whose transaction signs
    over the last: the sequencer does not sign alone in a transaction (and fsync) of its own
    between them. (It did after nearly every batch: two commits a batch.)"""
    commits: list[int] = []
    event.listen(ledger.writer, "commit", lambda _conn: commits.append(1))
    ledger.commit(make_decision(), actor_id="warm", case_id="c")
    before, batches = len(commits), ledger.sequencer.batches
    for i in range(60):
        ledger.commit(make_decision(), actor_id=f"u{i}", case_id="c")
    made = ledger.sequencer.batches - batches
    assert made == 60
    assert len(commits) - before <= made * 1.25  # was about 2 per batch
    ledger.close()
    ledger.verify()


def test_requests_a_few_milliseconds_apart_do_not_make_the_sequencer_sign_alone(
    ledger: Ledger,
) -> None:
    """A server's requests arrive several milliseconds apart (a page's work between them);
    the next batch still signs over the last in its own transaction. With a 5 ms wait, nearly
    every such batch was followed by a signature alone: a transaction and an fsync more per
    request, about a millisecond of the server's CPU each (issue 13: the case page)."""
    commits: list[int] = []
    event.listen(ledger.writer, "commit", lambda _conn: commits.append(1))
    ledger.commit(make_decision(), actor_id="warm", case_id="c")
    before, batches = len(commits), ledger.sequencer.batches
    for i in range(30):
        time.sleep(0.006)
        ledger.commit(make_decision(), actor_id=f"u{i}", case_id="c")
    made = ledger.sequencer.batches - batches
    assert made == 30
    assert len(commits) - before <= made * 1.25
    ledger.close()
    ledger.verify()


def test_a_slow_write_of_the_signed_state_does_not_hold_up_later_batches(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint is written beside the key on a background thread; while that write is
    stuck (a slow disk), requests still get their batches. (The sequencer used to wait for
    the writer's lock before handing over the next checkpoint, and so stopped.)"""
    from safereport.vault import keyfile

    ledger = Ledger(engine, make_ledger(engine).signer, ORIGIN,
                    signed_state=tmp_path / "ledger.last-checkpoint")
    entered, gate = threading.Event(), threading.Event()
    real = keyfile.write_key_file

    def stuck(path: Path, data: bytes, *, replace: bool = False) -> None:
        entered.set()
        gate.wait(60)
        real(path, data, replace=replace)

    monkeypatch.setattr(keyfile, "write_key_file", stuck)
    ledger.commit(make_decision(), actor_id="a", case_id="c")
    assert entered.wait(30), "the checkpoint over the first batch was never written"
    done = threading.Event()

    def more() -> None:
        for name in ("b", "c", "d", "e"):
            ledger.commit(make_decision(), actor_id=name, case_id="c")
        done.set()

    thread = threading.Thread(target=more)
    thread.start()
    finished = done.wait(30)
    gate.set()
    thread.join()
    ledger.close()
    assert finished, "requests waited for the signed-state file"
    assert ledger.size() == 5


def test_at_interpreter_exit_the_last_checkpoint_is_still_remembered_and_announced(
    engine: Engine, tmp_path: Path
) -> None:
    """At exit Python shuts the hooks' thread pool down before ``atexit`` runs the sequencer's
    close: its last signing handed the note to that pool and failed with "cannot schedule new
    futures after shutdown" (a traceback at every stop of ``serve``, the note never written
    beside the key nor given to the witnesses). Now it is done on the closing thread."""
    state = tmp_path / "ledger.last-checkpoint"
    ledger = Ledger(engine, NoteSigner(ORIGIN, b"\x07" * 32), ORIGIN, signed_state=state)
    seen: list[int] = []
    ledger.on_checkpoint(lambda note: seen.append(parse_checkpoint(parse_note(note).text).size))
    ledger.sequencer.start()
    ledger.commit(make_decision(), actor_id="w", case_id="c")
    ledger._background().shutdown(wait=True)  # what interpreter exit does first
    ledger.sequencer.close()  # then atexit: sign over the last batch
    assert parse_checkpoint(parse_note(state.read_text()).text).size == 1
    assert seen == [1]
    ledger.close()


def _twenty_signings(engine: Engine, state: Path, hook: Any = None) -> None:
    """Twenty commits one after another through a ledger that keeps its copy at ``state``
    (a batch, and a signing, each; ``hook`` registered if given), then closed; the table's
    latest checkpoint covers all twenty."""
    ledger = Ledger(engine, NoteSigner(ORIGIN, b"\x07" * 32), ORIGIN, signed_state=state)
    if hook is not None:
        ledger.on_checkpoint(hook)
    ledger.sequencer.start()
    for i in range(20):
        ledger.commit(make_decision(), actor_id=f"u{i}", case_id="c")
    ledger.close()
    with engine.connect() as conn:
        latest = latest_checkpoint(conn)
    assert latest is not None and latest.size == 20


def test_the_copy_beside_the_key_is_written_at_most_every_interval_and_ends_newest(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written (and fsynced twice) after every signing, the copy took a third of a loaded
    server's ledger throughput. Now at most once per ``REMEMBER_EVERY``, the newest note
    signed meanwhile, and the last one is never left out."""
    from safereport.ledger import log as ledger_log
    from safereport.vault import keyfile

    monkeypatch.setattr(ledger_log, "REMEMBER_EVERY", 0.5)
    writes: list[int] = []
    real_write = keyfile.write_key_file

    def counted(path: Path, data: bytes, **options: Any) -> None:
        writes.append(parse_checkpoint(parse_note(data.decode()).text).size)
        real_write(path, data, **options)

    monkeypatch.setattr(keyfile, "write_key_file", counted)
    state = tmp_path / "ledger.last-checkpoint"
    seen: list[int] = []
    _twenty_signings(engine, state,
                     lambda note: seen.append(parse_checkpoint(parse_note(note).text).size))
    assert seen == sorted(seen) and seen[-1] == 20  # every hook still gets the notes, in order
    assert len(seen) > 5, "the signings were not many (nothing to coalesce)"
    assert 1 <= len(writes) <= 3, f"written {len(writes)} times for {len(seen)} signings"
    assert writes == sorted(writes) and writes[-1] == 20
    assert parse_checkpoint(parse_note(state.read_text()).text).size == 20


def test_with_no_hooks_the_background_thread_gets_one_turn_for_many_signings(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing but the copy beside the key to write, a signing while a write of the
    newest note is queued hands the background thread nothing (a turn per batch, each a
    hand-over and a wake of that thread, cost a loaded server more than the writes); the
    newest note is still the one written, and the last one is never left out."""
    from safereport.ledger import log as ledger_log

    monkeypatch.setattr(ledger_log, "REMEMBER_EVERY", 0.5)
    turns: list[str] = []
    real_background = Ledger._in_background

    def counted(self: Ledger, work: Any, *args: Any) -> None:
        turns.append(work.__name__)
        real_background(self, work, *args)

    monkeypatch.setattr(Ledger, "_in_background", counted)
    state = tmp_path / "ledger.last-checkpoint"
    _twenty_signings(engine, state)
    assert 1 <= len(turns) <= 3, f"{len(turns)} turns for 20 signings"
    assert parse_checkpoint(parse_note(state.read_text()).text).size == 20


def test_a_record_that_cannot_be_encoded_fails_as_a_ledger_error(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that cannot be encoded fails its request exactly as a failed batch does (a
    LedgerError: nothing opens), and nothing is appended."""
    from safereport.ledger import record

    def unencodable(moment: object) -> str:
        raise ValueError("cannot encode")

    monkeypatch.setattr(record, "_time_text", unencodable)  # every leaf writes its time
    with pytest.raises(LedgerError, match="could not record"):
        ledger.commit(make_decision(), actor_id="u", case_id="c")
    monkeypatch.undo()
    assert ledger.size() == 0
    assert ledger.commit(make_decision(), actor_id="u", case_id="c") == 0


def test_a_caller_waits_for_its_batch_on_a_lock_the_sequencer_releases() -> None:
    """The waiter blocks until its batch is finished, and not a moment longer; finished
    before it waits, it does not block at all (issue 13: it waited on a threading.Event, a
    Condition written in Python; with a plain lock 32 writers append about a tenth faster)."""
    early = _Waiter(list, 0)
    early.finish()
    early.wait()  # finished already: returns at once

    waiter = _Waiter(list, 0)
    woken = threading.Event()

    def caller() -> None:
        waiter.wait()
        woken.set()

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    assert not woken.wait(0.2)  # still blocked: the batch is not done
    waiter.indices = [7]
    waiter.finish()
    assert woken.wait(10)
    thread.join(10)
    assert waiter.indices == [7]


def _queued(ledger: Ledger, count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(w.count for w in ledger.sequencer._queue) < count:
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.001)


def _first_batch_held(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Thread, list[Any], threading.Event]:
    """A first request whose batch waits in its append for the returned event (so that
    others queue behind it): its thread, what it returns, the event."""
    release, reached = threading.Event(), threading.Event()
    original = ledger._append

    def held(conn: Connection, records: Any, *args: Any) -> Any:
        if not reached.is_set():
            reached.set()
            release.wait(30)
        return original(conn, records, *args)

    monkeypatch.setattr(ledger, "_append", held)
    thread, got = _in_thread(ledger.commit, make_decision(), actor_id="a", case_id="c")
    assert reached.wait(30), "the first batch never reached its append"
    return thread, got, release


def _in_thread(call: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, list[Any]]:
    """``call`` in a thread of its own; the list gets what it returned or raised."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call(*args, **kwargs))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_batch_s_callers_wake_as_the_next_batch_goes_to_the_disk(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the next batch queued, a committed batch's callers are woken after the sequencer
    has done that batch's work and before its commit, not before that work (woken earlier,
    their threads ran while it worked and it waited for the interpreter lock after each
    statement: issue 13). With nothing queued they are woken at once."""
    events: list[tuple[str, Any]] = []
    sequence, finish = ledger.sequence, _Waiter.finish

    def sequencing(conn: Connection, records: Any, *args: Any) -> Any:
        events.append(("sequence", len(records)))
        return sequence(conn, records, *args)

    def finishing(waiter: _Waiter) -> None:
        events.append(("woken", tuple(waiter.indices)))
        finish(waiter)

    monkeypatch.setattr(ledger, "sequence", sequencing)
    monkeypatch.setattr(_Waiter, "finish", finishing)
    event.listen(ledger.writer, "commit", lambda conn: events.append(("commit", None)))
    first, got, release = _first_batch_held(ledger, monkeypatch)
    second, got_second = _in_thread(ledger.commit, make_decision(), actor_id="b", case_id="c")
    _queued(ledger, 1)
    release.set()
    first.join(30)
    second.join(30)
    assert got == [0] and got_second == [1]
    batches = [e for e in events if e[0] != "sequence" or e[1] > 0]  # not the lone signing
    assert batches[:6] == [
        ("sequence", 1), ("commit", None),  # the first batch is durable...
        ("sequence", 1), ("woken", (0,)),  # ...its caller wakes once the second is ready
        ("commit", None), ("woken", (1,)),  # nothing queued after it: woken at once
    ]


def test_a_failed_batch_still_wakes_the_committed_batch_before_it(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch before is durable whatever happens to the next: its callers get their
    indices, the failed batch's callers the error."""
    first, got, release = _first_batch_held(ledger, monkeypatch)
    sequence = ledger.sequence

    def failing(conn: Connection, records: Any, *args: Any) -> Any:
        if any(r.actor_id == "b" for r in records):
            raise RuntimeError("disk full")
        return sequence(conn, records, *args)

    monkeypatch.setattr(ledger, "sequence", failing)
    second, got_second = _in_thread(ledger.commit, make_decision(), actor_id="b", case_id="c")
    _queued(ledger, 1)
    release.set()
    first.join(30)
    second.join(30)
    assert got == [0]
    assert len(got_second) == 1 and isinstance(got_second[0], LedgerError)
    assert "RuntimeError" in str(got_second[0])
    assert ledger.size() == 1


def test_records_are_made_in_the_sequencer_s_thread(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller queues and sleeps; the sequencer makes, encodes and hashes the records, so a
    woken caller holds the interpreter lock as briefly as it can (issue 13)."""
    from safereport.ledger import log as ledger_log

    made_in: list[tuple[str, int]] = []
    original = ledger_log.records_from_decisions

    def recording(decisions: Any, **kwargs: Any) -> Any:
        made_in.append((threading.current_thread().name, len(decisions)))
        return original(decisions, **kwargs)

    monkeypatch.setattr(ledger_log, "records_from_decisions", recording)
    ledger.commit(make_decision(), actor_id="u", case_id="c")
    ledger.commit_many([make_decision(), make_decision()], actor_id="u", case_id="c")
    assert made_in == [("ledger-sequencer", 1), ("ledger-sequencer", 2)]


def test_a_record_that_cannot_be_made_fails_its_request_alone(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made in the sequencer's thread, a record that cannot be made (here: a time without a
    zone) fails its own request with a LedgerError; the others in its batch are appended."""
    from datetime import datetime

    first, got, release = _first_batch_held(ledger, monkeypatch)
    bad, got_bad = _in_thread(ledger.commit, make_decision(), actor_id="b", case_id="c",
                              now=datetime(2026, 12, 2, 12, 0))  # naive: refused
    good, got_good = _in_thread(ledger.commit, make_decision(), actor_id="g", case_id="c")
    _queued(ledger, 2)
    release.set()
    for thread in (first, bad, good):
        thread.join(30)
    assert got == [0] and got_good == [1]
    assert len(got_bad) == 1 and isinstance(got_bad[0], LedgerError)
    assert "timezone-aware" in str(got_bad[0])
    with ledger.engine.connect() as conn:
        assert _actors(conn) == {0: "a", 1: "g"}
