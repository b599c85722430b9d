"""A process that does casework and intake in a loop and says what was acknowledged.

Run as a script by tests/services/test_crash_recovery.py::

    python crash_worker.py DATA_DIR DATABASE_URL CASEWORKER_ID POLICE_ORG_ID RUN

or, so that a hundred runs do not each import everything and prove the policy's decision
table again, as a fork server (``--forks``, the same four arguments but RUN): it warms up once
(imports, and the guard's proved table, which is cached per process by the policy's hash),
then for each line ``RUN <run> <output file>`` on its standard input forks a worker that
writes its lines to that file, and answers ``PID <pid>``. The worker is a process of its own
(its own database connections, opened after the fork): the test kills it with SIGKILL as it
would a freshly started one.

``DATABASE_URL`` is ``-`` for the instance's own SQLite file. Lines on standard output,
flushed one by one, each written only after the service call returned (acknowledged):

* ``READY`` once the instance is open and one round of work is done (a warm worker);
* ``REPORT <case id>``: a report made through the public intake (the road records it);
* ``FILED <case id>``: a third-party report a caseworker filed;
* ``NOTE <case id> <text>``: a note sealed on that case, its decision in the same transaction;
* ``ASKED <request id>``: a disclosure request decided and recorded;
* ``CHECKPOINT <note as hex>``: each checkpoint this process signed.

The test kills it with SIGKILL at a random moment, then checks the database against the lines.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from dataclasses import replace
from pathlib import Path

from safereport.config import Secret, load_settings
from safereport.domain.codename import TEST_PARAMS
from safereport.domain.fields import CaseField
from safereport.domain.passwords import UnsafeCheapHasherForTests
from safereport.domain.vocabulary import CrimeType, DataCategory, Purpose, SubjectRole
from safereport.services import auth
from safereport.services.casework import add_note, file_third_party_report
from safereport.services.disclosure import DisclosureForm, request_disclosure
from safereport.services.instance import Instance
from safereport.services.intake import parse_submission, submit_report
from safereport.store.db import make_engine

_print_lock = threading.Lock()

REPORT = {
    "mode": "anonymous",
    "language": "en",
    "crime_type": "domestic_abuse",
    "narrative": "He shouts at me and takes my money.",
}


def say(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def open_world(data_dir: str, url: str) -> Instance:
    """The instance as the test built it (cheap Argon2, PostgreSQL when given)."""
    settings = load_settings(Path(data_dir))
    if url != "-":
        settings = replace(settings, database_url=Secret(url))
    settings = replace(settings, argon2=TEST_PARAMS, password_hasher=UnsafeCheapHasherForTests())
    return Instance(settings=settings, engine=make_engine(settings.effective_database_url()))


def main() -> None:
    if sys.argv[1] == "--forks":
        serve_forks(*sys.argv[2:6])
        return
    work(*sys.argv[1:6])


def serve_forks(data_dir: str, url: str, caseworker_id: str, police_org: str) -> None:
    """Warm up once, then fork a worker for each ``RUN <run> <file>`` line (see above)."""
    warm = open_world(data_dir, url)
    warm.guard  # noqa: B018 (proves the decision table once; every fork inherits it)
    warm.engine.dispose()  # no connection crosses a fork
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the workers are reaped as they die
    for line in sys.stdin:
        _, run, output = line.split()
        pid = os.fork()
        if pid == 0:  # the worker: its output to the file, line by line
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.close(fd)
            sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            code = 1
            try:
                work(data_dir, url, caseworker_id, police_org, run)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        sys.stdout.write(f"PID {pid}\n")
        sys.stdout.flush()


def work(data_dir: str, url: str, caseworker_id: str, police_org: str, run: str) -> None:
    instance = open_world(data_dir, url)
    instance.ledger.on_checkpoint(lambda note: say("CHECKPOINT " + note.encode().hex()))
    with instance.engine.connect() as conn:
        caseworker = auth.get_user(conn, caseworker_id)
    assert caseworker is not None
    instance.guard, instance.vault  # noqa: B018 (built before the kills start: a warm worker)
    for i in range(10_000):
        if i == 1:
            say("READY")
        made = submit_report(instance, parse_submission(REPORT))
        say(f"REPORT {made.case_id}")
        filed = file_third_party_report(
            instance, caseworker, crime_type=CrimeType.DOMESTIC_ABUSE,
            subject_role=SubjectRole.VICTIM,
            values={CaseField.NARRATIVE: f"run {run} report {i}", CaseField.NAME: "A. Example"},
            consents_given=())
        say(f"FILED {filed.case_id}")
        text = f"note-{run}-{i}"
        add_note(instance, caseworker, filed.case_id, text)
        say(f"NOTE {filed.case_id} {text}")
        form = DisclosureForm(
            case_id=filed.case_id, recipient_org_id=police_org, purpose=Purpose.SAFEGUARDING,
            categories=frozenset({DataCategory.CRIME_DETAILS}), flags=frozenset({"emergency"}))
        say(f"ASKED {request_disclosure(instance, caseworker, form)}")


if __name__ == "__main__":
    main()
