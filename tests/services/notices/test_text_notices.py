"""Neutral notices by text message (issue 18): both gateways, configured as an operator does.

A woman whose safe channel is text must get exactly one neutral text when her caseworker
writes, through whichever gateway the operator set up in ``config.toml`` or ``SAFEREPORT_*``
(read by :func:`load_settings`, as ``serve`` reads them):

- the HTTP gateway (``sms_gateway = "http://..."``, ``sms_gateway_token``), here a local
  ``http.server`` on 127.0.0.1 that records every request;
- the SMTP-to-SMS gateway (``sms_gateway = "{number}@sms.example.net"`` through ``smtp_*``),
  here a local aiosmtpd server.

Nothing outside her safe times, nothing when no gateway is configured, a failed send kept and
retried (and the caseworker's message itself kept), and the read of her number on the ledger.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.services.notices.conftest import Mailbox
from tests.services.notices.test_notices import (
    MORNING,
    NEXT_MORNING,
    NIGHT,
    REPLY,
    _notice_entries,
    _outcomes,
    _reply,
)
from tests.support.staff_world import StaffWorld

from safereport.config import load_settings
from safereport.errors import ConfigError
from safereport.services import notices, victim
from safereport.services.intake import parse_submission, submit_report
from safereport.store.notices import notices as outbox
from safereport.web.victim_notices import translate

TOKEN = "gateway-token-0123456789"
NUMBER = "07700 900456"
#: Words that must never be in a notice: the organisation, the reply, her report.
SECRETS = ("Safe Haven", "Support", "Tuesday", "appointment", "Synthetic", "domestic", "abuse",
           "Maria")


@dataclass
class Gateway:
    """What the local HTTP gateway received; it answers each request with the next status."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    received: list[dict[str, Any]] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append({"method": "POST", "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": self.rfile.read(length)})
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:  # a gateway is only ever POSTed to
            received.append({"method": "GET", "path": self.path})
            self.send_response(405)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_address[1]}/v1/messages",
                      received, statuses)
    finally:
        server.shutdown()
        server.server_close()


_MARK = "\n# notices (tests/services/notices/test_text_notices.py)\n"


def _configure(world: StaffWorld, toml: str = "", env: dict[str, str] | None = None) -> None:
    """Add ``toml`` to the instance's config.toml and read the settings as ``serve`` does."""
    current = world.instance.settings
    path = current.data_dir / "config.toml"
    base = path.read_text(encoding="utf-8").partition(_MARK)[0]
    path.write_text(base + _MARK + toml + "\n", encoding="utf-8")
    loaded = load_settings(current.data_dir, env=env or {})
    # What only code sets stays as the world set it: its database, its cheap hashing.
    seams = {name: getattr(current, name) for name in ("database_url", "argon2", "password_hasher")
             if hasattr(current, name)}
    world.instance.settings = replace(loaded, **seams)


def _smtp(box: Mailbox) -> str:
    return (f'smtp_host = "{box.host}"\nsmtp_port = "{box.port}"\n'
            'smtp_from = "notices@example.org"')


def _http_env(gateway: Gateway) -> dict[str, str]:
    return {"SAFEREPORT_SMS_GATEWAY": gateway.url, "SAFEREPORT_SMS_GATEWAY_TOKEN": TOKEN}


def _text_report(world: StaffWorld, *, language: str = "en",
                 times: tuple[str, ...] = ("morning",)) -> tuple[str, str]:
    """Her report, text her only safe channel (she gave an email too): (case id, codename)."""
    data: dict[str, Any] = {
        "mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic account.",
        "email": "her@example.net", "phone": NUMBER, "language": language,
        "safe_contact": {"email": False, "text": True, "times": list(times)},
    }
    made = submit_report(world.instance, parse_submission(data))
    assert made.codename is not None
    return made.case_id, made.codename


def _assert_on_the_ledger(world: StaffWorld, case_id: str) -> None:
    """One decided read of her contact details, allowed, as the caseworker who wrote."""
    entries = _notice_entries(world, case_id)
    assert len(entries) == 1
    assert entries[0].effect == "allow"
    assert entries[0].actor_id == f"user:{world.users['cw'].id}"
    assert "contact" in bytes(entries[0].leaf).decode()


def test_http_gateway_one_neutral_text_in_her_language(world: StaffWorld, gateway: Gateway,
                                                       mailbox: Mailbox) -> None:
    _configure(world, _smtp(mailbox), env=_http_env(gateway))
    assert isinstance(notices.config_of(world.instance.settings).text, notices.HttpTextGateway)
    case_id, _ = _text_report(world, language="pl")
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING, translate=translate) == 1
    assert notices.deliver_due(world.instance, now=MORNING, translate=translate) == 0
    assert len(gateway.requests) == 1
    sent = gateway.requests[0]
    assert sent["method"] == "POST"
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["content-type"] == "application/json"
    payload = json.loads(sent["body"])
    body = translate("pl", notices.NOTICE_BODY)
    assert body != notices.NOTICE_BODY  # really in Polish
    assert payload == {"to": NUMBER, "text": body}  # nothing else
    everything = (json.dumps(sent["headers"]) + sent["body"].decode("utf-8") + sent["path"]
                  + json.dumps(payload, ensure_ascii=False))
    for secret in SECRETS:
        assert secret not in everything
    assert mailbox.received == []  # email was not her safe channel
    assert _outcomes(world) == ["sent_text"]
    _assert_on_the_ledger(world, case_id)


