"""Vault throughput against plain ``cryptography`` AESGCM, and rotating 10**6 data keys.

1. Fields sealed and opened per second, on the same synthetic cases in the same run:
   a. crypto only: the vault's recipes (per-case data key unwrapped from its KEK, associated
      data built per field, token header) against bare ``AESGCM`` calls with one prebuilt
      associated data per field and the key already in hand (the peer);
   b. through the database: ``Vault.seal_fields`` / ``Vault.open_fields`` against the same
      SQLite tables written and read with bare ``AESGCM`` and SQLAlchemy Core (the peer).
   Target: vault time at most 1.5 times the peer's.
2. Rotation: 10**6 wrapped data keys generated straight into a SQLite file in a temporary
   folder, then ``rotate_keys`` in a child process: wall time and that process's peak
   resident memory; then the Python heap's peak under ``tracemalloc`` on 10**5 keys.

    .venv/bin/python benchmarks/vault_bench.py [--cases 2000] [--rotate 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, insert, select

from safereport.domain.fields import CaseField, category_of
from safereport.policy.decision import UnsafeGrantForTests, UnsafeSealForTests
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.store.vault import vault_case_keys, vault_fields
from safereport.vault import UnsafeMemoryKeyStore, Vault, rotate_keys
from safereport.vault.envelope import DataKey, data_key_aad, new_data_key

NOW = datetime.now(UTC)
REPEATS = 15
DB_REPEATS = 5

FIELD_SIZES = {
    CaseField.NARRATIVE: 2000, CaseField.RISK_ANSWERS: 240, CaseField.HEALTH_NEEDS: 160,
    CaseField.ADDRESS: 70, CaseField.SAFE_CONTACT: 60, CaseField.LOCATION: 50,
}


def synthetic_cases(n: int) -> dict[str, dict[CaseField, str]]:
    cases = {}
    for i in range(n):
        values = {
            name: (f"{name.value} {i} " * 200)[: FIELD_SIZES.get(name, 24)] for name in CaseField
        }
        # Real-looking contact details, so the vault's blind indexing does its real work.
        values[CaseField.PHONE] = f"07700 9{i % 100_000:05d}"
        values[CaseField.EMAIL] = f"person{i}@example.org"
        cases[f"case-{i:07d}"] = values
    return cases


def side_by_side(
    ours: Callable[[], None], peer: Callable[[], None], repeats: int = REPEATS
) -> tuple[float, float]:
    """Best of ``repeats`` runs each, alternating, in CPU time of this process: on a shared
    machine wall time mostly measures the neighbours."""
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(repeats):
        for work, times in ((ours, mine), (peer, theirs)):
            start = time.process_time()
            work()
            times.append(time.process_time() - start)
    return min(mine), min(theirs)


# --- 1a: crypto only -----------------------------------------------------------------------


def crypto_only(cases: dict[str, dict[CaseField, str]]) -> None:
    keys = UnsafeMemoryKeyStore()
    kek = keys.current_kek_id()
    deks = {c: new_data_key() for c in cases}
    wrapped = {c: keys.wrap(kek, k, data_key_aad(c.encode(), 1, kek)) for c, k in deks.items()}
    peer_aad = {name: f"case/{name.value}/1".encode() for name in CaseField}
    fields = sum(len(v) for v in cases.values())
    vault_tokens: dict[str, dict[CaseField, bytes]] = {}
    peer_tokens: dict[str, dict[CaseField, bytes]] = {}

    def vault_seal() -> None:
        for case_id, values in cases.items():
            cid = case_id.encode()
            key = DataKey(keys.unwrap(kek, wrapped[case_id], data_key_aad(cid, 1, kek)), cid, 1)
            pairs = list(values.items())
            vault_tokens[case_id] = dict(zip(values, key.seal_fields(pairs), strict=True))

    def vault_open() -> None:
        for case_id, tokens in vault_tokens.items():
            cid = case_id.encode()
            key = DataKey(keys.unwrap(kek, wrapped[case_id], data_key_aad(cid, 1, kek)), cid, 1)
            key.open_fields(list(tokens.items()))

    def peer_seal() -> None:
        for case_id, values in cases.items():
            aes = AESGCM(deks[case_id])
            out = {}
            for name, value in values.items():
                nonce = os.urandom(12)
                out[name] = nonce + aes.encrypt(nonce, value.encode(), peer_aad[name])
            peer_tokens[case_id] = out

    def peer_open() -> None:
        for case_id, tokens in peer_tokens.items():
            aes = AESGCM(deks[case_id])
            for name, token in tokens.items():
                aes.decrypt(token[:12], token[12:], peer_aad[name]).decode("utf-8")

    report("1a crypto only (the recipes Vault calls: unwrap, then one batch per case)", fields, {
        "seal": side_by_side(vault_seal, peer_seal),
        "open": side_by_side(vault_open, peer_open),
    })


def report(
    title: str, fields: int, pairs: dict[str, tuple[float, float]], repeats: int = REPEATS
) -> None:
    print(f"\n{title}: {fields} fields per run ({len(CaseField)} per case), "
          f"best of {repeats} alternating, CPU time")
    print(f"  {'':6} {'vault fields/s':>15} {'AESGCM fields/s':>16} {'vault time / peer':>18}")
    for what, (ours, peer) in pairs.items():
        print(f"  {what:6} {fields / ours:15,.0f} {fields / peer:16,.0f} {ours / peer:18.2f}x")


# --- 1b: through the database ----------------------------------------------------------------


def through_database(cases: dict[str, dict[CaseField, str]], folder: Path) -> None:
    vault_engine = fresh_sqlite(folder / "vault.db")
    peer_engine = fresh_sqlite(folder / "peer.db")
    vault = Vault(UnsafeMemoryKeyStore())
    grants = {c: UnsafeGrantForTests(frozenset(map(category_of, CaseField)), case_id=c)
              for c in cases}
    deks = {c: new_data_key() for c in cases}
    fields = sum(len(v) for v in cases.values())

    def vault_seal() -> None:
        with vault_engine.begin() as conn:
            for case_id, values in cases.items():
                # A test Seal: the benchmark measures the vault, not the guard or the ledger.
                seal = UnsafeSealForTests(frozenset(map(category_of, CaseField)),
                                          case_id=case_id, transaction=conn)
                vault.seal_fields(conn, seal, case_id, values)

    def vault_open() -> None:
        with vault_engine.connect() as conn:
            for case_id in cases:
                vault.open_fields(conn, grants[case_id], case_id)

    def peer_seal() -> None:
        with peer_engine.begin() as conn:
            for case_id, values in cases.items():
                aes = AESGCM(deks[case_id])
                rows = []
                for name, value in values.items():
                    nonce = os.urandom(12)
                    token = nonce + aes.encrypt(nonce, value.encode(), name.value.encode())
                    rows.append({"case_id": case_id, "field": name.value, "category": "x",
                                 "key_version": 1, "ciphertext": token, "updated_at": NOW})
                conn.execute(vault_fields.delete().where(vault_fields.c.case_id == case_id))
                conn.execute(insert(vault_fields), rows)

    def peer_open() -> None:
        query = select(vault_fields.c.field, vault_fields.c.ciphertext)
        with peer_engine.connect() as conn:
            for case_id in cases:
                aes = AESGCM(deks[case_id])
                for name, token in conn.execute(query.where(vault_fields.c.case_id == case_id)):
                    aes.decrypt(token[:12], token[12:], name.encode()).decode("utf-8")

    report("1b through SQLite (Vault.seal_fields/open_fields vs AESGCM + SQLAlchemy Core)",
           fields, repeats=DB_REPEATS, pairs={
               "seal": side_by_side(vault_seal, peer_seal, DB_REPEATS),
               "open": side_by_side(vault_open, peer_open, DB_REPEATS),
           })
    vault_engine.dispose()
    peer_engine.dispose()


def fresh_sqlite(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


# --- 2: rotation -------------------------------------------------------------------------------


def generate_keys(engine: Engine, keys: UnsafeMemoryKeyStore, n: int) -> None:
    kek = keys.current_kek_id()
    batch = 50_000
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            case_id = f"c{i:08d}"
            aad = data_key_aad(case_id.encode(), 1, kek)
            rows.append({"case_id": case_id, "key_version": 1, "kek_id": kek,
                         "wrapped": keys.wrap(kek, new_data_key(), aad), "created_at": NOW})
        with engine.begin() as conn:
            conn.execute(insert(vault_case_keys), rows)


def rotate_in_child(db_path: str, keys: UnsafeMemoryKeyStore, queue: Queue[object]) -> None:
    """Runs in its own process, so the peak resident memory measured is rotation's alone."""
    engine = make_engine(f"sqlite:///{db_path}")
    idle = peak_rss_mib()
    start = time.perf_counter()
    result = rotate_keys(engine, Vault(keys), batch_size=5000)
    took = time.perf_counter() - start
    queue.put((result.rewrapped, result.failed, took, idle, peak_rss_mib()))
    engine.dispose()


