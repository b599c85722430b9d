"""Web security for every page: headers, CSRF tokens, rate limits and lockouts.

* :func:`install_security` adds one ASGI middleware that sets the security headers on every
  response: a Content-Security-Policy without ``unsafe-inline`` (no inline script or style,
  nothing from another host), ``Cache-Control: no-store`` (a victim's pages must not linger in
  a shared device's cache), no referrer, no framing.
* CSRF: a **cookieless** signed token in a hidden form field (:func:`csrf_token`,
  :func:`verify_csrf`, the dependency :func:`require_csrf`). Victims get no cookie at all,
  not even a session one, because a cookie is a trace that an abuser can find in the browser's
  settings. The token is an HMAC over its issue time (and an optional per-session binding that
  staff sign-in sets in ``request.state.csrf_binding``), valid for two hours; on top of it a
  POST whose ``Origin`` or ``Sec-Fetch-Site`` says it came from another site is refused.
* :class:`RateLimiter` and :class:`Lockout`: in memory, keyed by :func:`client_key`, an HMAC of
  the client address under a random per-process key, so no address is ever kept in the clear
  and the keys mean nothing after a restart. Entries expire. An IPv6 client counts by its /64
  (one household or device picks freely inside it). :func:`source_key` is the same for every
  worker of an instance (keyed by the web key), for throttles held in the database.
* The client address and scheme come from the TCP peer, or from ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` only when the peer is one of the configured ``trusted_proxies``
  (never by default; uvicorn's own proxy-header handling is switched off).
* Every request body is counted as it streams in and refused with 413 past
  :data:`MAX_REQUEST_BYTES`, whether or not it declared a ``Content-Length``; a NUL character in
  the path or query is refused with 400 before any route sees it; a few write routes that each
  cost a ledger entry are rate-limited per source (:data:`POST_LIMITS`). Over https, responses
  carry ``Strict-Transport-Security`` (``hsts_max_age``).

The signing secret lives in ``<data dir>/keys/web.key`` (mode 0600), shared by every worker of
an instance; without an instance (tests) it is random per process.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import struct
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from safereport.errors import ConfigError, InvalidInput
from safereport.vault.recipes import instance_key, keyed_digest, mac, new_key

__all__ = [
    "CSP",
    "CSRF_FIELD",
    "CSRF_TTL_SECONDS",
    "MAX_REQUEST_BYTES",
    "POST_LIMITS",
    "SECURITY_HEADERS",
    "UPLOAD_LIMITS",
    "CsrfError",
    "CsrfFailure",
    "Lockout",
    "RateLimiter",
    "RequestTooLarge",
    "client_key",
    "csrf_token",
    "derived_key",
    "has_nul",
    "install_security",
    "require_csrf",
    "source_key",
    "verify_csrf",
    "web_secret",
]

#: The hidden form field that carries the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_TTL_SECONDS = 2 * 60 * 60

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        # her recorded answer, played to staff from our own play route (issue 18)
        "media-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    # Nothing to other sites; our own pages' POSTs then carry their real Origin, so that an
    # "Origin: null" (a sandboxed frame, a data: page) can be refused as cross-site.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "X-Robots-Tag": "noindex, nofollow",
}

_CACHE_HEADERS = {b"cache-control", b"pragma", b"expires"}
_WEB_KEY_FILE = "web.key"
_MAC_BYTES = 16
_ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class CsrfFailure(StrEnum):
    CROSS_SITE = "cross_site"
    INVALID = "invalid"
    MISSING = "missing"
    STALE = "stale"


class CsrfError(InvalidInput):
    """A form came back without a valid, fresh token (or from another site)."""

    def __init__(self, failure: CsrfFailure) -> None:
        super().__init__(f"the form could not be accepted ({failure.value}); please send it again")
        self.failure = failure


# -- the middleware -------------------------------------------------------------------------


class _SecurityHeaders:
    """Pure ASGI middleware: adds :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: _ASGIApp, hsts_max_age: int = 0) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        self._names = {name for name, _ in self._headers}
        # Only on https responses: over plain http the header means nothing (RFC 6797 8.1).
        self._hsts = ([(b"strict-transport-security",
                        f"max-age={hsts_max_age}; includeSubDomains".encode())]
                      if hsts_max_age > 0 else [])

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # The published log (C2SP tlog-tiles) chooses its own caching: full tiles never change.
        own_cache = str(scope.get("path", "")).startswith("/log/")
        microphone = scope.get("path", "") in MICROPHONE_PATHS

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k not in self._names]
                given = [(k, v) for k, v in message.get("headers", []) if k == b"cache-control"]
                headers = self._headers
                if any(k == b"content-security-policy" and v.startswith(b"sandbox")
                       for k, v in message.get("headers", [])):
                    # A download (web/evidence.py) asks for a sandbox on top of the policy.
                    headers = [(k, b"sandbox; " + v if k == b"content-security-policy" else v)
                               for k, v in headers]
                if own_cache and given:
                    headers = [*(h for h in headers if h[0] not in _CACHE_HEADERS), *given]
                if microphone:
                    headers = [(k, v.replace(b"microphone=()", b"microphone=(self)")
                                if k == b"permissions-policy" else v) for k, v in headers]
                message["headers"] = kept + headers
            await send(message)

        if scope.get("scheme") == "https" and self._hsts:
            await self.app(scope, receive, self._with(send_with_headers, self._hsts))
            return
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _with(send: Callable[[Any], Awaitable[None]],
              extra: list[tuple[bytes, bytes]]) -> Callable[[Any], Awaitable[None]]:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)
        return sending


