"""A process that appends to a ledger from several threads and says what was acknowledged.

Run as a script by the crash and concurrency tests::

    python tests/support/appender.py URL STATE_FILE NAME THREADS EACH

Each thread records ``EACH`` decisions through the sequencer (group commit), and every third
one of them also appends one in a write transaction of its own (the way a case update records
its decision). Lines on standard output, flushed one by one:

* ``READY`` once the ledger is open;
* ``ACK <index> <actor id>`` when an append has returned (acknowledged: durable);
* ``CHECKPOINT <note as hex>`` for each checkpoint this process signed (the ledger's hook);
* ``DONE`` at the end.

The tests kill it with SIGKILL at random points, then check the database against these lines.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tests.support.ledger_helpers import ORIGIN, make_decision  # the repository is on PYTHONPATH

from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import Ledger
from safereport.store.db import make_engine

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main() -> None:
    url, state, name, threads, each = sys.argv[1:6]
    engine = make_engine(url)
    ledger = Ledger(
        engine, NoteSigner(ORIGIN, b"\x07" * 32), ORIGIN, signed_state=Path(state)
    )
    ledger.on_checkpoint(lambda note: say("CHECKPOINT " + note.encode().hex()))
    ledger.sequencer.start()
    decision = make_decision()
    say("READY")

    def work(thread: int) -> None:
        for i in range(int(each)):
            actor = f"{name}-{thread}-{i}"
            index = ledger.commit(decision, actor_id=actor, case_id="case-1")
            say(f"ACK {index} {actor}")
            if i % 3 == 0:
                actor = f"{name}-{thread}-{i}-w"
                with engine.begin() as conn:
                    index = ledger.append(conn, decision, actor_id=actor, case_id="case-1")
                say(f"ACK {index} {actor}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ledger.close()
    engine.dispose()
    say("DONE")


if __name__ == "__main__":
    main()
