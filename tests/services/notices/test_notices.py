"""Neutral notices (issue 18) against a real SMTP server on 127.0.0.1 (aiosmtpd).

A caseworker's reply gives exactly one neutral email to her address, and only when email is
her safe channel and the time is one of her safe times; the read of her contact details that
it takes is decided and on the ledger.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tests.services.notices.conftest import Mailbox
from tests.support.staff_world import StaffWorld

from safereport.services import casework, notices
from safereport.services.intake import parse_submission, submit_report
from safereport.store.ledger import ledger_entries
from safereport.store.notices import notices as outbox

_LONDON = ZoneInfo("Europe/London")
_DAY = (datetime.now(UTC) + timedelta(days=2)).astimezone(_LONDON).date()
#: 10:00 and 22:00 in London the day after tomorrow (after every queued notice's due time),
#: and 08:00 the morning after.
MORNING = datetime.combine(_DAY, time(10), tzinfo=_LONDON).astimezone(UTC)
NIGHT = datetime.combine(_DAY, time(22), tzinfo=_LONDON).astimezone(UTC)
NEXT_MORNING = datetime.combine(_DAY + timedelta(days=1), time(8), tzinfo=_LONDON).astimezone(UTC)
REPLY = "Your appointment is on Tuesday at the Safe Haven office."


def _configure(world: StaffWorld, box: Mailbox, **more: Any) -> None:
    world.instance.settings = replace(world.instance.settings, smtp_host=box.host,
                                      smtp_port=box.port, smtp_from="notices@example.org",
                                      **more)


def _report(world: StaffWorld, *, email: bool = True, text: bool = False,
            times: tuple[str, ...] = ("morning",), language: str = "en") -> str:
    data: dict[str, Any] = {
        "mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic account.",
        "email": "her@example.net", "phone": "07700 900456", "language": language,
        "safe_contact": {"email": email, "text": text, "times": list(times)},
    }
    return submit_report(world.instance, parse_submission(data)).case_id


def _reply(world: StaffWorld, case_id: str) -> None:
    casework.add_note(world.instance, world.users["cw"], case_id, REPLY, visible_to_subject=True)


def _messages(box: Mailbox) -> list[tuple[list[str], Message]]:
    return [(to, message_from_bytes(data)) for to, data in box.received]


def _outcomes(world: StaffWorld) -> list[str | None]:
    with world.instance.engine.connect() as conn:
        return list(conn.execute(select(outbox.c.outcome).where(outbox.c.kind == "reply")
                                 .order_by(outbox.c.created_at)).scalars())


def _notice_entries(world: StaffWorld, case_id: str) -> list[Any]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries).where(ledger_entries.c.case_id == case_id)
                            .order_by(ledger_entries.c.idx)).all()
    return [row for row in rows if b'"notice"' in bytes(row.leaf)]


def test_a_reply_gives_one_neutral_email_on_the_ledger(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox)
    case_id = _report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 1
    assert notices.deliver_due(world.instance, now=MORNING) == 0  # settled: never twice
    sent = _messages(mailbox)
    assert len(sent) == 1
    to, message = sent[0]
    assert to == ["her@example.net"]
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert body.strip() == "You have a new message. Use your code to read it."
    assert message["Subject"] == "New message"
    whole = mailbox.received[0][1].decode()
    for secret in ("Safe Haven", "Tuesday", "appointment", "Synthetic", "domestic"):
        assert secret not in whole
    assert _outcomes(world) == ["sent_email"]
    entries = _notice_entries(world, case_id)
    assert len(entries) == 1
    assert entries[0].effect == "allow"
    assert entries[0].actor_id == f"user:{world.users['cw'].id}"
    assert "contact" in bytes(entries[0].leaf).decode()


def test_none_when_email_is_not_her_safe_channel(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox)
    case_id = _report(world, email=False, text=True)  # text is safe, but no gateway is set up
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 1
    assert mailbox.received == []
    assert _outcomes(world) == ["no_safe_channel"]


def test_none_outside_her_safe_times_then_one_when_they_start(
        world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox)
    case_id = _report(world, times=("morning",))
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=NIGHT) == 0
    assert mailbox.received == []
    assert _outcomes(world) == [None]  # waiting, not lost
    with world.instance.engine.connect() as conn:
        due = conn.execute(select(outbox.c.due_at)).scalar_one()
    assert due.replace(tzinfo=UTC) == NEXT_MORNING
    assert notices.deliver_due(world.instance, now=NEXT_MORNING) == 1
    assert len(mailbox.received) == 1


def test_none_when_she_gave_no_safe_time(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox)
    _reply(world, _report(world, times=()))
    notices.deliver_due(world.instance, now=MORNING)
    assert mailbox.received == []
    assert _outcomes(world) == ["no_safe_time"]


def test_nothing_queued_or_read_when_nothing_is_configured(world: StaffWorld) -> None:
    case_id = _report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    assert _outcomes(world) == []
    assert _notice_entries(world, case_id) == []


def test_a_failed_send_is_kept_and_tried_again(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox)
    port = mailbox.port
    world.instance.settings = replace(world.instance.settings,
                                      smtp_port=1)  # nothing listens there
    _reply(world, _report(world))
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    with world.instance.engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    world.instance.settings = replace(world.instance.settings, smtp_port=port)
    later = row.due_at.replace(tzinfo=UTC)
    assert later > MORNING
    assert notices.deliver_due(world.instance, now=later) == 1
    assert len(mailbox.received) == 1


def test_in_her_language(world: StaffWorld, mailbox: Mailbox) -> None:
    from safereport.web.victim_notices import translate

    _configure(world, mailbox)
    _reply(world, _report(world, language="es"))
    notices.deliver_due(world.instance, now=MORNING, translate=translate)
    message = _messages(mailbox)[0][1]
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert body.strip() == translate("es", notices.NOTICE_BODY)
    assert body.strip() != notices.NOTICE_BODY


def test_staff_hear_of_each_new_report_neutrally(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox, staff_notice_email="Safe Haven Support=team@example.org")
    _report(world)
    assert notices.deliver_due(world.instance, now=MORNING) == 1
    sent = _messages(mailbox)
    assert [to for to, _ in sent] == [["team@example.org"]]
    body = sent[0][1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert body.strip() == notices.STAFF_BODY
    assert "Safe Haven" not in mailbox.received[0][1].decode()


def test_two_workers_send_a_notice_once(world: StaffWorld) -> None:
    """Several serve processes each run a worker: the claim lets only one of them send."""
    import threading

    sent: list[str] = []
    gate = threading.Barrier(2)

    class Slow:
        def send(self, to: str, subject: str, body: str) -> None:
            sent.append(to)

    world.instance.settings = replace(world.instance.settings,
                                      notifiers=notices.NoticeConfig(email=Slow()))
    _reply(world, _report(world))

    def worker() -> None:
        gate.wait()
        notices.deliver_due(world.instance, now=MORNING)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sent == ["her@example.net"]
    assert _outcomes(world) == ["sent_email"]


def test_the_cli_sends_what_waits_and_says_how_notices_ended(
        sqlite_world: StaffWorld, mailbox: Mailbox) -> None:
    from click.testing import CliRunner

    from safereport.cli import main

    world = sqlite_world  # its database is in its data directory, as the CLI opens it
    data_dir = world.instance.settings.data_dir
    with (data_dir / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f'\nsmtp_host = "{mailbox.host}"\nsmtp_port = "{mailbox.port}"\n'
                     'smtp_from = "notices@example.org"\n')
    _configure(world, mailbox)
    _reply(world, _report(world, times=("morning", "afternoon", "evening")))
    run = CliRunner().invoke(main, ["--data-dir", str(data_dir), "notices", "status"])
    assert run.exit_code == 0 and "waiting: 1" in run.output
    run = CliRunner().invoke(main, ["--data-dir", str(data_dir), "notices", "send"])
    assert run.exit_code == 0, run.output
    if notices.in_safe_time(("morning", "afternoon", "evening"), datetime.now(UTC)):
        assert "1 notice(s) settled" in run.output and len(mailbox.received) == 1
    else:  # at night her times have not started: it waits, and nothing is sent
        assert "0 notice(s) settled" in run.output and mailbox.received == []


def test_no_staff_notice_of_a_report_held_in_quarantine(
        world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, mailbox, staff_notice_email="team@example.org")
    data = {"mode": "anonymous", "crime_type": "other", "narrative": "Synthetic."}
    submit_report(world.instance, parse_submission(data), suspicion="honeypot")
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    assert mailbox.received == []
