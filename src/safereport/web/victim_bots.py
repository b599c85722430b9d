"""Keeping bots off the three public forms (report, codename, claim), with no third party.

Layers, in the order :func:`check` applies them to a POST (after its form token is checked):

1. **Per-source limit**, in the database so that it holds across workers and restarts: at most
   ``report_limit_per_hour`` reports, and ``form_limit_per_hour`` posts of the codename or the
   claim form, from one source in an hour. The source key is an
   HMAC of the address (:func:`~safereport.web.security.source_key`) salted with the day's
   random salt (:func:`safereport.services.public_forms.day_salt`), so no address is stored and
   a day's keys cannot be linked to anyone once its salt is gone. A source over its limit is
   refused (calmly, what she typed kept) and is **not** counted in the global count below, so a
   flood from one source cannot make the forms harder for everyone else.
2. **Global count**: every post of the three forms to this instance in the last hour. Past
   ``form_attack_per_hour`` the forms are "under attack": the proof-of-work gets harder and the
   path without JavaScript waits longer. Nobody is refused for the global count.
3. **Honeypot**: a field named ``website`` that people never meet (off-screen, ``aria-hidden``,
   ``tabindex=-1``, ``autocomplete=off``, labelled "Leave this empty"). Filled (a bot, or a
   browser's over-eager autofill), a report is **kept in quarantine** (:data:`Stop.CAUGHT`:
   stored and sealed, out of the case list, for a caseworker to release or confirm; see
   :mod:`safereport.services.quarantine`) and she gets her card as usual; a codename or claim
   code is answered "not found" (nothing of hers is at stake there). Each is counted
   (:func:`~safereport.services.public_forms.record_caught`).
4. **Proof-of-work or wait**. With JavaScript, ``/static/pow.js`` fetches an ALTCHA challenge
   from ``GET /forms/challenge`` (signed with a key derived from the web key, valid two hours),
   solves it, and puts the solution in the hidden ``altcha`` field; the server verifies it
   with the ``altcha`` package and spends it in the database (one use per challenge). Without
   a valid, unspent solution (no JavaScript, a replay, a wrong number) the form must have been
   open for ``form_wait_seconds`` (``form_attack_wait_seconds`` under attack), measured from
   the signed issue time of its form token; earlier, she is asked to wait a few seconds and
   press the button again, with what she typed kept. A report that waited long enough but
   carried a solution already spent (a solved challenge reused) is kept in quarantine
   (:data:`Stop.SUSPECT`), never dropped.

The challenge endpoint has its own per-source limit (``form_challenge_limit_per_hour``,
default 120 an hour, in the database like the others): past it, ``GET /forms/challenge``
answers 429 with ``Retry-After``, and the script then lets the form go without a solution, so
she meets the calm wait of layer 4 rather than an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from altcha import v1 as altcha_v1
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from safereport.services import public_forms
from safereport.vault.recipes import keyed_digest
from safereport.web.security import CSRF_FIELD, CSRF_TTL_SECONDS, derived_key, source_key

__all__ = [
    "HONEYPOT_FIELD",
    "POW_FIELD",
    "FormGuardSettings",
    "Stop",
    "Verdict",
    "check",
    "form_guard_settings",
    "message",
    "router",
]

#: The field people never meet; bots that fill every field fill it.
HONEYPOT_FIELD = "website"
#: The hidden field the script fills with the proof-of-work solution.
POW_FIELD = "altcha"
FORMS = ("report", "return", "claim")
_HOUR = timedelta(hours=1)

router = APIRouter(include_in_schema=False)

@dataclass(frozen=True)
class FormGuardSettings:
    """The knobs, from the settings (README's configuration table)."""

    limit_per_hour: int = 60
    report_limit_per_hour: int = 30
    attack_per_hour: int = 60
    wait_seconds: int = 0
    attack_wait_seconds: int = 20
    pow_max_number: int = 20_000
    attack_pow_max_number: int = 500_000
    challenge_limit_per_hour: int = 120


_SETTING_NAMES = {
    "limit_per_hour": "form_limit_per_hour",
    "report_limit_per_hour": "report_limit_per_hour",
    "attack_per_hour": "form_attack_per_hour",
    "wait_seconds": "form_wait_seconds",
    "attack_wait_seconds": "form_attack_wait_seconds",
    "pow_max_number": "form_pow_max_number",
    "attack_pow_max_number": "form_attack_pow_max_number",
    "challenge_limit_per_hour": "form_challenge_limit_per_hour",
}


def form_guard_settings(request: Request) -> FormGuardSettings:
    instance = getattr(request.app.state, "instance", None)
    settings = getattr(instance, "settings", None)
    if settings is None:
        return FormGuardSettings()
    return FormGuardSettings(**{attribute: int(getattr(settings, name))
                                for attribute, name in _SETTING_NAMES.items()})


class Stop(StrEnum):
    CAUGHT = "caught"  # the honeypot was filled: a report is kept in quarantine
    SUSPECT = "suspect"  # a report with a reused solution (and no wait owed): quarantine
    LIMITED = "limited"  # this source sent too many
    WAIT = "wait"  # no proof-of-work and the form was sent too soon


@dataclass(frozen=True)
class Verdict:
    stop: Stop | None = None
    #: LIMITED: minutes until the source may send again; WAIT: seconds still to wait.
    amount: int = 0


PASS = Verdict()


def _engine(request: Request) -> Any:
    instance = getattr(request.app.state, "instance", None)
    return getattr(instance, "engine", None)


def _everyone(request: Request) -> str:
    """The global counter's key: one per instance (its workers share the web key)."""
    return "all/" + derived_key(request, "public-forms all").hex()[:32]


def _source(request: Request, engine: Any, form_name: str) -> str:
    salt = public_forms.day_salt(engine)
    inner = source_key(request, "public-form " + form_name)
    return "source/" + keyed_digest(salt, inner.encode())[:40]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def under_attack(request: Request, settings: FormGuardSettings | None = None) -> bool:
    """True while the three forms together had more posts this hour than the setting allows."""
    engine = _engine(request)
    if engine is None:
        return False
    settings = settings or form_guard_settings(request)
    count, _ends = public_forms.peek(engine, _everyone(request), _HOUR)
    return count > settings.attack_per_hour


def check(request: Request, form: FormData, form_name: str) -> Verdict:
    """The layers above, for a POST of ``form_name`` whose form token is already verified."""
    settings = form_guard_settings(request)
    engine = _engine(request)
    attack = False
    if engine is not None:
        source = _source(request, engine, form_name)
        limit = settings.report_limit_per_hour if form_name == "report" else settings.limit_per_hour
        if public_forms.hit(engine, source, _HOUR) > limit:
            public_forms.record_caught(engine, f"limited/{form_name}")
            _count, ends = public_forms.peek(engine, source, _HOUR)
            minutes = max(1, math.ceil((ends - datetime.now(UTC)).total_seconds() / 60))
            return Verdict(Stop.LIMITED, minutes)
        attack = public_forms.hit(engine, _everyone(request), _HOUR) > settings.attack_per_hour
    if _text(form, HONEYPOT_FIELD):
        if engine is not None:
            public_forms.record_caught(engine, f"honeypot/{form_name}")
        return Verdict(Stop.CAUGHT)
    solution = _pow_state(request, engine, _text(form, POW_FIELD)) if engine is not None else ""
    if solution == _FRESH:
        return PASS
    wait = settings.attack_wait_seconds if attack else settings.wait_seconds
    issued = _token_issued_at(_text(form, CSRF_FIELD))
    now = request.app.state.clock.now().timestamp()  # the app's Clock (tests move theirs)
    early = wait - (now - issued) if issued is not None else wait
    if early > 0:
        if engine is not None:
            public_forms.record_caught(engine, f"wait/{form_name}")
        return Verdict(Stop.WAIT, max(1, math.ceil(early)))
    if solution == _SPENT and form_name == "report":
        public_forms.record_caught(engine, f"reused/{form_name}")
        return Verdict(Stop.SUSPECT)
    return PASS


def _token_issued_at(token: str) -> float | None:
    """The signed issue time of a (verified) form token: its first eight bytes."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(raw) < 8:
        return None
    return float(struct.unpack(">Q", raw[:8])[0])


# -- proof-of-work --------------------------------------------------------------------------

def _hmac_key(request: Request) -> str:
    return derived_key(request, "altcha").hex()


_FRESH = "fresh"  # a valid solution, spent now
_SPENT = "spent"  # a valid solution already spent by an earlier form (a replay)


def _pow_state(request: Request, engine: Any, payload: str) -> str:
    """``_FRESH`` for a solution to one of our challenges, unexpired, spent now (only the
    first time); ``_SPENT`` for such a solution used before; "" for anything else."""
    if not payload or len(payload) > 2000:
        return ""
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
        if not isinstance(data, dict) or data.get("algorithm") != "SHA-256":
            return ""
        if not isinstance(data.get("number"), int) or "expires=" not in str(data.get("salt")):
            return ""
        ok, _error = altcha_v1.verify_solution(payload, _hmac_key(request), check_expires=True)
    except (ValueError, TypeError, binascii.Error):
        return ""
    if not ok:
        return ""
    spent = hashlib.sha256(str(data["signature"]).encode()).hexdigest()
    until = datetime.now(UTC) + timedelta(seconds=CSRF_TTL_SECONDS)
    return _FRESH if public_forms.spend(engine, spent, until) else _SPENT


@router.get("/forms/challenge")
def challenge(request: Request) -> JSONResponse:
    """An ALTCHA challenge (v1: SHA-256, salt with expiry, HMAC signature), harder under attack.

    At most ``form_challenge_limit_per_hour`` from one source (held in the database); past it,
    429 with ``Retry-After`` (the script then leaves the form to the server's wait).
    """
    settings = form_guard_settings(request)
    engine = _engine(request)
    if engine is not None:
        source = _source(request, engine, "challenge")
        if public_forms.hit(engine, source, _HOUR) > settings.challenge_limit_per_hour:
            public_forms.record_caught(engine, "limited/challenge")
            _count, ends = public_forms.peek(engine, source, _HOUR)
            seconds = max(1, math.ceil((ends - datetime.now(UTC)).total_seconds()))
            return JSONResponse({"error": "too many challenges from this connection",
                                 "retry_after": seconds}, status_code=429,
                                headers={"Retry-After": str(seconds), "Cache-Control": "no-store"})
    hardest = (settings.attack_pow_max_number if under_attack(request, settings)
               else settings.pow_max_number)
    made = altcha_v1.create_challenge(altcha_v1.ChallengeOptions(
        algorithm="SHA-256", max_number=max(1, hardest), hmac_key=_hmac_key(request),
        expires=datetime.now(UTC) + timedelta(seconds=CSRF_TTL_SECONDS),
    ))
    body = made.to_dict()
    body["maxnumber"] = made.max_number  # the widget's own spelling
    return JSONResponse(body)


# -- what she is told -----------------------------------------------------------------------

def message(lang: str, verdict: Verdict) -> str:
    """A calm sentence in her language for a LIMITED or WAIT verdict."""
    from safereport.web.i18n import translations

    catalog = translations(lang)
    if verdict.stop is Stop.LIMITED:
        text = catalog.ngettext(
            "Many forms have been sent from this connection in the last hour. Please try "
            "again in %(num)d minute, or call the National Domestic Abuse Helpline on "
            "0808 2000 247 (free, 24 hours).",
            "Many forms have been sent from this connection in the last hour. Please try "
            "again in %(num)d minutes, or call the National Domestic Abuse Helpline on "
            "0808 2000 247 (free, 24 hours).",
            verdict.amount)
    else:
        text = catalog.ngettext(
            "To keep out automated messages, this form needs a little time before it is "
            "sent. Please wait %(num)d second, then press the button again.",
            "To keep out automated messages, this form needs a little time before it is "
            "sent. Please wait %(num)d seconds, then press the button again.",
            verdict.amount)
    return str(text) % {"num": verdict.amount}
