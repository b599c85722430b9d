"""Four processes appending at once leave indices 0..n-1: no gaps, no duplicates."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.ledger_helpers import make_decision, make_ledger

from safereport.store.db import make_engine
from safereport.store.ledger import ledger_entries
from safereport.store.tables import metadata

PROCESSES = 4
EACH = 25


def _worker(url: str, worker: int, count: int) -> list[int]:
    engine = make_engine(url, pool=False)
    ledger = make_ledger(engine)
    indices = []
    try:
        for i in range(count):
            with engine.begin() as conn:
                indices.append(
                    ledger.append(conn, make_decision(), actor_id=f"w{worker}-{i}", case_id="c")
                )
    finally:
        engine.dispose()
    return indices


@pytest.mark.slow
def test_concurrent_appends_have_no_gaps_or_duplicates(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spawned workers import this module by the name pytest gave it: let them find it.
    package_root = str(Path(__file__).resolve().parents[1])
    monkeypatch.syspath_prepend(package_root)
    engine = make_engine(db_url)
    metadata.create_all(engine)
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(_worker, [(db_url, w, EACH) for w in range(PROCESSES)])
    total = PROCESSES * EACH
    returned = sorted(index for indices in results for index in indices)
    assert returned == list(range(total))
    with engine.connect() as conn:
        stored = [
            row.idx
            for row in conn.execute(select(ledger_entries.c.idx).order_by(ledger_entries.c.idx))
        ]
        actors = {row.actor_id for row in conn.execute(select(ledger_entries.c.actor_id))}
    assert stored == list(range(total))
    assert len(actors) == total
    # Each worker's own appends came back in increasing order, interleaved with the others.
    assert all(indices == sorted(indices) for indices in results)
    ledger = make_ledger(engine)
    ledger.checkpoint(new=True)
    assert ledger.verify().size == total
    engine.dispose()