def rotation(n: int, folder: Path) -> None:
    path = folder / "rotate.db"
    engine = fresh_sqlite(path)
    keys = UnsafeMemoryKeyStore()
    start = time.perf_counter()
    generate_keys(engine, keys, n)
    made = time.perf_counter() - start
    engine.dispose()
    context = multiprocessing.get_context("fork")
    queue: Queue[object] = context.Queue()
    child = context.Process(target=rotate_in_child, args=(str(path), keys, queue))
    child.start()
    rewrapped, failed, took, idle, peak = queue.get()  # type: ignore[misc]
    child.join()
    assert rewrapped == n and failed == 0, (rewrapped, failed)
    db_mib = sum(p.stat().st_size for p in folder.glob("rotate.db*")) / 2**20
    print(f"\n2 rotation of {n:,} data keys (SQLite file {db_mib:,.0f} MiB; generated in "
          f"{made:,.1f} s)")
    print(f"  rotate_keys, batches of 5000: {took:,.1f} s ({n / took:,.0f} data keys/s)")
    print(f"  rotating process peak RSS {peak:,.0f} MiB (it started at {idle:,.0f} MiB, "
          f"inherited from the parent by fork)")


def traced_rotation(n: int, folder: Path) -> None:
    """The Python heap's peak during a rotation (tracemalloc slows it, so a smaller run)."""
    engine = fresh_sqlite(folder / "traced.db")
    keys = UnsafeMemoryKeyStore()
    generate_keys(engine, keys, n)
    tracemalloc.start()
    rotate_keys(engine, Vault(keys), batch_size=5000)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    print(f"  Python heap peak under tracemalloc, rotating {n:,} keys: "
          f"{heap_peak / 2**20:,.1f} MiB (batches bound it, not n)")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rotate", type=int, default=1_000_000)
    args = parser.parse_args()
    cases = synthetic_cases(args.cases)
    print(f"python {sys.version.split()[0]}; {args.cases} synthetic cases")
    crypto_only(cases)
    with tempfile.TemporaryDirectory() as tmp:
        through_database(cases, Path(tmp))
    if args.rotate:
        with tempfile.TemporaryDirectory() as tmp:
            rotation(args.rotate, Path(tmp))
            traced_rotation(min(args.rotate, 100_000), Path(tmp))


if __name__ == "__main__":
    main()
