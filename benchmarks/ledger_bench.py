"""The ledger against pymerkle's ``SqliteTree``: same leaves, same run, same machine.

Measured, for a tree of ``--size`` entries (default 10^6):

* bulk fill: the ledger's ``append_many`` (batches of 10,000 decision records, one
  transaction each, node table filled as it goes) vs pymerkle's ``append_entries`` (batches
  of 10,000, one transaction each), with the very same leaf bytes;
* durable appends from ``--writers`` concurrent writers (default 32): each writer records
  one decision at a time through ``Ledger.commit``, the sequencer's group commit (SQLite WAL,
  ``synchronous=FULL``: acknowledged means fsynced), against pymerkle's ``append_entry`` with
  a commit per entry on its own SQLite defaults (rollback journal, ``synchronous=FULL``: an
  fsync per entry), appended on top of the full tree;
* single-writer appends without an fsync per commit: ``--appends`` entries, each its own
  committed transaction (``Ledger.append`` in the caller's transaction, the write path), both
  on WAL with ``synchronous=NORMAL``;
* inclusion-proof generation at the full size for ``--proofs`` random indices (the same
  indices for both; pymerkle's subroot cache is warm after the first), and the proof size
  against 32 * ceil(log2 n).

Ends with ``RESULT`` lines (issue 13's targets).

    .venv/bin/python benchmarks/ledger_bench.py [--size 1000000] [--appends 2000]
        [--writers 32] [--durable-seconds 5] [--proofs 50]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymerkle import SqliteTree
from sqlalchemy import Engine, event

from safereport.domain.vocabulary import DataCategory, Effect
from safereport.ledger import merkle, tree
from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import Ledger
from safereport.ledger.record import DecisionRecord
from safereport.ledger.verifier import check_proof
from safereport.policy.decision import Decision, _mint_decision
from safereport.store.db import make_engine
from safereport.store.tables import metadata

ORIGIN = "bench.safereport.local/ledger"
BATCH = 10_000
ROLES = ("caseworker", "supervisor", "police_officer", "victim")
PURPOSES = ("support", "safeguarding", "investigation", "marac")


def records(start: int, count: int) -> Iterator[DecisionRecord]:
    """Synthetic decision records (deterministic except for their salts)."""
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for i in range(start, start + count):
        yield DecisionRecord(
            time=now,
            actor_id=f"actor-{i % 997}",
            actor_role=ROLES[i % 4],
            actor_org_kind="support_service",
            holder="support_service",
            action="view",
            purpose=PURPOSES[i % 4],
            recipient="none",
            case_id=f"case-{i % 50_021:08d}",
            categories=("contact", "crime_details"),
            effect="deny" if i % 7 == 0 else "allow",
            obligations=(),
            rules=("S-own-case",),
            regime="firewall",
            policy_hash="ab" * 32,
            salt=f"{random.getrandbits(128):032x}",
            detail={},
        )


def decision() -> Decision:
    return _mint_decision(
        effect=Effect.ALLOW,
        obligations=frozenset(),
        rules=("S-own-case",),
        reasons=("benchmark",),
        regime="firewall",
        policy_hash="ab" * 32,
        categories=frozenset({DataCategory.CONTACT}),
        request={
            "actor": {"role": "caseworker", "same_org": True},
            "holder": "support_service",
            "action": "view",
            "purpose": "support",
            "recipient": "none",
        },
    )


def pymerkle_tree(path: Path, *, wal: bool) -> SqliteTree:
    peer = SqliteTree(str(path))
    if wal:
        peer.con.execute("PRAGMA journal_mode=WAL")
        peer.con.execute("PRAGMA synchronous=NORMAL")
    return peer


def fill(ledger: Ledger, peers: list[SqliteTree], size: int) -> tuple[float, list[float]]:
    ours, theirs = 0.0, [0.0 for _ in peers]
    for start in range(0, size, BATCH):
        batch = list(records(start, min(BATCH, size - start)))
        leaves = [record.leaf() for record in batch]
        began = time.perf_counter()
        with ledger.engine.begin() as conn:
            ledger.append_many(conn, batch)
        ours += time.perf_counter() - began
        for position, peer in enumerate(peers):
            began = time.perf_counter()
            peer.append_entries(leaves)
            theirs[position] += time.perf_counter() - began
        if start % 200_000 == 0:
            print(f"  filled {start + len(batch):>9,} entries", flush=True)
    return ours, theirs


def nofsync_engine(url: str) -> Engine:
    """The ledger's engine with ``synchronous=NORMAL``: WAL, no fsync per commit."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _normal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def concurrent_commits(ledger: Ledger, writers: int, seconds: float) -> tuple[int, float, int]:
    """(appends, elapsed, batches) for ``writers`` threads committing through the sequencer."""
    made = decision()
    counts = [0] * writers
    deadline = time.perf_counter() + seconds
    batches_before = ledger.sequencer.batches

    def writer(number: int) -> None:
        while time.perf_counter() < deadline:
            ledger.commit(made, actor_id=f"w{number}", case_id="case-bench")
            counts[number] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return sum(counts), elapsed, ledger.sequencer.batches - batches_before


def peer_durable(peer: SqliteTree, seconds: float) -> tuple[int, float]:
    """pymerkle's ``append_entry`` (a commit, and on its defaults an fsync, per entry)."""
    leaves = (record.leaf() for record in records(2 * 10**9, 10**9))
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        peer.append_entry(next(leaves))
        count += 1
    return count, time.perf_counter() - began


def result(name: str, value: float, op: str, target: float) -> str:
    meets = value >= target if op == ">=" else value <= target
    return f"RESULT {name} {value:.3f} target {op} {target} {'meets' if meets else 'MISSES'}"