def test_smtp_to_sms_gateway_one_neutral_text(world: StaffWorld, mailbox: Mailbox) -> None:
    _configure(world, _smtp(mailbox) + '\nsms_gateway = "{number}@sms.example.net"')
    assert isinstance(notices.config_of(world.instance.settings).text, notices.SmtpTextGateway)
    case_id, _ = _text_report(world, language="es")
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING, translate=translate) == 1
    assert len(mailbox.received) == 1
    to, data = mailbox.received[0]
    assert to == ["07700900456@sms.example.net"]
    message = message_from_bytes(data)
    text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert text.strip() == translate("es", notices.NOTICE_BODY) != notices.NOTICE_BODY
    assert message["Subject"] == translate("es", notices.NOTICE_SUBJECT)
    assert message["From"] == "notices@example.org"
    whole = data.decode("utf-8", "replace")
    for secret in (*SECRETS, "her@example.net"):
        assert secret not in whole
    assert _outcomes(world) == ["sent_text"]
    _assert_on_the_ledger(world, case_id)


def test_no_text_outside_her_safe_times_then_one(world: StaffWorld, gateway: Gateway) -> None:
    _configure(world, env=_http_env(gateway))
    case_id, _ = _text_report(world, times=("morning",))
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=NIGHT) == 0
    assert gateway.requests == []
    assert _outcomes(world) == [None]  # waiting, not lost
    assert notices.deliver_due(world.instance, now=NEXT_MORNING) == 1
    assert len(gateway.requests) == 1
    assert _outcomes(world) == ["sent_text"]


def test_no_text_when_no_gateway_is_configured(world: StaffWorld, mailbox: Mailbox) -> None:
    """Mail is set up but no text gateway: her safe channel cannot be used, so nothing."""
    _configure(world, _smtp(mailbox))
    assert notices.config_of(world.instance.settings).text is None
    case_id, _ = _text_report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 1
    assert mailbox.received == []  # not to her email instead: she did not mark it safe
    assert _outcomes(world) == ["no_safe_channel"]


def test_nothing_when_nothing_is_configured(world: StaffWorld) -> None:
    _configure(world)
    case_id, _ = _text_report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    assert _outcomes(world) == []
    assert _notice_entries(world, case_id) == []


def test_a_failed_text_is_retried_and_the_message_kept(world: StaffWorld,
                                                       gateway: Gateway) -> None:
    _configure(world, env=_http_env(gateway))
    gateway.statuses.append(503)  # the gateway is down once
    case_id, codename = _text_report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    with world.instance.engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.sent_at is None and row.attempts == 1 and row.last_error == "HTTPError"
    session = victim.open_by_codename(world.instance, codename)
    assert session is not None
    assert [m.text for m in victim.messages(world.instance, session)] == [REPLY]
    later = row.due_at.replace(tzinfo=UTC)
    assert later > MORNING
    assert notices.deliver_due(world.instance, now=later) == 1
    assert len(gateway.requests) == 2
    assert json.loads(gateway.requests[1]["body"])["to"] == NUMBER
    assert _outcomes(world) == ["sent_text"]


def test_an_unreachable_smtp_to_sms_gateway_is_retried(world: StaffWorld,
                                                       mailbox: Mailbox) -> None:
    sms = '\nsms_gateway = "{number}@sms.example.net"'
    _configure(world, 'smtp_host = "127.0.0.1"\nsmtp_port = "1"' + sms)  # nothing listens
    case_id, _ = _text_report(world)
    _reply(world, case_id)
    assert notices.deliver_due(world.instance, now=MORNING) == 0
    with world.instance.engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    _configure(world, _smtp(mailbox) + sms)  # the mail server is back
    assert notices.deliver_due(world.instance, now=row.due_at.replace(tzinfo=UTC)) == 1
    assert [to for to, _ in mailbox.received] == [["07700900456@sms.example.net"]]


@pytest.mark.parametrize(("toml", "message"), [
    # SMTP-to-SMS with no mail server to send through: every text silently dropped.
    ('sms_gateway = "{number}@sms.example.net"', "set 'smtp_host' too"),
    # Neither form: not a gateway at all, so nothing ever sent.
    ('smtp_host = "127.0.0.1"\nsms_gateway = "sms.example.net"', "{number}"),
    # Her number and the token in clear over the network.
    ('sms_gateway = "http://sms.example.net/send"', "https://"),
    # Staff notices go by mail only.
    ('staff_notice_email = "team@example.org"', "set 'smtp_host' too"),
])
def test_a_notice_setting_that_cannot_send_is_refused_when_loaded(
        tmp_path: Path, toml: str, message: str) -> None:
    """A gateway that could never send is a clear error at start, not texts silently lost."""
    (tmp_path / "config.toml").write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(tmp_path, env={})


def test_a_gateway_on_this_machine_may_be_plain_http(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:9000/sms", "http://localhost/sms", "http://[::1]:80/x",
                "https://sms.example.net/send"):
        settings = load_settings(tmp_path, env={"SAFEREPORT_SMS_GATEWAY": url})
        assert isinstance(notices.config_of(settings).text, notices.HttpTextGateway)
