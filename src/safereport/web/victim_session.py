"""The victim's return session and one-use form tokens: what keeps the browser history harmless.

Every victim POST answers with a redirect (POST/redirect/GET), so no history entry is a form
that a Back press can send again with her codename in it. The page she is redirected to needs
to know who she is without a secret in its address; that is a **cookie holding an opaque,
random id** (``HttpOnly``, ``SameSite=Strict``, ``Path=/return``, ``Secure`` over https,
ending 30 minutes after she typed her codename). Everything else stays on the server, in
memory: which case the id opens, the codename card to show once, a notice or a form error to
show once. The quick
exit ends the session on the server, deletes the cookie and sends ``Clear-Site-Data``, so Back
afterwards finds only "This page has closed".

A form's CSRF token is spent by the first POST that carries it (:class:`SpentTokens`), so a
replayed message, consent, erasure, claim or report does nothing the second time.

Both live in the database (:class:`DatabaseReturnSessions`, :class:`DatabaseSpentTokens`), so
that every worker process (``serve --workers N``, or several servers over one PostgreSQL) sees
the same session and refuses the same replay; what a session holds is sealed, and only hashes
of the cookie and of spent tokens are stored. Expired rows are deleted as new sessions start.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response

from safereport.services.return_sessions import SessionStore
from safereport.services.victim import VictimSession, door_open
from safereport.web.security import CSRF_TTL_SECONDS

__all__ = [
    "COOKIE",
    "COOKIE_PATH",
    "SESSION_TTL_SECONDS",
    "Card",
    "DatabaseReturnSessions",
    "DatabaseSpentTokens",
    "Flash",
    "ReturnSession",
    "ReturnSessions",
    "SpentTokens",
    "end_session",
    "return_sessions",
    "session_key",
    "session_of",
    "set_session_cookie",
    "spent_tokens",
    "start_draft",
    "start_session",
]

#: A neutral name: it says nothing about the site to someone reading the browser's settings.
COOKIE = "s"
COOKIE_PATH = "/return"
SESSION_TTL_SECONDS = 30 * 60
#: How long her browser keeps the cookie after the session it names has ended (seconds): a
#: page she sends in that time is told the page had closed and that nothing arrived, not
#: answered as if she had never been there. The cookie names nothing once the session is gone.
COOKIE_GRACE_SECONDS = 30 * 60
_MAX_SESSIONS = 100_000


@dataclass(frozen=True)
class Card:
    """What a report or a claim shows once: the reference and, with one, the codename."""

    reference: str
    codename: str | None = field(default=None, repr=False)
    claimed: bool = False


@dataclass(frozen=True)
class Flash:
    """A notice or a form's problems, shown on the next page and then forgotten."""

    notice: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class ReturnSession:
    victim: VictimSession | None
    expires: float
    card: Card | None = None
    flash: Flash | None = None
    #: Her report's answers while she checks them before sending (issue 18); its files wait
    #: in ``services.report_drafts`` under :func:`session_key`.
    draft: dict[str, Any] | None = field(default=None, repr=False)
    #: The consent she is deciding about ("recipient/purpose"), kept here and not in the
    #: page's address: her browser's history would show to whom (the walk-through of
    #: 2026-12-03 read "/return/consent?choice=police/investigation" there).
    choosing: str = ""


def _key(opaque: str) -> str:
    # Memory holds a hash of the cookie's value, never the value itself.
    return hashlib.sha256(opaque.encode()).hexdigest()