def ledger_appends(ledger: Ledger, count: int) -> float:
    """Seconds for ``count`` appends, each its own committed transaction."""
    made = decision()
    began = time.perf_counter()
    for i in range(count):
        with ledger.engine.begin() as conn:
            ledger.append(conn, made, actor_id=f"a{i}", case_id="case-bench")
    return time.perf_counter() - began


def peer_appends(peer: SqliteTree, count: int) -> float:
    leaves = [record.leaf() for record in records(10**9, count)]
    began = time.perf_counter()
    for leaf in leaves:
        peer.append_entry(leaf)
    return time.perf_counter() - began


def proofs(
    engine: Engine, peer: SqliteTree, size: int, count: int
) -> tuple[list[float], list[float], int, int]:
    rng = random.Random(6962)
    indices = [rng.randrange(size) for _ in range(count)]
    ours, theirs, our_bytes, their_bytes = [], [], 0, 0
    with engine.connect() as conn:
        root = tree.root(conn, size)
        for index in indices:
            began = time.perf_counter()
            path = tree.inclusion_proof(conn, index, size)
            ours.append(time.perf_counter() - began)
            leaf = tree.fetch_nodes(conn, [(0, index)])[(0, index)]
            merkle.verify_inclusion(index, size, leaf, path, root)
            our_bytes = max(our_bytes, 32 * len(path))
    for index in indices:
        began = time.perf_counter()
        proof = peer.prove_inclusion(index + 1, size)
        theirs.append(time.perf_counter() - began)
        their_bytes = max(their_bytes, 32 * len(proof.path))
    return ours, theirs, our_bytes, their_bytes


def run(size: int, appends: int, proof_count: int, writers: int, seconds: float) -> None:
    results: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'ledger.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        # As ``open_ledger`` makes it: the sequencer on a connection of its own.
        ledger = Ledger(engine, NoteSigner(ORIGIN, b"\x01" * 32), ORIGIN,
                        writer=make_engine(url, pool_size=1))
        peer_default = pymerkle_tree(folder / "pymerkle-default.db", wal=False)
        peer_wal = pymerkle_tree(folder / "pymerkle-wal.db", wal=True)
        peers = [peer_default, peer_wal]

        print(f"ledger_bench: n = {size:,} entries, SQLite, batches of {BATCH:,}")
        ours, theirs = fill(ledger, peers, size)
        print(
            f"bulk fill          ledger {size / ours:>10,.0f}/s   "
            f"pymerkle {size / theirs[0]:>10,.0f}/s (default)  "
            f"{size / theirs[1]:>10,.0f}/s (WAL)"
        )
        results.append(result("bulk_vs_pymerkle", theirs[1] / ours, ">=", 0.5))

        count, elapsed, batches = concurrent_commits(ledger, writers, seconds)
        peer_count, peer_elapsed = peer_durable(peer_default, seconds)
        ours_rate, peer_rate = count / elapsed, peer_count / peer_elapsed
        print(
            f"durable appends    ledger, {writers} writers, group commit: {ours_rate:,.0f}/s "
            f"({count:,} in {batches:,} batches, {count / max(batches, 1):.1f} per fsync)   "
            f"pymerkle, a commit per entry: {peer_rate:,.0f}/s"
        )
        results.append(result(f"durable_{writers}_writers_vs_pymerkle", ours_rate / peer_rate,
                              ">=", 10))
        ledger.close()

        unsynced = Ledger(nofsync_engine(url), ledger.signer, ORIGIN)
        ours_wal, theirs_wal = ledger_appends(unsynced, appends), peer_appends(peer_wal, appends)
        unsynced.engine.dispose()
        print(
            f"single writer, no fsync per commit (both WAL+NORMAL): "
            f"ledger {appends / ours_wal:,.0f}/s  pymerkle {appends / theirs_wal:,.0f}/s  "
            f"({appends:,} commits each)"
        )
        results.append(result("single_writer_nofsync_vs_pymerkle", theirs_wal / ours_wal,
                              ">=", 1.0))

        total = size + count + appends
        mine, peer_times, our_bytes, their_bytes = proofs(engine, peer_wal, size, proof_count)
        ours_ms = statistics.median(mine) * 1e3
        theirs_ms = statistics.median(peer_times) * 1e3
        print(
            f"inclusion proof    ledger {ours_ms:>9.3f} ms  pymerkle {theirs_ms:>9.3f} ms "
            f"(median of {proof_count} at n = {size:,}; pymerkle first "
            f"{peer_times[0] * 1e3:.1f} ms, mean {statistics.mean(peer_times) * 1e3:.1f} ms)"
        )
        target = 32 * math.ceil(math.log2(size))
        print(
            f"proof size         ledger {our_bytes} B   pymerkle {their_bytes} B   "
            f"target <= {target} B (32 * ceil(log2 n))"
        )
        results.append(result("proof_ms_vs_pymerkle", theirs_ms / ours_ms, ">=", 1.0))
        results.append(result(f"proof_bytes_at_{size}", our_bytes, "<=", target))

        began = time.perf_counter()
        receipt = ledger.proof_for(size // 2)
        check_proof(receipt, ledger.verifier_key(), ledger.entry(size // 2))
        print(
            f"full receipt       ledger.proof_for + offline check_proof: "
            f"{(time.perf_counter() - began) * 1e3:.1f} ms, {len(receipt)} chars "
            f"(log of {total:,} entries)"
        )
        for peer in peers:
            peer.close()
        engine.dispose()
    for line in results:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--proofs", type=int, default=50)
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--durable-seconds", type=float, default=5.0)
    args = parser.parse_args()
    run(args.size, args.appends, args.proofs, args.writers, args.durable_seconds)


if __name__ == "__main__":
    main()
