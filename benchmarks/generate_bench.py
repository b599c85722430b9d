"""Generating synthetic cases into SQLite and PostgreSQL: rows per second and peak memory.

Each (database, N) runs in a child process so that its peak resident memory (ru_maxrss) is its
own. Memory should stay flat as N grows, since cases stream in batches of 1,000.
A case here is: a subject, a case row, a report, consents, its wrapped data key, its sealed
fields (4 to 11) and blind-index rows, all through the real vault.

    .venv/bin/python benchmarks/generate_bench.py [--sizes 10000,100000,1000000]
        [--no-postgres | --only-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

POSTGRES = os.environ.get(
    "SAFEREPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def child(kind: str, n: int) -> None:
    from safereport.services.instance import open_instance
    from safereport.services.setup import init_instance
    from safereport.services.synthetic import populate_cases, populate_orgs
    from safereport.store.core import cases

    with tempfile.TemporaryDirectory() as tmp:
        url = None
        if kind == "postgresql":
            from sqlalchemy import create_engine

            name = f"sr_bench_{os.getpid()}"
            admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = POSTGRES.rsplit("/", 1)[0] + "/" + name
            os.environ["SAFEREPORT_DATABASE_URL"] = url
        try:
            target = init_instance(Path(tmp) / "inst", database_url=url)
            instance = open_instance(target)
            with instance.engine.begin() as conn:
                orgs = populate_orgs(conn)
            started = time.perf_counter()
            populate_cases(instance, seed=1, count=n, holders=orgs.holders)
            elapsed = time.perf_counter() - started
            with instance.engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(cases)).scalar_one()
            instance.close()
        finally:
            if kind == "postgresql":
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "db": kind,
                "n": n,
                "stored": stored,
                "seconds": elapsed,
                "cases_per_s": n / elapsed,
                "peak_mib": peak_kib / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only-postgres", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("DB", "N"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    kinds = [] if args.only_postgres else ["sqlite"]
    kinds += [] if args.no_postgres else ["postgresql"]
    print(f"{'database':<11} {'cases':>9} {'seconds':>9} {'cases/s':>9} {'peak MiB':>9}")
    for kind in kinds:
        for n in (int(s) for s in args.sizes.split(",")):
            done = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True
            )
            if done.returncode != 0:
                sys.exit(f"{kind} {n} failed:\n{done.stderr[-3000:]}")
            out = done.stdout
            row = json.loads(out.strip().splitlines()[-1])
            assert row["stored"] == n, f"lost cases: {row}"
            print(
                f"{kind:<11} {n:>9} {row['seconds']:>9.1f} {row['cases_per_s']:>9.0f}"
                f" {row['peak_mib']:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