class ReturnSessions:
    """Sessions by opaque id, each ending 30 minutes after it began, or at once on exit."""

    def __init__(self, ttl: float = SESSION_TTL_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sessions: dict[str, ReturnSession] = {}
        self._lock = threading.Lock()

    def start(self, victim: VictimSession | None, *, card: Card | None = None) -> str:
        """A new session; returns the opaque id for the cookie."""
        opaque = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            self._sessions[_key(opaque)] = ReturnSession(victim, self._clock() + self.ttl,
                                                         card=card)
        return opaque

    def get(self, opaque: str | None) -> ReturnSession | None:
        """The live session for ``opaque``, or None (30 minutes from its start, not renewed)."""
        if not opaque or len(opaque) > 100:
            return None
        now = self._clock()
        with self._lock:
            found = self._sessions.get(_key(opaque))
            if found is None:
                return None
            if found.expires <= now:
                del self._sessions[_key(opaque)]
                return None
            return found

    def end(self, opaque: str | None) -> None:
        if opaque:
            with self._lock:
                self._sessions.pop(_key(opaque), None)

    def _expire(self) -> None:
        now = self._clock()
        if len(self._sessions) >= 1024:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
        if len(self._sessions) >= _MAX_SESSIONS:  # a flood: the oldest go first
            for key in sorted(self._sessions, key=lambda k: self._sessions[k].expires)[:1024]:
                del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)


class SpentTokens:
    """Form tokens already used once; each is remembered until it would have expired anyway."""

    def __init__(self, ttl: float = CSRF_TTL_SECONDS + 120, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, token: str) -> bool:
        """True the first time ``token`` is spent, False on every replay."""
        now = self._clock()
        key = _key(token)
        with self._lock:
            if len(self._spent) >= 1024:
                for old in [k for k, until in self._spent.items() if until <= now]:
                    del self._spent[old]
            until = self._spent.get(key)
            if until is not None and until > now:
                return False
            self._spent[key] = now + self.ttl
            return True

    def __len__(self) -> int:
        return len(self._spent)


