"""Neutral notices (issue 18): "You have a new message. Use your code to read it."

When a caseworker writes to her, one notice goes to her, only over the channel she marked
safe (email, or a text message) and only inside the safe times she gave; it names no
organisation and says nothing of the message, in her language. Each new report gives the
organisation's staff a notice too ("A new report has arrived. Sign in to read it.").

How it goes, so that no request waits for a mail server and nothing is lost:

1. **Queued after the commit.** The reply (or the report) is committed first; then a row is
   added to the outbox (:mod:`safereport.store.notices`) naming the case and the caseworker,
   never an address. If that fails it is logged; the message itself is already saved.
2. **Sent off the request.** A :class:`NoticeWorker` thread (started by the web app when
   notices are configured; ``safereport notices send`` does one pass, e.g. from cron) takes
   due rows.
3. **A decided, recorded access.** For her notice the worker opens her contact details
   (email, phone, how it is safe to contact her) through the road (``access_case``, as the
   caseworker who wrote, for the case's purpose, ``detail.event = notice``): the ledger shows
   the read, and she sees it under "who has seen my data". A refusal sends nothing.
4. **Her rules.** No channel marked safe, or no address for it, or no notifier configured for
   it: nothing is sent (outcome ``no_safe_channel``). Outside her safe times: the row waits for
   the start of the next one. No safe times given: nothing is sent (``no_safe_time``): a
   notice at the wrong moment can be the danger.
5. **Retried.** A failed send is logged (the error's kind only) and tried again later, up to
   :data:`MAX_ATTEMPTS` times with a growing wait; the outbox row is kept.

Nothing is configured by default, and then nothing is queued or sent.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from zoneinfo import ZoneInfo

from safereport.config import Secret, Settings
from safereport.domain.case import new_id
from safereport.domain.fields import CaseField
from safereport.errors import AccessDenied
from safereport.services.access import access_case
from safereport.services.auth import get_user
from safereport.services.casework import actor_for, default_purpose
from safereport.services.instance import Instance
from safereport.store.cases import case_language, case_org
from safereport.store.notices import (
    NoticeRow,
    claim_notice,
    due_notices,
    queue_notice,
    record_try,
)
from safereport.store.notices import outcome_counts as notice_outcomes

__all__ = [
    "MAX_ATTEMPTS",
    "NOTICE_BODY",
    "NOTICE_SUBJECT",
    "SAFE_TIMES",
    "STAFF_BODY",
    "STAFF_SUBJECT",
    "HttpTextGateway",
    "NoticeConfig",
    "NoticeWorker",
    "Notifier",
    "SmtpMailer",
    "SmtpTextGateway",
    "config_of",
    "deliver_due",
    "in_safe_time",
    "next_safe_start",
    "outcome_counts",
    "parse_safe_contact",
    "reply_written",
    "report_received",
    "start_worker",
    "stop_worker",
]

log = logging.getLogger("safereport.notices")

#: Her notice, in English; the web layer gives the worker its translations.
NOTICE_SUBJECT = "New message"
NOTICE_BODY = "You have a new message. Use your code to read it."
#: Staff: no case, no crime type, no reference.
STAFF_SUBJECT = "New report"
STAFF_BODY = "A new report has arrived. Sign in to read it."

#: Her safe times, in the UK's clock: (name, from, until).
SAFE_TIMES: tuple[tuple[str, time, time], ...] = (
    ("morning", time(8), time(12)),
    ("afternoon", time(12), time(17)),
    ("evening", time(17), time(21)),
)
_ZONE = ZoneInfo("Europe/London")
MAX_ATTEMPTS = 12
#: How long a claimed notice is held by the worker sending it before another may try.
_CLAIM = timedelta(minutes=10)
_ERROR_CHARS = 200

Translate = Callable[[str, str], str]


# ---- her safe channels and times ------------------------------------------------------------

@dataclass(frozen=True)
class SafeContact:
    channels: frozenset[str] = frozenset()
    times: frozenset[str] = frozenset()


def parse_safe_contact(text: str) -> SafeContact:
    """Read the sealed ``safe_contact`` field (``email: yes`` lines, ``times: morning,...``)."""
    channels: set[str] = set()
    times: set[str] = set()
    known_times = {name for name, _start, _end in SAFE_TIMES}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "times":
            times |= {t.strip() for t in value.split(",") if t.strip() in known_times}
        elif key in ("call", "email", "text") and value == "yes":
            channels.add(key)
    return SafeContact(frozenset(channels), frozenset(times))


def in_safe_time(times: Iterable[str], now: datetime) -> bool:
    local = now.astimezone(_ZONE).time()
    return any(start <= local < end for name, start, end in SAFE_TIMES if name in set(times))


def next_safe_start(times: Iterable[str], now: datetime) -> datetime | None:
    """The start of her next safe time after ``now`` (UTC), or None when she gave none."""
    chosen = set(times)
    local = now.astimezone(_ZONE)
    for days in range(0, 3):
        day = (local + timedelta(days=days)).date()
        for name, start, _end in SAFE_TIMES:
            if name not in chosen:
                continue
            moment = datetime.combine(day, start, tzinfo=_ZONE)
            if moment > local:
                return moment.astimezone(UTC)
    return None


# ---- notifiers ------------------------------------------------------------------------------

class Notifier(Protocol):
    """Something that delivers one short text to one address or number, or raises."""

    def send(self, to: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    """Mail through an SMTP server (stdlib ``smtplib``), STARTTLS when asked."""

    host: str
    port: int = 25
    sender: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout: float = 20.0

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class SmtpTextGateway:
    """A text message through an email-to-SMS gateway: ``{number}@gateway.example``."""

    mailer: SmtpMailer
    address: str

    def send(self, to: str, subject: str, body: str) -> None:
        number = "".join(ch for ch in to if ch.isdigit() or ch == "+")
        self.mailer.send(self.address.replace("{number}", number), subject, body)


@dataclass(frozen=True)
class HttpTextGateway:
    """A text message through an HTTP gateway: ``POST {"to": ..., "text": ...}`` as JSON."""

    url: str
    token: str = field(default="", repr=False)
    timeout: float = 20.0

    def send(self, to: str, subject: str, body: str) -> None:
        request = urllib.request.Request(
            self.url, data=json.dumps({"to": to, "text": body}).encode("utf-8"),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})},
            method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            if not 200 <= answer.status < 300:
                raise OSError(f"gateway answered {answer.status}")


@dataclass(frozen=True)
class NoticeConfig:
    email: Notifier | None = None
    text: Notifier | None = None
    #: Where staff notices go: organisation id or name -> address; "*" for every organisation.
    staff: Mapping[str, str] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return self.email is not None or self.text is not None or bool(self.staff)


def _revealed(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def config_of(settings: Settings) -> NoticeConfig:
    """Notifiers from the ``smtp_*``, ``sms_*`` and ``staff_notice_email`` settings."""
    if settings.notifiers is not None:  # tests hand in their own notifiers
        return settings.notifiers
    mailer = None
    host = settings.smtp_host.strip()
    if host:
        mailer = SmtpMailer(
            host=host, port=settings.smtp_port,
            sender=settings.smtp_from.strip(),
            username=settings.smtp_username.strip(),
            password=_revealed(settings.smtp_password),
            starttls=settings.smtp_starttls)
    text: Notifier | None = None
    gateway = settings.sms_gateway.strip()
    if gateway.startswith(("https://", "http://")):
        text = HttpTextGateway(gateway, _revealed(settings.sms_gateway_token))
    elif "{number}" in gateway and mailer is not None:
        text = SmtpTextGateway(mailer, gateway)
    staff: dict[str, str] = {}
    for item in settings.staff_notice_email.split(","):
        name, sep, address = item.rpartition("=")
        address = address.strip()
        if address and mailer is not None:
            staff[name.strip() if sep else "*"] = address
    return NoticeConfig(email=mailer, text=text, staff=staff)


# ---- queueing (after the commit) ------------------------------------------------------------

def _enqueue(instance: Instance, kind: str, case_id: str, user_id: str | None) -> None:
    now = datetime.now(UTC)
    try:
        with instance.engine.begin() as conn:
            queue_notice(conn, id=new_id(), kind=kind, case_id=case_id, user_id=user_id,
                         now=now)
    except Exception:  # the reply or report is saved already: never fail it for a notice
        log.exception("a %s notice could not be queued", kind)
        return
    _kick(instance)


def reply_written(instance: Instance, case_id: str, user_id: str) -> None:
    """Her caseworker wrote to her (committed): queue her notice, if notices are set up."""
    config = config_of(instance.settings)
    if config.email is not None or config.text is not None:
        _enqueue(instance, "reply", case_id, user_id)


def report_received(instance: Instance, case_id: str) -> None:
    """A new report was committed: queue the staff notice, if an address is set up."""
    if config_of(instance.settings).staff:
        _enqueue(instance, "new_report", case_id, None)


# ---- sending --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Outcome:
    outcome: str | None  # None: not settled, try again at ``due``
    due: datetime | None = None
    error: str = ""


def _english(lang: str, text: str) -> str:
    return text


def deliver_due(instance: Instance, *, now: datetime | None = None,
                translate: Translate = _english, limit: int = 50) -> int:
    """Send every due notice (at most ``limit``); returns how many were settled."""
    now = now or datetime.now(UTC)
    config = config_of(instance.settings)
    with instance.engine.connect() as conn:
        due = due_notices(conn, now, limit)
    settled = 0
    for row in due:
        # Claim the row (compare-and-set on its due time): of several workers over one
        # database, only one sends it; a worker that dies mid-send leaves it to a retry.
        with instance.engine.begin() as conn:
            claimed = claim_notice(conn, row.id, row.due_at, now + _CLAIM)
        if not claimed:
            continue
        try:
            result = (_deliver_reply(instance, config, row, now, translate) if row.kind == "reply"
                      else _deliver_staff(instance, config, row))
        except Exception as exc:  # a notifier may fail in any way: retry later
            log.warning("notice %s not sent (%s); it will be tried again", row.id,
                        type(exc).__name__)
            attempts = row.attempts + 1
            gave_up = attempts >= MAX_ATTEMPTS
            result = _Outcome("gave_up" if gave_up else None,
                              now + timedelta(minutes=min(2 ** attempts, 360)),
                              type(exc).__name__)
            if gave_up:
                log.error("notice %s not sent after %d tries: given up", row.id, attempts)
        if result.outcome is not None:
            settled += 1
        with instance.engine.begin() as conn:
            record_try(
                conn, row.id,
                due_at=result.due if result.due is not None else row.due_at,
                settled=(now, result.outcome) if result.outcome is not None else None,
                error=result.error[:_ERROR_CHARS])
    return settled


def _deliver_reply(instance: Instance, config: NoticeConfig, row: NoticeRow, now: datetime,
                   translate: Translate) -> _Outcome:
    if config.email is None and config.text is None:
        return _Outcome("not_configured")
    with instance.engine.connect() as conn:
        case = case_language(conn, row.case_id) if row.case_id is not None else None
        user = get_user(conn, row.user_id) if row.user_id else None
    if case is None or case.erased or user is None or row.case_id is None:
        return _Outcome("erased")
    try:
        opened = access_case(
            instance, actor_for(user), row.case_id, purpose=default_purpose(user),
            fields=[CaseField.EMAIL, CaseField.PHONE, CaseField.SAFE_CONTACT],
            detail={"event": "notice"}).values
    except AccessDenied:
        return _Outcome("refused")  # the denial is on record; nothing is sent
    safe = parse_safe_contact(opened.get(CaseField.SAFE_CONTACT, ""))
    channel: tuple[Notifier, str, str] | None = None
    email, phone = opened.get(CaseField.EMAIL, ""), opened.get(CaseField.PHONE, "")
    if "email" in safe.channels and email and config.email is not None:
        channel = (config.email, email, "sent_email")
    elif "text" in safe.channels and phone and config.text is not None:
        channel = (config.text, phone, "sent_text")
    if channel is None:
        return _Outcome("no_safe_channel")
    if not safe.times:
        return _Outcome("no_safe_time")
    if not in_safe_time(safe.times, now):
        return _Outcome(None, next_safe_start(safe.times, now))
    notifier, to, outcome = channel
    lang = str(case.language or "en")
    notifier.send(to, translate(lang, NOTICE_SUBJECT), translate(lang, NOTICE_BODY))
    return _Outcome(outcome)


def _deliver_staff(instance: Instance, config: NoticeConfig, row: NoticeRow) -> _Outcome:
    if config.email is None or not config.staff:
        return _Outcome("not_configured")
    with instance.engine.connect() as conn:
        org = case_org(conn, row.case_id) if row.case_id is not None else None
    if org is None:
        return _Outcome("erased")
    to = config.staff.get(org.id) or config.staff.get(org.name) or config.staff.get("*")
    if not to:
        return _Outcome("not_configured")
    config.email.send(to, STAFF_SUBJECT, STAFF_BODY)
    return _Outcome("sent_staff")


def outcome_counts(instance: Instance) -> dict[str, int]:
    """How many notices wait (``waiting``) and how many ended each way."""
    with instance.engine.connect() as conn:
        counts = notice_outcomes(conn)
    return {str(outcome or "waiting"): count for outcome, count in counts.items()}


# ---- the worker -----------------------------------------------------------------------------

class NoticeWorker:
    """A daemon thread sending due notices: woken at once by a new one, else every minute."""

    def __init__(self, instance: Instance, translate: Translate = _english,
                 interval: float = 60.0) -> None:
        self._instance = instance
        self._translate = translate
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="safereport-notices",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deliver_due(self._instance, translate=self._translate)
            except Exception:  # keep the loop alive
                log.exception("the notice worker's pass failed; it will try again")
            self._wake.wait(self._interval)
            self._wake.clear()


_WORKERS: dict[int, NoticeWorker] = {}
_WORKERS_LOCK = threading.Lock()


def start_worker(instance: Instance, translate: Translate = _english) -> NoticeWorker | None:
    """Start the instance's worker (once), when notices are configured."""
    if not config_of(instance.settings).configured:
        return None
    with _WORKERS_LOCK:
        worker = _WORKERS.get(id(instance))
        if worker is None:
            worker = NoticeWorker(instance, translate)
            _WORKERS[id(instance)] = worker
            worker.start()
    return worker


def stop_worker(instance: Instance) -> None:
    with _WORKERS_LOCK:
        worker = _WORKERS.pop(id(instance), None)
    if worker is not None:
        worker.stop()


def _kick(instance: Instance) -> None:
    worker = _WORKERS.get(id(instance))
    if worker is not None:
        worker.kick()