#: Pages whose own script may ask for the microphone (her recorded answer on the report form,
#: issue 18); every other page keeps ``microphone=()``.
MICROPHONE_PATHS = frozenset({"/report", "/return/change"})

#: The largest request body any route accepts (the victim's report form is the largest, at
#: 128 KiB; staff forms are smaller). Counted while streaming, on every route.
MAX_REQUEST_BYTES = 192 * 1024


#: Routes that take files: (method, path as a regular expression) -> the largest body they
#: accept, as a function of the instance's settings. Registered by the router serving them
#: (``web/evidence.py``); every other route keeps :data:`MAX_REQUEST_BYTES`.
UPLOAD_LIMITS: dict[tuple[str, str], Callable[[Any], int]] = {}


class RequestTooLarge(HTTPException):
    """A body went past :data:`MAX_REQUEST_BYTES` while it was being read (HTTP 413)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="The request is too large.")


class _BodyLimit:
    """Counts the bytes of each request body as they arrive and stops at the limit.

    A ``Content-Length`` can be absent (chunked) or false, so the count is what matters: the
    ``receive`` the app reads from raises :class:`RequestTooLarge` (answered 413 by the app's
    handler) as soon as the total passes the limit, before the rest is read from the socket.
    """

    def __init__(self, app: _ASGIApp, max_bytes: int = MAX_REQUEST_BYTES,
                 owner: FastAPI | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.owner = owner

    def _limit(self, scope: MutableMapping[str, Any]) -> int:
        settings = getattr(getattr(getattr(self.owner, "state", None), "instance", None),
                           "settings", None)
        for (method, pattern), limit_of in UPLOAD_LIMITS.items():
            if (settings is not None and scope.get("method") == method
                    and re.fullmatch(pattern, scope.get("path", ""))):
                return max(self.max_bytes, limit_of(settings))
        return self.max_bytes

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False
        limit = self._limit(scope)

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise RequestTooLarge()
            return message

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except RequestTooLarge:
            if started:
                raise
            await _plain(send, 413, "The request is too large.", scope)


def has_nul(value: str | bytes) -> bool:
    """True if ``value`` holds a NUL character, raw or percent-encoded (``%00``)."""
    if isinstance(value, str):
        return "\x00" in value or "%00" in value
    return b"\x00" in value or b"%00" in value


class _RejectNul:
    """400 for a NUL character in the path or query: no id, username or reference holds one,
    and PostgreSQL refuses it in text (which would otherwise surface as a 500).

    ``app.state.on_malformed(scope)``, when set, is told first (the staff side records a
    refused case access in the ledger)."""

    def __init__(self, app: _ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or has_nul(scope.get("query_string", b""))
        ):
            hook = getattr(self.owner.state, "on_malformed", None)
            if hook is not None:
                await hook(scope)
            await _plain(send, 400, "A NUL character is never valid in an address.", scope)
            return
        await self.app(scope, receive, send)


#: Write routes that each cost a sealed note or a ledger entry: (method, path) -> at most
#: this many per source per window (seconds).
POST_LIMITS: dict[tuple[str, str], tuple[int, float]] = {
    ("POST", "/return/message"): (10, 600.0),
    ("POST", "/staff/asks"): (30, 3600.0),
}


class _PostLimits:
    """A rate limit per source on each route of :data:`POST_LIMITS` (429 past it)."""

    def __init__(self, app: _ASGIApp) -> None:
        self.app = app
        self._limiters = {route: RateLimiter(limit, window)
                          for route, (limit, window) in POST_LIMITS.items()}

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        limiter = self._limiters.get((scope.get("method", ""), scope.get("path", "")))
        if scope["type"] == "http" and limiter is not None:
            key = client_key(Request(scope), "post-limit " + scope["path"])
            if not limiter.hit(key):
                await _plain(send, 429, "Too many tries from here. "
                                        "Please wait a few minutes and try again.")
                return
        await self.app(scope, receive, send)


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The ``trusted_proxies`` setting: addresses or networks, separated by commas/spaces."""
    found = []
    for item in text.replace(",", " ").split():
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(f"trusted_proxies: {item!r} is not an address or network") from exc
    return tuple(found)


