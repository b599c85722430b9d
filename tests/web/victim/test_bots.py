"""Issue 19: the public forms keep bots out with no third party, and never lose a real report.

Over HTTP, on SQLite and PostgreSQL: the honeypot (filled: not kept, counted, answered as
usual), per-source limits held in the database (two app instances on one database, and a
restart), the global count that raises the price under attack but refuses no one, the
ALTCHA proof-of-work (verified, one use, wrong answers refused) and the wait without JavaScript.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from altcha import v1 as altcha_v1
from sqlalchemy import func, select
from starlette.requests import Request
from tests.support.victim_client import TestClient
from tests.support.victim_world import World, make_world

from safereport.services import public_forms
from safereport.services.clock import FakeClock
from safereport.services.instance import Instance
from safereport.store.core import cases
from safereport.store.db import make_engine
from safereport.store.public_forms import public_form_counters, public_form_salts
from safereport.store.quarantine import quarantine
from safereport.web import victim_bots
from safereport.web.app import create_app

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_NARRATIVE = "Synthetic: he shouts and takes my phone. SENTINEL-7731"


def _world(tmp_path: Path, db_url: str, **extra: int) -> World:
    return make_world(tmp_path, db_url, settings=dict(extra))


def _set(world: World, **settings: int) -> None:
    world.instance.settings = replace(world.instance.settings, **settings)


@pytest.fixture
def closing() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def _later(seconds: int) -> FakeClock:
    """The app's clock, ``seconds`` from now (the test moves the time, it never sleeps)."""
    return FakeClock(datetime.now(UTC) + timedelta(seconds=seconds))


def _client(app_instance: Instance, address: str, stack: ExitStack) -> TestClient:
    return stack.enter_context(TestClient(create_app(app_instance), client=(address, 40000)))


def _keep(stack: ExitStack, instance: Instance) -> Instance:
    stack.callback(instance.close)
    return instance


def _starlette_request(client: TestClient) -> Request:
    """A request on ``client``'s app, for the helpers that derive keys from its web key."""
    return Request({"type": "http", "app": client.app, "headers": [], "method": "GET",
                    "path": "/", "query_string": b"", "client": ("198.51.100.1", 1)})


def _token(client: TestClient, path: str = "/report") -> str:
    match = _TOKEN.search(client.get(path).text)
    assert match is not None
    return match.group(1)


def _report(client: TestClient, **fields: Any) -> Any:
    data = {"csrf_token": _token(client), "mode": "anonymous", "crime_type": "domestic_abuse",
            "narrative": _NARRATIVE, **fields}
    return client.post("/report", data=data, follow_redirects=False)


def _send_checked(client: TestClient, answer: Any) -> Any:
    """Past the bot defences a report waits on "Check your answers" (issue 18): send it."""
    assert answer.status_code == 303 and answer.headers["location"] == "/return/check"
    token = _TOKEN.search(client.get("/return/check").text)
    assert token is not None
    return client.post("/return/check", data={"csrf_token": token.group(1)},
                       follow_redirects=False)


