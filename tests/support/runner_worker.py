"""A `serve` worker's scheduler runner in a process of its own, driven day by day.

Run by tests/services/test_retention.py::

    python runner_worker.py DATA_DIR DATABASE_URL RUNNER_ID

``DATABASE_URL`` is ``-`` for the instance's own SQLite file. It prints ``READY`` once its
instance is open; then for each line ``TICK <iso time>`` on standard input it sets its fake
clock to that time, takes one scheduler step (lead if it can, run what is due) and prints
``DONE <job names it ran, comma-separated>``. End of input: it hands back the lead and exits.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from safereport.config import Secret, load_settings
from safereport.services.clock import FakeClock
from safereport.services.instance import Instance
from safereport.services.scheduler import Runner
from safereport.store.db import make_engine


def main() -> None:
    data_dir, url, runner_id = sys.argv[1:4]
    settings = load_settings(Path(data_dir))
    if url != "-":
        settings = replace(settings, database_url=Secret(url))
    instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
    clock: FakeClock | None = None
    runner: Runner | None = None
    print("READY", flush=True)
    try:
        for line in sys.stdin:
            moment = datetime.fromisoformat(line.split()[1])
            if clock is None:
                clock = FakeClock(moment)
                runner = Runner(instance, clock=clock, runner_id=runner_id)
            clock.set(moment)
            assert runner is not None
            ran = runner.step()
            print("DONE " + ",".join(state.name for state in ran), flush=True)
    finally:
        if runner is not None:
            runner.stop()
        instance.close()


if __name__ == "__main__":
    main()