class _TrustedProxies:
    """The client address and scheme, from forwarding headers only of configured proxies.

    With no trusted proxies (the default) the TCP peer is the client, whatever headers say.
    From a trusted proxy, ``X-Forwarded-For`` is read from the right, skipping trusted hops;
    the first address that is not a trusted proxy is the client. ``X-Forwarded-Proto`` (its
    last value) gives the scheme.
    """

    def __init__(self, app: _ASGIApp, trusted: str = "") -> None:
        self.app = app
        self.trusted = _networks(trusted)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        client = scope.get("client")
        if scope["type"] in {"http", "websocket"} and client and self._is_trusted(client[0]):
            headers = dict(scope.get("headers", []))
            hops = [h.strip() for h in headers.get(b"x-forwarded-for", b"").decode(
                "latin-1").split(",") if h.strip()]
            for hop in reversed(hops):
                if not self._is_trusted(hop):
                    scope["client"] = (hop, 0)
                    break
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[-1]
            if proto.strip() in {"http", "https"}:
                scope["scheme"] = proto.strip()
        await self.app(scope, receive, send)


#: Codes of the early refusals for the JSON API (``web/api.py``), which answers only in JSON.
_API_CODES = {400: "invalid_request", 413: "too_large", 429: "rate_limited"}


async def _plain(send: Callable[[Any], Awaitable[None]], status: int, text: str,
                 scope: MutableMapping[str, Any] | None = None) -> None:
    body, kind = text.encode(), b"text/plain; charset=utf-8"
    if scope is not None and str(scope.get("path", "")).startswith("/api/"):
        body = json.dumps({"error": _API_CODES.get(status, "refused"), "message": text}).encode()
        kind = b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def install_security(app: FastAPI, *, secret: bytes | None = None) -> None:
    """Add the security middleware to ``app`` and make the signing secret available.

    From the outside in: trusted proxies (who the client is), the security headers (on every
    answer, the early refusals below included), NUL refusal, per-route POST limits, and the
    streaming body limit.
    """
    instance = getattr(app.state, "instance", None)
    settings = getattr(instance, "settings", None)
    if secret is None:
        keys_dir = getattr(settings, "keys_dir", None)
        secret = _load_or_create_secret(Path(keys_dir)) if keys_dir else new_key()
    app.state.web_secret = secret
    # add_middleware puts each new one outside the earlier ones.
    app.add_middleware(_BodyLimit, owner=app)
    app.add_middleware(_PostLimits)
    app.add_middleware(_RejectNul, owner=app)
    app.add_middleware(_SecurityHeaders, hsts_max_age=int(getattr(settings, "hsts_max_age", 0)))
    app.add_middleware(_TrustedProxies, trusted=str(getattr(settings, "trusted_proxies", "")))


def _load_or_create_secret(keys_dir: Path) -> bytes:
    """The web key (``keys/web.key``, 0600), made by the vault's one key-file writer if missing."""
    return instance_key(keys_dir / _WEB_KEY_FILE, "the web key")


def web_secret(request: Request) -> bytes:
    """The instance's signing secret (set by :func:`install_security`)."""
    secret = getattr(request.app.state, "web_secret", None)
    if not isinstance(secret, bytes):
        raise ConfigError("install_security(app) was not called")
    return secret


def derived_key(request: Request, label: str) -> bytes:
    """A key for one use (``label``), derived from the signing secret."""
    return mac(web_secret(request), b"safereport/" + label.encode())


# -- CSRF -----------------------------------------------------------------------------------


def _binding(request: Request) -> bytes:
    value = getattr(request.state, "csrf_binding", "")
    return str(value).encode()