class _StoredSession(ReturnSession):
    """A session kept in the database: setting its card or flash writes it back."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        store = self.__dict__.get("_store")
        if store is not None and name in ("card", "flash", "draft", "choosing"):
            store.save(self)


def _state_json(session: ReturnSession) -> bytes:
    victim = session.victim
    return json.dumps({
        "victim": None if victim is None else [victim.subject_id, victim.case_id],
        "card": None if session.card is None else [session.card.reference, session.card.codename,
                                                   session.card.claimed],
        "flash": None if session.flash is None else [session.flash.notice, session.flash.errors,
                                                     session.flash.values],
        "draft": session.draft,
        "choosing": session.choosing,
    }).encode("utf-8")


def _state_from(data: bytes, expires: float) -> ReturnSession:
    value = json.loads(data.decode("utf-8"))
    victim = value.get("victim")
    card = value.get("card")
    flash = value.get("flash")
    draft = value.get("draft")
    return _StoredSession(
        VictimSession(*victim) if victim else None, expires,
        card=Card(card[0], card[1], bool(card[2])) if card else None,
        flash=Flash(flash[0], dict(flash[1]), dict(flash[2])) if flash else None,
        draft=dict(draft) if isinstance(draft, dict) else None,
        choosing=str(value.get("choosing") or ""),
    )


class DatabaseReturnSessions:
    """:class:`ReturnSessions` kept in the database, so that every worker process (``serve
    --workers N``, or several servers over one PostgreSQL) knows her session. The row's key is
    a hash of the cookie's value; its contents (which case, the card shown once, a notice or
    what she typed) are sealed under a key derived from the instance's keys."""

    def __init__(self, instance: Any, ttl: float = SESSION_TTL_SECONDS, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._store = SessionStore(instance)
        self._clock = clock

    def start(self, victim: VictimSession | None, *, card: Card | None = None) -> str:
        opaque = secrets.token_urlsafe(32)
        now = self._clock()
        state = ReturnSession(victim, now + self.ttl, card=card)
        self._store.start(_key(opaque), now + self.ttl, _state_json(state), now)
        return opaque

    def get(self, opaque: str | None) -> ReturnSession | None:
        if not opaque or len(opaque) > 100:
            return None
        key = _key(opaque)
        kept = self._store.get(key, self._clock())
        if kept is None:
            return None
        try:
            found = _state_from(kept[1], kept[0])
        except (ValueError, TypeError, IndexError):
            return None
        object.__setattr__(found, "_store", self)
        object.__setattr__(found, "_key", key)
        return found

    def save(self, session: ReturnSession) -> None:
        key = session.__dict__.get("_key")
        if key is not None:
            self._store.save(key, _state_json(session))

    def end(self, opaque: str | None) -> None:
        if opaque and len(opaque) <= 100:
            self._store.end(_key(opaque))


class DatabaseSpentTokens:
    """:class:`SpentTokens` kept in the database: a replay is refused whichever worker gets it."""

    def __init__(self, instance: Any, ttl: float = CSRF_TTL_SECONDS + 120, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._store = SessionStore(instance)
        self._clock = clock

    def spend(self, token: str) -> bool:
        now = self._clock()
        return self._store.spend(_key(token), now + self.ttl, now)


def _state_object(request: Request, name: str, factory: Callable[[], Any]) -> Any:
    state = request.app.state
    existing = getattr(state, name, None)
    if existing is None:
        existing = factory()
        setattr(state, name, existing)
    return existing


def return_sessions(request: Request) -> ReturnSessions | DatabaseReturnSessions:
    """The app's session store: in the database (shared by every worker) when the app has an
    instance; a test may put an in-memory :class:`ReturnSessions` on ``app.state``."""
    instance = getattr(request.app.state, "instance", None)
    made: ReturnSessions | DatabaseReturnSessions = _state_object(
        request, "victim_sessions",
        (lambda: DatabaseReturnSessions(instance)) if instance is not None else ReturnSessions)
    return made


def spent_tokens(request: Request) -> SpentTokens | DatabaseSpentTokens:
    instance = getattr(request.app.state, "instance", None)
    made: SpentTokens | DatabaseSpentTokens = _state_object(
        request, "victim_spent_tokens",
        (lambda: DatabaseSpentTokens(instance)) if instance is not None else SpentTokens)
    return made


def session_of(request: Request) -> ReturnSession | None:
    """The live session named by this request's cookie, or None.

    A session whose case was erased, or whose door is no longer hers, is ended here: it
    stops working the moment that happens, not 30 minutes later (security review, 19).
    """
    opaque = request.cookies.get(COOKIE)
    found = return_sessions(request).get(opaque)
    if found is not None and found.victim is not None and not door_open(
        request.app.state.instance, found.victim
    ):
        return_sessions(request).end(opaque)
        return None
    return found


def start_session(request: Request, response: Response, victim: VictimSession | None, *,
                  card: Card | None = None) -> None:
    """End any session this browser had, start a new one and set its cookie on ``response``."""
    sessions = return_sessions(request)
    _drop_draft(request)
    sessions.end(request.cookies.get(COOKIE))
    set_session_cookie(request, response, sessions.start(victim, card=card))


def start_draft(request: Request, response: Response,
                draft: dict[str, Any]) -> tuple[str, ReturnSession]:
    """A new session holding her report's draft (issue 18): its :func:`session_key`, and it."""
    sessions = return_sessions(request)
    _drop_draft(request)
    sessions.end(request.cookies.get(COOKIE))
    opaque = sessions.start(None)
    found = sessions.get(opaque)
    if found is None:  # just made: only a flood of sessions could have pushed it out
        raise RuntimeError("the new session could not be found")
    found.draft = draft
    set_session_cookie(request, response, opaque)
    return _key(opaque), found


def session_key(request: Request) -> str | None:
    """The hash naming this browser's session (never the cookie's value), or None."""
    opaque = request.cookies.get(COOKIE)
    return _key(opaque) if opaque and len(opaque) <= 100 else None


def _drop_draft(request: Request) -> None:
    """Delete the files of a draft report this browser's session held (if any)."""
    instance = getattr(request.app.state, "instance", None)
    key = session_key(request)
    if instance is not None and key is not None:
        from safereport.services import report_drafts

        report_drafts.drop(instance, key)


def set_session_cookie(request: Request, response: Response, opaque: str) -> None:
    response.set_cookie(
        COOKIE, opaque, max_age=SESSION_TTL_SECONDS + COOKIE_GRACE_SECONDS, path=COOKIE_PATH,
        secure=request.url.scheme == "https", httponly=True, samesite="strict",
    )


def end_session(request: Request, response: Response) -> None:
    """Forget the session (and a draft report's files) on the server and tell the browser to
    drop the cookie."""
    _drop_draft(request)
    return_sessions(request).end(request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=request.url.scheme == "https",
                           httponly=True, samesite="strict")
