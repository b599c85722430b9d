"""A bounded flood of the report form (issue 19), in process, with real people among the bots.

A real instance (guard, ledger, vault, SQLite) behind the app, driven by Starlette's test
client (in process: no sockets, so the machine's two cores go to the app). Bots, each from its
own address (a botnet, the hard case for per-source limits), in five kinds: plain POSTs with
no form token, one token replayed, the honeypot filled, one solved challenge reused, and fresh
forms sent at once without proof-of-work (scripted against this site: when told to check their
answers, they send them). Bot texts are spam from the synthetic multilingual corpus
(domain/spam_corpus.py). Among them, real people in several languages, writing real-looking
reports from the same corpus: half with JavaScript (they solve the challenge, as
/static/pow.js does), half without (asked to wait, they wait the seconds they are told and
press the button again, with what they typed), each then sending from "Check your answers".

Before the flood the service's caseworker has already made the decisions the classifier learns
from (``--taught``, default 20 "not a real report" and 10 releases from an earlier day; 0 for
a service that never marked anything).

Counted afterwards in the database: every real report must be there, in the case list; how
many bot reports reached the case list and how many the quarantine (by reason).

    .venv/bin/python benchmarks/bots_bench.py [--bots 2000] [--real 100] [--taught 20] [--http]

With ``--http`` the app is served by uvicorn on 127.0.0.1 (a real socket, in a thread of this
process) and every bot and person is an HTTP client of it; each one's address reaches the app
in ``X-Forwarded-For`` from 127.0.0.1, the only trusted proxy (as behind nginx).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path

from altcha import v1 as altcha_v1
from sqlalchemy import func, select

from safereport.config import load_settings
from safereport.domain.spam_corpus import Sample, corpus
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.services import intake, quarantine
from safereport.services.auth import StaffUser, create_user
from safereport.services.instance import Instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.store.core import cases
from safereport.store.db import make_engine
from safereport.store.quarantine import quarantine as held_table
from safereport.store.tables import metadata
from safereport.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_WAIT = re.compile(r"Please wait (\d+) seconds?")
_REFERENCE = re.compile(r"SR-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}")
_LANGS = ("en", "ar", "pl", "es", "pt")
_KINDS = ("no token", "replayed token", "honeypot", "reused challenge", "fresh form at once")


def _token(client: TestClient, lang: str = "en") -> str:
    found = _TOKEN.search(client.get(f"/report?lang={lang}").text)
    assert found is not None
    return found.group(1)


def _solve(client: TestClient) -> str:
    found = client.get("/forms/challenge").json()
    solution = altcha_v1.solve_challenge(found["challenge"], found["salt"], "SHA-256",
                                         found["maxnumber"], 0)
    assert solution is not None
    return base64.b64encode(json.dumps({
        "algorithm": "SHA-256", "challenge": found["challenge"], "number": solution.number,
        "salt": found["salt"], "signature": found["signature"]}).encode()).decode()


def _form(narrative: str, lang: str) -> dict[str, str]:
    return {"mode": "anonymous", "crime_type": "domestic_abuse", "narrative": narrative,
            "lang": lang}


def _texts(seed: int, spam: bool, langs: tuple[str, ...]) -> list[Sample]:
    return [s for s in corpus(seed, 60, languages=langs) if s.spam is spam]


def _teach(instance: Instance, org_id: str, count: int) -> None:
    """An earlier day's decisions: ``count`` confirmed not real, half as many released."""
    if count <= 0:
        return
    with instance.engine.begin() as conn:
        user_id = create_user(conn, org_id=org_id, username="bench-cw", display_name="Bench",
                              role=ActorRole.CASEWORKER, password="", password_hash="x")
    user = StaffUser(user_id, org_id, OrgKind.SUPPORT_SERVICE, "Bench Support", "bench-cw",
                     "Bench", ActorRole.CASEWORKER, True)
    for sample, real in ([(s, False) for s in _texts(1, True, _LANGS)[:count]]
                         + [(s, True) for s in _texts(1, False, _LANGS)[:count // 2]]):
        submission = intake.parse_submission({"mode": "anonymous", "crime_type": "other",
                                              "narrative": sample.text})
        held = intake.submit_report(instance, submission, suspicion="honeypot").case_id
        (quarantine.release if real else quarantine.mark_not_real)(instance, user, held)


def _send_checked(client: TestClient, answer: object, lang: str) -> object:
    """From "Check your answers" (issue 18): send what was kept there."""
    if getattr(answer, "status_code", 0) != 303 or "/return/check" not in str(
            getattr(answer, "headers", {}).get("location", "")):
        return answer
    found = _TOKEN.search(client.get(f"/return/check?lang={lang}").text)
    assert found is not None
    return client.post("/return/check", data={"csrf_token": found.group(1), "lang": lang})


class Flood:
    def __init__(self, app: object, bots: int, base_url: str = "") -> None:
        self.app = app
        self.base_url = base_url  # served on 127.0.0.1 (--http), else in process
        self.bots = bots
        self.spam = _texts(3, True, ("en", "es", "pl", "ro", "ar", "pt", "tr", "fa"))
        self.real = {lang: _texts(4, False, (lang,)) for lang in _LANGS}
        self.answers: Counter[tuple[str, int]] = Counter()
        self.replayed = ""
        self.reused = ""
        self.wait = 3

    def client(self, n: int) -> TestClient:
        address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        if self.base_url:
            import httpx

            return httpx.Client(base_url=self.base_url, follow_redirects=False,  # type: ignore[return-value]
                                headers={"X-Forwarded-For": address}, timeout=120)
        return TestClient(self.app, client=(address, 40000), follow_redirects=False)  # type: ignore[arg-type]

    def bot(self, n: int) -> None:
        kind = _KINDS[n % len(_KINDS)]
        client = self.client(1000 + n)
        data = _form(f"{self.spam[n % len(self.spam)].text} #{n}", "en")
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
            answer = _send_checked(client, client.post(
                "/report", data={**data, "csrf_token": _token(client)}), "en")
        self.answers[(kind, getattr(answer, "status_code", 0))] += 1


def person(flood: Flood, n: int, javascript: bool, waits: list[int], done: list[str]) -> None:
    lang = _LANGS[n % len(_LANGS)]
    client = flood.client(500_000 + n)
    said = flood.real[lang][n % len(flood.real[lang])].text
    data = _form(f"{said} ({n})", lang)
    token = _token(client, lang)
    extra = {"altcha": _solve(client)} if javascript else {}
    for _ in range(5):
        answer = client.post("/report", data={**data, **extra, "csrf_token": token})
        if answer.status_code == 303:
            answer = _send_checked(client, answer, lang)  # type: ignore[assignment]
        if answer.status_code == 303 and answer.headers["location"].startswith("/return/new"):
            card = _REFERENCE.search(client.get(answer.headers["location"]).text)
            assert card is not None
            done.append(card.group(0))  # her reference, from her card
            return
        if answer.status_code != 429:
            print(f"a real person was refused: {answer.status_code}", file=sys.stderr)
            return
        asked = _WAIT.search(answer.text)  # English; other languages wait the setting's time
        seconds = int(asked.group(1)) if asked else int(flood.wait)
        waits.append(seconds)
        # What she typed is still in the page; she waits as told and presses the button again.
        assert said.split()[0] in answer.text
        found = _TOKEN.search(answer.text)
        assert found is not None
        token = found.group(1)
        time.sleep(seconds + 1)
    print("a real person never got through", file=sys.stderr)


def _serve(app: object) -> tuple[object, str]:
    """uvicorn on a free port of 127.0.0.1, in a thread; returns (server, base URL)."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                           log_level="warning", proxy_headers=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--real", type=int, default=100)
    parser.add_argument("--taught", type=int, default=20)
    parser.add_argument("--http", action="store_true",
                        help="serve on 127.0.0.1 with uvicorn and flood it over sockets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = init_instance(Path(tmp) / "bench")
        # The defaults, except a short wait under attack so that the bench stays short.
        settings = replace(load_settings(path), form_attack_wait_seconds=3,
                           report_limit_per_hour=30,
                           trusted_proxies="127.0.0.1" if args.http else "")
        instance = Instance(settings=settings,
                            engine=make_engine(settings.effective_database_url()))
        metadata.create_all(instance.engine)
        with instance.engine.begin() as conn:
            org_id = add_org(conn, "Bench Support", OrgKind.SUPPORT_SERVICE)
        _teach(instance, org_id, args.taught)
        with instance.engine.connect() as conn:
            taught = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
        app = create_app(instance)
        server = _serve(app) if args.http else None
        flood = Flood(app, args.bots, server[1] if server else "")
        first = flood.client(1)
        flood.replayed = _token(first)
        flood.reused = _solve(first)
        waits: list[int] = []
        done: list[str] = []
        people: list[threading.Thread] = []
        started = time.perf_counter()
        step = max(1, args.bots // max(1, args.real))
        for n in range(args.bots):
            flood.bot(n)
            if n % step == 0 and len(people) < args.real:
                who = len(people)
                thread = threading.Thread(target=person,
                                          args=(flood, who, who % 2 == 0, waits, done))
                thread.start()
                people.append(thread)
        while len(people) < args.real:
            who = len(people)
            thread = threading.Thread(target=person, args=(flood, who, who % 2 == 0, waits, done))
            thread.start()
            people.append(thread)
        for thread in people:
            thread.join()
        took = time.perf_counter() - started
        if server is not None:
            server[0].should_exit = True
            time.sleep(1)
        with instance.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
            reasons = Counter(str(r) for r in conn.execute(
                select(held_table.c.reason).where(held_table.c.outcome == "")).scalars())
            real_held = int(conn.execute(select(func.count()).select_from(
                held_table.join(cases, cases.c.id == held_table.c.case_id)).where(
                held_table.c.outcome == "", cases.c.reference.in_(done))).scalar_one())
        instance.close()
    # Narratives are sealed; a person counts as stored when her report answered with her card
    # (saved in its transaction before the answer), and we know her case by the reference on
    # it: so every other case is a bot's, held or in the case list.
    held = sum(reasons.values())
    bots_held = held - real_held
    bots_stored = total - taught - len(done) - bots_held
    where = "over HTTP on 127.0.0.1" if args.http else "in process"
    print(f"{args.bots} bot submissions from {args.bots} addresses, {args.real} real people "
          f"({args.real - args.real // 2} with JavaScript), {where}, in {took:.1f} s")
    for kind in _KINDS:
        answers = {status: count for (k, status), count in flood.answers.items() if k == kind}
        print(f"  {kind:22} {answers}")
    print(f"  real people asked to wait: {len(waits)} times ({sorted(set(waits))} s)")
    print(f"  cases in the database: {total - taught} (and {taught} from the earlier day's "
          "decisions)")
    print(f"  held in quarantine, by reason: {dict(sorted(reasons.items()))}")
    limit = settings.form_attack_per_hour
    ok_real = len(done) == args.real
    print(f"RESULT bots_real_reports_stored {len(done)} "
          f"target == {args.real} {'meets' if ok_real else 'MISSES'}")
    print(f"RESULT bots_reports_in_case_list {bots_stored} target <= {limit} "
          f"{'meets' if bots_stored <= limit else 'MISSES'}")
    print(f"RESULT bots_real_reports_in_quarantine {real_held} target == 0 "
          f"{'meets' if real_held == 0 else 'MISSES'}")
    print(f"RESULT bots_reports_in_quarantine {bots_held} target > 0 "
          f"{'meets' if bots_held > 0 else 'MISSES'}")
    sys.exit(0 if ok_real and real_held == 0 else 1)


if __name__ == "__main__":
    main()