def _csrf_mac(request: Request, issued: bytes, nonce: bytes) -> bytes:
    key = derived_key(request, "csrf")
    msg = _binding(request) + b"\0" + issued + nonce
    return mac(key, msg)[:_MAC_BYTES]


def csrf_token(request: Request, *, now: float | None = None) -> str:
    """A fresh token for one form (put it in a hidden ``csrf_token`` field)."""
    issued = struct.pack(">Q", int(time.time() if now is None else now))
    nonce = secrets.token_bytes(8)
    raw = issued + nonce + _csrf_mac(request, issued, nonce)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cross_site(request: Request) -> bool:
    # Browsers send Sec-Fetch-Site on every request; it is the most precise signal. Without
    # it (older browsers), Origin decides: our own pages' POSTs carry our origin (under
    # Referrer-Policy: same-origin), and "null" (a sandboxed frame, a data: URL, a redirect
    # chain through another site) is cross-site.
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in {"same-origin", "none"}
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") != host


def verify_csrf(request: Request, token: str | None, *, now: float | None = None) -> None:
    """Raise :class:`CsrfError` unless ``token`` is ours, fresh, and the POST is same-site."""
    if _cross_site(request):
        raise CsrfError(CsrfFailure.CROSS_SITE)
    if not token:
        raise CsrfError(CsrfFailure.MISSING)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as exc:
        raise CsrfError(CsrfFailure.INVALID) from exc
    if len(raw) != 8 + 8 + _MAC_BYTES:
        raise CsrfError(CsrfFailure.INVALID)
    issued, nonce, tag = raw[:8], raw[8:16], raw[16:]
    if not secrets.compare_digest(tag, _csrf_mac(request, issued, nonce)):
        raise CsrfError(CsrfFailure.INVALID)
    age = (time.time() if now is None else now) - struct.unpack(">Q", issued)[0]
    if not -60 <= age <= CSRF_TTL_SECONDS:
        raise CsrfError(CsrfFailure.STALE)


async def require_csrf(request: Request) -> None:
    """A FastAPI dependency for form POSTs: checks the ``csrf_token`` field.

    Starlette caches the parsed form, so the endpoint can read it again afterwards.
    """
    form = await request.form()
    value = form.get(CSRF_FIELD)
    verify_csrf(request, value if isinstance(value, str) else None)


# -- rate limits and lockouts ---------------------------------------------------------------

# Random per process and never written anywhere: the HMACs below cannot be linked to an
# address by anyone who reads memory dumps after a restart, or by anyone at all from logs.
_PROCESS_KEY = new_key()


def _source_address(request: Request) -> str:
    """The client's address; for IPv6 its /64, which one device or household holds whole."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_key(request: Request, scope: str) -> str:
    """An opaque key for "this client, for this purpose": never the address itself."""
    msg = scope.encode() + b"\0" + _source_address(request).encode()
    return keyed_digest(_PROCESS_KEY, msg)[:32]


def source_key(request: Request, scope: str) -> str:
    """Like :func:`client_key`, but the same in every worker of the instance (keyed by the
    web key), for counts held in the database. Still never the address itself."""
    msg = scope.encode() + b"\0" + _source_address(request).encode()
    return keyed_digest(derived_key(request, "source"), msg)[:32]


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a fixed window)."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one event; False when the key is over its limit."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._hits[key] = (start, count + 1)
            return count + 1 <= self.limit

    def count(self, key: str) -> int:
        """Events counted for ``key`` in its current window (without adding one)."""
        now = self._clock()
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
            return 0 if now - start >= self.window else count

    def _expire(self, now: float) -> None:
        if len(self._hits) < 1024:
            return
        for key in [k for k, (s, _) in self._hits.items() if now - s >= self.window]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


class Lockout:
    """After ``max_failures`` failures within ``window`` seconds a key is locked for ``lock``."""

    def __init__(
        self,
        max_failures: int,
        window: float,
        lock: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lock = lock
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._mutex = threading.Lock()

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may try now)."""
        now = self._clock()
        with self._mutex:
            until = self._locked_until.get(key, 0.0)
            if until <= now:
                self._locked_until.pop(key, None)
                return 0.0
            return until - now

    def failure(self, key: str) -> None:
        now = self._clock()
        with self._mutex:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lock
                recent = []
            self._failures[key] = recent
            self._expire(now)

    def success(self, key: str) -> None:
        with self._mutex:
            self._failures.pop(key, None)

    def _expire(self, now: float) -> None:
        if len(self._failures) < 1024:
            return
        for key in [k for k, ts in self._failures.items() if not ts or now - ts[-1] >= self.window]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
