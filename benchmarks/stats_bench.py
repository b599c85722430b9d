#!/usr/bin/env python3
"""A statistics release over N ledger entries against plain GROUP BYs over the same data.

    python benchmarks/stats_bench.py [--rows 10000000] [--db PATH] [--keep]

The same N synthetic entries (only the columns statistics reads; deterministic formulas, so
both engines hold identical rows) go into a SQLite file with the real ``ledger_entries``
schema and into an in-memory DuckDB table. Then, in this one process:

* release: ``publish_release`` (GROUP BY, minus the excess of cases over 5 entries found by a
  window over those cases only; OpenDP noise, sign, store) on SQLite;
* sqlite: a plain ``GROUP BY`` of the same five columns, no clipping, same file;
* duckdb: the same plain ``GROUP BY`` in DuckDB (its load time is reported apart).

DuckDB's sqlite extension would have to be downloaded, and nothing here uses the network, so
DuckDB reads its own copy of the rows. Peak memory is the process's resident-set high-water
mark (VmHWM), reset before each run through /proc/self/clear_refs, minus the resident set
before the run.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Engine

from safereport.ledger.keys import NoteSigner
from safereport.stats.release import ReleaseOptions, count_month, publish_release
from safereport.store.db import make_engine
from safereport.store.ledger import ledger_checkpoints, ledger_entries
from safereport.store.stats import stats_budget_charges, stats_budgets, stats_releases

MONTH = "2026-10"
_ROLES = [("caseworker", 40), ("police_officer", 25), ("supervisor", 10), ("victim", 10),
          ("police_system", 5), ("immigration_officer", 3), ("analyst", 3), ("marac_member", 4)]
_RECIPIENTS = [("none", 70), ("police", 8), ("support_service", 6), ("marac", 5),
               ("immigration_enforcement", 4), ("health", 3), ("housing", 2), ("court", 2)]
_PURPOSES = [("support", 40), ("investigation", 20), ("safeguarding", 15), ("marac", 6),
             ("immigration_enforcement", 6), ("immigration_status_check", 3),
             ("prosecution", 5), ("subject_access", 5)]
_EFFECTS = [("allow", 60), ("deny", 30), ("conditional", 10)]
_RULES = [("C-casework", 35), ("C-policework", 20), ("F-firewall F-purpose", 8),
          ("C-default", 10), ("F-sealed C-default", 7), ("C-safeguarding", 10),
          ("C-checks F-redacted-checks", 5), ("C-self", 5)]


def _pick(choices: list[tuple[str, int]], multiplier: int, offset: int) -> str:
    """A CASE over (i * multiplier + offset) % 100: the same rows in SQLite and DuckDB."""
    x = f"((i * {multiplier} + {offset}) % 100)"
    parts, edge = [], 0
    for value, weight in choices:
        edge += weight
        parts.append(f"WHEN {x} < {edge} THEN '{value}'")
    return f"CASE {' '.join(parts)} ELSE '{choices[-1][0]}' END"


def _select(rows: int) -> str:
    cases = max(rows // 4, 1)
    return (
        f"i, '2026-10-15 12:00:00', '{MONTH}', "
        # 2% of entries have no case; 3% belong to 997 busy cases (hundreds of entries each).
        f"CASE WHEN i % 50 = 0 THEN NULL WHEN i % 100 < 4 THEN 'h' || (i % 997) "
        f"ELSE 'c' || ((i * 2654435761) % {cases}) END, "
        f"'actor', {_pick(_ROLES, 37, 3)}, NULL, 'support_service', 'view', "
        f"{_pick(_PURPOSES, 53, 11)}, {_pick(_RECIPIENTS, 71, 29)}, {_pick(_EFFECTS, 89, 7)}, "
        f"{_pick(_RULES, 97, 13)}, 'firewall', x'', x''"
    )


def make_sqlite(path: Path, rows: int) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    tables = (ledger_entries, ledger_checkpoints, stats_releases, stats_budgets,
              stats_budget_charges)
    for table in tables:
        table.create(engine)
    # Fill first, index after: one sort per index instead of N random b-tree inserts.
    for index in ledger_entries.indexes:
        index.drop(engine)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            f"INSERT INTO ledger_entries WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL "
            f"SELECT i + 1 FROM seq WHERE i < {rows - 1}) SELECT {_select(rows)} FROM seq"
        )
    for index in ledger_entries.indexes:
        index.create(engine)
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")
    return engine


def make_duckdb(rows: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE ledger_entries (idx BIGINT, created_at VARCHAR, month VARCHAR, "
        "case_id VARCHAR, actor_id VARCHAR, actor_role VARCHAR, actor_org_kind VARCHAR, "
        "holder VARCHAR, action VARCHAR, purpose VARCHAR, recipient VARCHAR, effect VARCHAR, "
        "rules VARCHAR, regime VARCHAR, leaf BLOB, leaf_hash BLOB)"
    )
    select = _select(rows).replace("x''", "''::BLOB")
    con.execute(f"INSERT INTO ledger_entries SELECT {select} FROM range({rows}) AS r(i)")
    return con


_CUBE = "actor_role, recipient, purpose, effect, rules"
PLAIN = (f"SELECT {_CUBE}, COUNT(*) FROM ledger_entries WHERE month = '{MONTH}' "
         f"GROUP BY {_CUBE}")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure(fn: Callable[[], Any]) -> tuple[float, int, Any]:
    """(seconds, peak resident bytes above the start, result)."""
    Path("/proc/self/clear_refs").write_text("5")
    start_rss = _status("VmRSS")
    begin = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - begin
    return seconds, max(_status("VmHWM") - start_rss, 0), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each query (best kept).")
    parser.add_argument("--reuse", action="store_true",
                        help="Use the --db file as it is (made by an earlier run).")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    path = args.db or folder / "bench.db"
    print(f"rows: {args.rows:,}")
    if args.reuse and path.exists():
        engine = make_engine(f"sqlite:///{path}")
    else:
        load, _, engine = measure(lambda: make_sqlite(path, args.rows))
        print(f"generate into SQLite: {load:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    with sqlite3.connect(path) as conn:  # warm the page cache, so no run pays for a cold file
        conn.execute("SELECT count(*), max(rules), max(case_id) FROM ledger_entries").fetchall()
    load, _, con = measure(lambda: make_duckdb(args.rows))
    print(f"generate into DuckDB (in memory): {load:.1f} s")
    signer = NoteSigner.generate("bench.example/log")
    # A month's budget of 1000 lets a reused file take many runs at epsilon 0.5.
    options = ReleaseOptions(epsilon=0.5, budget=1000.0)
    now = datetime(2026, 11, 25, tzinfo=UTC)

    def plain_sqlite() -> list[Any]:
        with sqlite3.connect(path) as conn:
            return conn.execute(PLAIN).fetchall()

    def clipped_only() -> list[Any]:
        return count_month(engine, MONTH, options.entries_per_case)

    runs = {
        "sqlite GROUP BY (plain, no clipping)": plain_sqlite,
        "duckdb GROUP BY (plain, no clipping)": lambda: con.execute(PLAIN).fetchall(),
        "release: clipped SQL count only": clipped_only,
        "release: publish_release (count+noise+sign+store)":
            lambda: publish_release(engine, signer, MONTH, options, now=now),
    }
    results = {}
    for name, fn in runs.items():
        repeats = 1 if name.startswith("release: publish") else max(args.repeat, 1)
        seconds, peak, value = min(
            (measure(fn) for _ in range(repeats)), key=lambda run: run[0]
        )
        results[name] = seconds
        print(f"{name:52s} {seconds:8.2f} s   peak +{peak / 2**20:7.1f} MiB")
        if isinstance(value, list):
            print(f"{'':52s} {len(value)} groups, {sum(row[-1] for row in value):,} entries")
    release = results["release: publish_release (count+noise+sign+store)"]
    for peer in ("sqlite GROUP BY (plain, no clipping)", "duckdb GROUP BY (plain, no clipping)"):
        print(f"release / {peer}: {release / results[peer]:.2f}x")
    ratio = release / results["sqlite GROUP BY (plain, no clipping)"]
    print(f"RESULT stats_release_vs_sqlite_group_by {ratio:.2f} target <= 2 "
          f"{'meets' if ratio <= 2 else 'MISSES'}")
    engine.dispose()


if __name__ == "__main__":
    main()
