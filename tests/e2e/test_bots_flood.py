"""Issue 19's flood on 127.0.0.1, bounded: about 300 scripted bot submissions against a real
served instance (uvicorn on 127.0.0.1, behind a "proxy" that is 127.0.0.1 itself, so that each
bot and each person has an address of her own in ``X-Forwarded-For``), interleaved with 10 real
reports through the real pages in several languages: 7 scripted as a browser would send them
(with JavaScript: the challenge solved as /static/pow.js does; without: asked to wait, she
waits and presses the button again) and 3 in Chromium, with and without JavaScript.

Bots, of every kind: plain POSTs with no form token, one token replayed, the honeypot filled,
one solved challenge reused after its first use, fresh forms sent at once (scripted against
this site: told to check their answers, they send them), and one address sending many.

Afterwards: every real report is stored and in the caseworker's case list (the service and
the page in Chromium), none in quarantine; every bot was refused, is held in quarantine, or
(a bounded few: those sent before the forms counted as under attack) is in the case list.
The counts are printed (``-s``). The time is bounded by the counts and the settings (a wait of
3 s under attack), not asserted. The browser and this process reach only 127.0.0.1
(tests/e2e/only_here.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import func, select
from tests.e2e.only_here import only_here  # noqa: F401  (the fixture, by name below)
from tests.e2e.test_staff_pages import sign_in
from tests.support.staff_world import StaffWorld
from tests.web.victim.test_bots import _solve  # a solution found as /static/pow.js finds it

from safereport.domain.spam_corpus import corpus
from safereport.services import casework, quarantine
from safereport.store.core import cases
from safereport.store.quarantine import quarantine as held_table
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("only_here")]

Serve = Callable[[Any], str]
BOTS = 300
ATTACK_PER_HOUR = 60
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_REFERENCE = re.compile(r"SR-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}")
_KINDS = ("no token", "replayed token", "honeypot", "reused challenge", "fresh form at once",
          "one address")
_LANGS = ("en", "ar", "pl", "es", "pt", "ro", "tr")
#: Chromium people: (language, JavaScript on).
_IN_CHROMIUM = (("ar", True), ("es", False), ("pl", True))


def _client(base: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=60,
                        headers={"X-Forwarded-For": address})


def _token(client: httpx.Client, lang: str = "en") -> str:
    found = _TOKEN.search(client.get(f"/report?lang={lang}").text)
    assert found is not None
    return found.group(1)


def _form(narrative: str, lang: str) -> dict[str, str]:
    return {"mode": "anonymous", "crime_type": "domestic_abuse", "narrative": narrative,
            "lang": lang}


def _through_check(client: httpx.Client, answer: httpx.Response, lang: str) -> httpx.Response:
    """From "Check your answers" (issue 18), send what was kept there."""
    if answer.status_code != 303 or "/return/check" not in answer.headers.get("location", ""):
        return answer
    found = _TOKEN.search(client.get(f"/return/check?lang={lang}").text)
    assert found is not None
    return client.post("/return/check", data={"csrf_token": found.group(1), "lang": lang})


def _card(client: httpx.Client, answer: httpx.Response) -> str:
    """Her reference, from the card she is shown; "" if the answer is not the card."""
    if answer.status_code != 303 or not answer.headers["location"].startswith("/return/new"):
        return ""
    found = _REFERENCE.search(client.get(answer.headers["location"]).text)
    return found.group(0) if found else ""


class _Flood:
    def __init__(self, base: str) -> None:
        self.base = base
        self.spam = [s.text for s in corpus(3, 40, languages=_LANGS) if s.spam]
        self.answers: Counter[tuple[str, int]] = Counter()
        self.bot_cards: list[str] = []
        self.replayed = ""
        self.reused = ""
        self.errors: list[str] = []

    def bot(self, n: int) -> None:
        kind = _KINDS[n % len(_KINDS)]
        address = "203.0.113.9" if kind == "one address" else f"10.7.{n // 250}.{n % 250 + 1}"
        with _client(self.base, address) as client:
            data = _form(f"{self.spam[n % len(self.spam)]} #{n}", "en")
            if kind == "no token":
                answer = client.post("/report", data=data)
            elif kind == "replayed token":
                answer = client.post("/report", data={**data, "csrf_token": self.replayed})
            elif kind == "honeypot":
                answer = client.post("/report", data={**data, "csrf_token": _token(client),
                                                      "website": "http://watches.example"})
            elif kind == "reused challenge":
                answer = client.post("/report", data={**data, "csrf_token": _token(client),
                                                      "altcha": self.reused})
            else:
                answer = client.post("/report", data={**data, "csrf_token": _token(client)})
            answer = _through_check(client, answer, "en")
            reference = _card(client, answer)
            if reference:
                self.bot_cards.append(reference)
            self.answers[(kind, 303 if reference else answer.status_code)] += 1

    def run_bots(self) -> None:
        try:
            for n in range(BOTS):
                self.bot(n)
        except Exception as exc:  # reported by the test, not lost in a thread
            self.errors.append(f"bot: {exc!r}")

    def person(self, n: int, javascript: bool, done: list[str]) -> None:
        lang = _LANGS[n % len(_LANGS)]
        try:
            with _client(self.base, f"192.0.2.{n + 1}") as client:
                said = next(s.text for s in corpus(4, 6, languages=(lang,)) if not s.spam)
                data = _form(f"{said} ({n})", lang)
                token = _token(client, lang)
                extra = {"altcha": _solve(client)} if javascript else {}
                for _ in range(6):
                    answer = client.post("/report", data={**data, **extra, "csrf_token": token})
                    reference = _card(client, _through_check(client, answer, lang))
                    if reference:
                        done.append(reference)
                        return
                    assert answer.status_code == 429, answer.status_code  # asked to wait
                    assert f"({n})" in answer.text  # what she typed is kept
                    found = _TOKEN.search(answer.text)
                    assert found is not None
                    token = found.group(1)
                    time.sleep(4)  # the wait under attack is 3 s: she waits, presses again
                self.errors.append(f"person {n} ({lang}) never got through")
        except Exception as exc:
            self.errors.append(f"person {n} ({lang}): {exc!r}")


def _in_chromium(browser: Any, base: str, lang: str, javascript: bool, n: int) -> str:
    context = browser.new_context(java_script_enabled=javascript,
                                  extra_http_headers={"X-Forwarded-For": f"198.51.100.{n}"})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        said = next(s.text for s in corpus(5, 6, languages=(lang,)) if not s.spam)
        page.goto(f"{base}/report?lang={lang}")
        page.locator("#mode-anonymous").check()
        page.locator("#crime-domestic_abuse").check()
        page.locator("#f-narrative").fill(said)
        for _ in range(6):
            page.locator("form button[type=submit]").click()
            try:
                page.wait_for_url("**/return/check**", timeout=30_000 if javascript else 3_000)
                break
            except PlaywrightTimeout:
                # asked to wait (3 s under attack), what she typed kept: she waits, presses again
                assert page.locator("#f-narrative").input_value() == said
                page.wait_for_timeout(4000)
        page.wait_for_url("**/return/check**")
        page.locator("form[action='/return/check'] button[type=submit]").click()
        page.wait_for_url("**/return/new**")
        found = _REFERENCE.search(page.inner_text("body"))
        assert found is not None
        return found.group(0)
    finally:
        context.close()


def test_a_bounded_flood_keeps_every_real_report_in_the_case_list(
    staff_world: StaffWorld, live_server: Serve, browser: Any, page: Any,
) -> None:
    world = staff_world
    world.instance.settings = replace(
        world.instance.settings, trusted_proxies="127.0.0.1",
        form_attack_per_hour=ATTACK_PER_HOUR, form_attack_wait_seconds=3,
        form_attack_pow_max_number=100_000, report_limit_per_hour=30)
    base = live_server(create_app(world.instance))
    flood = _Flood(base)
    with _client(base, "10.250.0.1") as first:
        flood.replayed = _token(first)
        flood.reused = _solve(first)
        # its first use, by a bot, spends it; every later use is a reuse
        spent = first.post("/report", data={**_form(flood.spam[0], "en"), "altcha": flood.reused,
                                            "csrf_token": _token(first)})
        reference = _card(first, _through_check(first, spent, "en"))
        assert reference
        flood.bot_cards.append(reference)
    started = time.monotonic()
    bots = threading.Thread(target=flood.run_bots)
    bots.start()
    done: list[str] = []
    people = []
    for n in range(len(_LANGS)):
        person = threading.Thread(target=flood.person, args=(n, n % 2 == 0, done))
        person.start()
        people.append(person)
        time.sleep(0.5)  # spread among the bots
    for n, (lang, javascript) in enumerate(_IN_CHROMIUM, 1):
        done.append(_in_chromium(browser, base, lang, javascript, n))
    for person in people:
        person.join(timeout=120)
    bots.join(timeout=180)
    took = time.monotonic() - started
    assert flood.errors == []
    assert not bots.is_alive() and not any(p.is_alive() for p in people)

    real = set(done)
    assert len(real) == len(_LANGS) + len(_IN_CHROMIUM) == 10
    listed = {c.reference for c in casework.list_cases(world.instance, world.users["cw"],
                                                       limit=10_000)}
    held, _total = quarantine.list_held(world.instance, world.users["cw"], limit=10_000)
    held_refs = {h.reference for h in held}
    assert real <= listed, real - listed
    assert not real & held_refs
    bots_listed = listed - real
    bots_held = held_refs - real
    # A bot answered with a card is held or listed; nothing of a bot reaches the case list
    # without one; a replayed form is answered with the closed page, its report (if whole)
    # kept in quarantine; every other answer is a refusal.
    cards = set(flood.bot_cards)
    assert len(cards) == len(flood.bot_cards) and cards <= bots_listed | bots_held
    assert bots_listed <= cards
    quiet = sum(n for (_kind, status), n in flood.answers.items() if status == 200)
    assert len(bots_held - cards) <= quiet
    refused = sum(n for (_kind, status), n in flood.answers.items() if status not in {200, 303})
    assert refused + quiet + len(cards) == BOTS + 1
    assert len(bots_listed) <= ATTACK_PER_HOUR
    assert bots_held, "the honeypot and the reused challenge reach the quarantine"
    with world.instance.engine.connect() as conn:
        stored = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
        reasons = Counter(str(r) for r in conn.execute(
            select(held_table.c.reason).where(held_table.c.outcome == "")).scalars())
    assert stored == len(real) + len(bots_listed) + len(bots_held)

    # The caseworker sees each real report in her case list, none in the quarantine.
    sign_in(page, base, world, "cw")
    page.goto(f"{base}/staff/cases")
    shown = set(_REFERENCE.findall(page.inner_text("main")))
    assert real <= shown, real - shown
    page.goto(f"{base}/staff/quarantine")
    in_quarantine = set(_REFERENCE.findall(page.inner_text("main")))
    assert in_quarantine and not in_quarantine & real

    print(f"\nflood on 127.0.0.1: {BOTS + 1} bot submissions, {len(real)} real reports "
          f"({sum(1 for _l, js in _IN_CHROMIUM if js) + (len(_LANGS) + 1) // 2} with "
          f"JavaScript, {len(_IN_CHROMIUM)} in Chromium) in {took:.1f} s")
    for kind in _KINDS:
        answers = sorted((status, n) for (k, status), n in flood.answers.items() if k == kind)
        print(f"  {kind:20} answers {dict(answers)}")
    print(f"  bots refused: {refused}; answered with the closed page: {quiet}; "
          f"in quarantine: {len(bots_held)} {dict(reasons)}; in the case list: "
          f"{len(bots_listed)}; real reports in the case list: {len(real & listed)}, "
          f"in quarantine: {len(real & held_refs)}")