def _case_count(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _counter_rows(world: World) -> list[tuple[str, int]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(public_form_counters.c.key,
                                   public_form_counters.c.count)).all()
    return [(str(r[0]), int(r[1])) for r in rows]


def _solve(client: TestClient) -> str:
    found = client.get("/forms/challenge").json()
    solution = altcha_v1.solve_challenge(found["challenge"], found["salt"], "SHA-256",
                                         found["maxnumber"], 0)
    assert solution is not None
    return base64.b64encode(json.dumps({
        "algorithm": found["algorithm"], "challenge": found["challenge"],
        "number": solution.number, "salt": found["salt"], "signature": found["signature"],
    }).encode()).decode()


# -- the honeypot ---------------------------------------------------------------------------

def test_the_honeypot_is_out_of_reach_on_each_form(sqlite_world: World) -> None:
    with TestClient(create_app(sqlite_world.instance)) as client:
        for path in ("/report", "/return", "/claim"):
            page = client.get(path).text
            block = re.search(r'<div class="hp" aria-hidden="true">(.*?)</div>', page, re.S)
            assert block is not None, path
            field = re.search(r"<input[^>]*name=\"website\"[^>]*>", block.group(1))
            assert field is not None
            assert 'tabindex="-1"' in field.group(0) and 'autocomplete="off"' in field.group(0)
            assert 'name="altcha"' in page and '<script src="/static/pow.js"' in page
        css = client.get("/static/site.css").text
        assert re.search(r"\.hp \{ position: absolute; inset-inline-start: -10000px;", css)


def _held(world: World) -> list[str]:
    with world.instance.engine.connect() as conn:
        return [str(r) for r in conn.execute(select(quarantine.c.reason)
                                             .order_by(quarantine.c.held_at)).scalars()]


def test_a_filled_honeypot_is_kept_in_quarantine_and_says_nothing(
    db_url: str, tmp_path: Path, closing: ExitStack
) -> None:
    world = _world(tmp_path, db_url)
    _keep(closing, world.instance)
    client = _client(world.instance, "198.51.100.7", closing)
    before = _case_count(world)
    caught = _report(client, website="http://spam.example")
    # The same answer as a sent report (a redirect to the card page, a session cookie) ...
    assert caught.status_code == 303 and caught.headers["location"] == "/return/new"
    assert "set-cookie" in caught.headers
    # ... and it is kept (never dropped: autofill may fill a field she never met), but held
    # in quarantine, out of the case list; the card is hers (its reference, nothing typed).
    assert _case_count(world) == before + 1 and _held(world) == ["honeypot"]
    card = client.get("/return/new").text
    assert "Your report has been sent" in card and _NARRATIVE not in card
    # Counted, with nothing of what was typed and no address.
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert public_forms.caught_counts(world.instance.engine, today) == {"honeypot/report": 1}
    stored = repr(_counter_rows(world))
    assert "SENTINEL" not in stored and "198.51.100" not in stored and "spam" not in stored


def test_a_filled_honeypot_on_the_codename_and_claim_forms_opens_nothing(
    sqlite_world: World, closing: ExitStack
) -> None:
    client = _client(sqlite_world.instance, "198.51.100.8", closing)
    _send_checked(client, client.post("/report", data={
        "csrf_token": _token(client), "mode": "codename", "crime_type": "other",
        "narrative": _NARRATIVE}, follow_redirects=False))
    card = client.get("/return/new")
    codename = " ".join(re.findall(r"<span>([^<]+)</span>", re.search(
        r'<p class="codename"[^>]*>(.*?)</p>', card.text, re.S).group(1)))  # type: ignore[union-attr]
    data = {"csrf_token": _token(client, "/return"), "codename": codename, "website": "x"}
    refused = client.post("/return", data=data, follow_redirects=False)
    assert refused.status_code == 400 and "could not find a report" in refused.text
    opened = client.post("/return", data={**data, "website": "",
                                          "csrf_token": _token(client, "/return")},
                         follow_redirects=False)
    assert opened.status_code == 303  # the right codename, honeypot empty: her page
    claim = client.post("/claim", data={"csrf_token": _token(client, "/claim"),
                                        "claim_code": "ABCD-EFGH-JKMN-PQRS", "website": "x"})
    assert claim.status_code == 400 and "not valid" in claim.text
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    counts = public_forms.caught_counts(sqlite_world.instance.engine, today)
    assert counts == {"honeypot/return": 1, "honeypot/claim": 1}


# -- rate limits in the database ------------------------------------------------------------

def test_limits_hold_across_two_app_instances_and_a_restart(
    db_url: str, tmp_path: Path, closing: ExitStack
) -> None:
    world = _world(tmp_path, db_url, report_limit_per_hour=3)
    _keep(closing, world.instance)
    # A second worker: its own engine, the same database and data folder (the same web key).
    other = Instance(settings=world.instance.settings,
                     engine=make_engine(world.instance.settings.effective_database_url()))
    _keep(closing, other)
    first = _client(world.instance, "203.0.113.5", closing)
    second = _client(other, "203.0.113.5", closing)
    answers = [_report(c).status_code for c in (first, second, first, second)]
    assert answers == [303, 303, 303, 429]
    refused = _report(first, occurred="last week")
    assert refused.status_code == 429
    assert "Many forms have been sent from this connection" in refused.text
    assert "0808 2000 247" in refused.text
    assert _NARRATIVE in refused.text and "last week" in refused.text  # what she typed is kept
    # Someone else, on either worker, is not held up by that flood.
    assert _report(_client(other, "203.0.113.99", closing)).status_code == 303
    # A restart (a new app, a new engine) remembers.
    restarted = Instance(settings=world.instance.settings,
                         engine=make_engine(world.instance.settings.effective_database_url()))
    _keep(closing, restarted)
    assert _report(_client(restarted, "203.0.113.5", closing)).status_code == 429
    # No address in the table, only keyed hashes.
    assert "203.0.113" not in repr(_counter_rows(world))


def test_a_flood_from_one_source_does_not_make_it_harder_for_everyone(
    sqlite_world: World, closing: ExitStack
) -> None:
    _set(sqlite_world, form_limit_per_hour=2, form_attack_per_hour=3,
         form_attack_wait_seconds=60)
    flood = _client(sqlite_world.instance, "192.0.2.1", closing)
    for _ in range(20):
        flood.post("/claim", data={"csrf_token": _token(flood, "/claim"),
                                   "claim_code": "ABCD-EFGH-JKMN-PQRS"})
    # 2 counted from the flood; the other 18 were refused at the door and not counted.
    assert not victim_bots.under_attack(_starlette_request(flood))
    her = _client(sqlite_world.instance, "192.0.2.50", closing)
    assert _report(her).status_code == 303  # no wait asked of her


def test_under_attack_the_price_rises_for_everyone_but_no_one_is_refused(
    sqlite_world: World, closing: ExitStack
) -> None:
    _set(sqlite_world, form_attack_per_hour=3, form_attack_wait_seconds=30,
         form_pow_max_number=1000, form_attack_pow_max_number=200000)
    calm = _client(sqlite_world.instance, "192.0.2.10", closing)
    assert calm.get("/forms/challenge").json()["maxnumber"] == 1000
    for n in range(3):
        assert _report(_client(sqlite_world.instance, f"192.0.2.{20 + n}", closing)
                       ).status_code == 303
    late = _client(sqlite_world.instance, "192.0.2.30", closing)
    asked = _report(late, location="in the kitchen")
    assert asked.status_code == 429
    assert re.search(r"Please wait (29|30) seconds, then press the button again", asked.text)
    assert _NARRATIVE in asked.text and "in the kitchen" in asked.text
    assert late.get("/forms/challenge").json()["maxnumber"] == 200000
    # With JavaScript the harder proof-of-work is the way through, at once.
    _set(sqlite_world, form_attack_pow_max_number=3000)
    solved = _report(late, altcha=_solve(late))
    assert solved.status_code == 303


# -- proof-of-work and the wait ---------------------------------------------------------------

def test_proof_of_work_is_verified_used_once_and_wrong_answers_refused(
    db_url: str, tmp_path: Path, closing: ExitStack
) -> None:
    world = _world(tmp_path, db_url, form_wait_seconds=60, form_pow_max_number=2000)
    _keep(closing, world.instance)
    client = _client(world.instance, "198.51.100.20", closing)
    before = _case_count(world)
    # No proof and sent at once: asked to wait, what she typed kept.
    bare = _report(client)
    assert bare.status_code == 429 and re.search(r"Please wait (59|60) seconds", bare.text)
    assert _NARRATIVE in bare.text
    payload = _solve(client)
    assert _send_checked(client, _report(client, altcha=payload)).status_code == 303
    # The same solution again (a replay, even from another worker): no proof.
    other = Instance(settings=world.instance.settings,
                     engine=make_engine(world.instance.settings.effective_database_url()))
    _keep(closing, other)
    assert _report(_client(other, "198.51.100.21", closing), altcha=payload).status_code == 429
    # A wrong number, a forged signature, a wrong algorithm, garbage: no proof.
    decoded = json.loads(base64.b64decode(_solve(client)))
    wrong = [
        {**decoded, "number": decoded["number"] + 1},
        {**decoded, "signature": "0" * 64},
        {**decoded, "algorithm": "SHA-1"},
    ]
    for bad in wrong:
        encoded = base64.b64encode(json.dumps(bad).encode()).decode()
        assert _report(client, altcha=encoded).status_code == 429
    assert _report(client, altcha="not base64 at all!").status_code == 429
    assert _case_count(world) == before + 1
    # The untouched solution still works once (the refused tries did not spend it).
    assert _report(client, altcha=base64.b64encode(json.dumps(decoded).encode()).decode()
                   ).status_code == 303


def test_an_expired_challenge_is_no_proof(sqlite_world: World, closing: ExitStack) -> None:
    _set(sqlite_world, form_wait_seconds=60)
    client = _client(sqlite_world.instance, "198.51.100.30", closing)
    key = victim_bots._hmac_key(_starlette_request(client))
    old = altcha_v1.create_challenge(altcha_v1.ChallengeOptions(
        algorithm="SHA-256", max_number=10, hmac_key=key, number=3,
        expires=datetime.now(UTC) - timedelta(minutes=1)))
    payload = base64.b64encode(json.dumps({
        "algorithm": "SHA-256", "challenge": old.challenge, "number": 3, "salt": old.salt,
        "signature": old.signature}).encode()).decode()
    assert _report(client, altcha=payload).status_code == 429


def test_without_javascript_the_form_only_has_to_be_open_a_moment(
    sqlite_world: World, closing: ExitStack,
) -> None:
    _set(sqlite_world, form_wait_seconds=4)
    client = _client(sqlite_world.instance, "198.51.100.40", closing)
    token = _token(client)
    data = {"csrf_token": token, "mode": "anonymous", "crime_type": "other",
            "narrative": _NARRATIVE}
    early = client.post("/report", data=data, follow_redirects=False)
    assert early.status_code == 429 and re.search(r"Please wait [34] seconds", early.text)
    # Four seconds later (the clock moved, not the test), a fresh form goes through.
    fresh = _token(client)
    client.app.state.clock = _later(5)
    sent = client.post("/report", data={**data, "csrf_token": fresh}, follow_redirects=False)
    assert sent.status_code == 303
    # A second or two later is still too soon: the wait counts from the form's signed issue
    # time (whole seconds), not from the request.
    fresh = _token(client)
    client.app.state.clock = _later(1)
    again = client.post("/report", data={**data, "csrf_token": fresh}, follow_redirects=False)
    assert again.status_code == 429 and re.search(r"Please wait [23] seconds", again.text)


def test_a_solved_challenge_used_again_is_kept_in_quarantine(
    sqlite_world: World, closing: ExitStack,
) -> None:
    _set(sqlite_world, form_wait_seconds=4, form_pow_max_number=2000)
    client = _client(sqlite_world.instance, "198.51.100.41", closing)
    payload = _solve(client)
    assert _report(client, altcha=payload).status_code == 303  # fresh: through at once
    before = _case_count(sqlite_world)
    # The same solution on another form, sent at once: asked to wait, nothing kept yet ...
    early = _report(client, altcha=payload)
    assert early.status_code == 429 and _case_count(sqlite_world) == before
    # ... and once the wait is over, kept, but in quarantine (a script reusing one solution).
    client.app.state.clock = _later(5)
    reused = _report(client, altcha=payload)
    assert reused.status_code == 303 and reused.headers["location"] == "/return/new"
    assert _case_count(sqlite_world) == before + 1 and _held(sqlite_world) == ["challenge_reused"]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert public_forms.caught_counts(sqlite_world.instance.engine, today)["reused/report"] == 1


def test_the_challenge_endpoint_is_limited_per_source_in_the_database(
    sqlite_world: World, closing: ExitStack
) -> None:
    _set(sqlite_world, form_challenge_limit_per_hour=3)
    flood = _client(sqlite_world.instance, "192.0.2.7", closing)
    assert [flood.get("/forms/challenge").status_code for _ in range(3)] == [200] * 3
    refused = flood.get("/forms/challenge")
    assert refused.status_code == 429 and refused.json()["retry_after"] > 0
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # Held in the database: another worker on the same database refuses it too ...
    other = Instance(settings=sqlite_world.instance.settings,
                     engine=make_engine(sqlite_world.instance.settings.effective_database_url()))
    _keep(closing, other)
    assert _client(other, "192.0.2.7", closing).get("/forms/challenge").status_code == 429
    # ... while another source is served, and the form itself still works without a solution.
    assert _client(other, "192.0.2.8", closing).get("/forms/challenge").status_code == 200
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    counts = public_forms.caught_counts(sqlite_world.instance.engine, today)
    assert counts["limited/challenge"] == 2


def test_the_days_salt_rotates_and_old_salts_are_gone(
    db_url: str, tmp_path: Path, closing: ExitStack
) -> None:
    world = _world(tmp_path, db_url)
    _keep(closing, world.instance)
    engine = world.instance.engine
    day1 = datetime(2031, 3, 1, 10, tzinfo=UTC)
    first = public_forms.day_salt(engine, now=day1)
    assert public_forms.day_salt(engine, now=day1 + timedelta(hours=5)) == first
    second = public_forms.day_salt(engine, now=day1 + timedelta(days=1))
    assert second != first and len(second) == 32
    with engine.connect() as conn:
        days = [r[0] for r in conn.execute(select(public_form_salts.c.day)).all()]
    assert "2031-03-01" not in days and "2031-03-02" in days
