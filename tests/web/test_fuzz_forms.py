"""Property fuzz (issue 14): every form and route of the staff, victim and public sides, on
SQLite and PostgreSQL, with hostile values (NUL and other control characters, right-to-left
marks, very long text, odd ids, odd enum values, and real ids and vocabulary mixed in).

* The route list comes from the app itself (the /api/v1 routes have their own fuzz in
  tests/web/api): a new route is fuzzed without anyone listing it, and the run fails if a route
  was not exercised.
* The fields of each route are read from its module's code (``form.get("x")``,
  ``_text(form, "x")``, query parameters and the endpoint's own string literals).
* Never a 500.
* A refused request (4xx, or the page shown again with an error) changes no stored value:
  every row of every table, ``users`` included, is hashed before and after, except the
  columns and tables in ``_VOLATILE`` / ``_VOLATILE_TABLES``, each with its reason.

Derandomized, so that CI sees the same examples each run; a module-scoped world per database.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from tests.support.paths import ROOT
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld, make_staff_world
from tests.support.victim_client import post_report
from tests.web.staff.test_every_route import _fixture

from safereport.domain import vocabulary
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web.app import create_app

pytestmark = pytest.mark.slow

#: Examples per route and database (each route gets its own run, so none is left out).
EXAMPLES = 6

#: Whole tables a refused request may write, with the reason.
_VOLATILE_TABLES: dict[str, str] = {
    # The ledger records every refusal with its real reason (I2): entries, the tree's
    # nodes, and the checkpoints that sign it.
    "ledger_entries": "the refusal's own ledger entry",
    "ledger_nodes": "the Merkle tree over that entry",
    "ledger_checkpoints": "a checkpoint signed over the new entry",
    # Sign-in throttles count wrong passwords and codes (item 3): refused by definition.
    "staff_signin_throttle": "per-source and per-account sign-in throttle counters",
    # The public forms' bot defences count every post, refused ones too (item 5).
    "public_form_counters": "per-source rate-limit buckets of the public forms",
    "public_form_salts": "the day's salt for those buckets, made on first use",
    # A form token is spent by the first post that carries it, refused or not (replay).
    "victim_spent_tokens": "form tokens spent by the post that carried them",
}

#: Columns a refused request may write, with the reason.
_VOLATILE: dict[tuple[str, str], str] = {
    ("staff_sessions", "last_seen_at"): "the session clock moves on every request",
    ("users", "failed_logins"): "the wrong-password count of the sign-in throttle (item 3)",
}

_ODD = [
    "", " ", "\x00", "a\x00b", "\u202e\u0645\u0631\u062d\u0628\u0627", "%00", "../../etc",
    "'; DROP TABLE cases; --", "=cmd|' /C calc'!A0", "\r\n", "0" * 32, "f" * 33, "-1",
    "９９", "SR-AAAA-BBBB-CCCC", "support/police", "yes", "1", "on", "2026-13-45",
    "2026-12-20", "<script>alert(1)</script>", "\ud7ff", "x" * 5000, "1e999", "NaN",
    "officer2", "other_cw",  # real usernames, for the administration forms
]
_VOCABULARY = sorted({member.value for _, kind in inspect.getmembers(vocabulary, inspect.isclass)
                      if issubclass(kind, StrEnum) and kind is not StrEnum
                      for member in kind})
# the staff's sign-out, the victim's exit and erasure end a session: they get their own
_SESSION_ENDERS = {("POST", "/staff/sign-out"), ("GET", "/return/exit"),
                   ("POST", "/return/erase")}
#: the staff who fuzz the staff side, one session each
_STAFF = ("cw", "sup1", "officer", "admin", "auditor", "marac")
_FORM_FIELD = re.compile(r"""(?:form\.get\(|\w+\(\s*form\s*,\s*)f?["']([a-z][\w-]*)["']""")
_LITERAL = re.compile(r"""["']([a-z][a-z0-9_-]{1,30})["']""")
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    side: str  # "staff", "victim" or "public"
    fields: tuple[str, ...]


def _side(path: str) -> str:
    if path.startswith("/staff"):
        return "staff"
    if path.startswith(("/return", "/report", "/claim", "/forms", "/safety")) or path == "/":
        return "victim"
    return "public"


def _fields(endpoint: Any, extra: list[str]) -> tuple[str, ...]:
    module = sys.modules[endpoint.__module__]
    found = set(_FORM_FIELD.findall(inspect.getsource(module)))
    found |= set(_LITERAL.findall(inspect.getsource(endpoint)))
    found |= set(extra)
    found.discard("csrf_token")
    return tuple(sorted(found))


_TEMPLATES = ROOT / "src" / "safereport" / "web" / "templates"
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
_ACTION = re.compile(r'action="([^"]*)"')
_JINJA = re.compile(r"\{\{.*?\}\}")
_INPUT = re.compile(r'name="([a-z][\w-]*)"')


def _template_fields() -> dict[str, set[str]]:
    """The input names of every form in the templates, by the path it posts to (an id in
    the path written ``{}``): the fields read by a service rather than the route's module."""
    found: dict[str, set[str]] = {}
    for template in _TEMPLATES.rglob("*.html"):
        for attributes, body in _FORM.findall(template.read_text(encoding="utf-8")):
            action = _ACTION.search(attributes)
            if action is None:
                continue
            literal = re.findall(r"'(/[^']*)'", action.group(1)) if "{{ '" in action.group(1) \
                else [_JINJA.sub("{}", action.group(1))]
            for path in literal:
                found.setdefault(path.split("?")[0], set()).update(_INPUT.findall(body))
    return found


def _walk(routes: list[Any], prefix: str = "") -> Iterator[Route]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes, prefix + route.include_context.prefix)
            continue
        path = prefix + getattr(route, "path", "")
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None or path.startswith("/api") or path.startswith("/static"):
            continue
        dependant = getattr(route, "dependant", None)
        queries = [p.alias for p in dependant.query_params] if dependant else []
        for method in sorted(set(getattr(route, "methods", None) or ()) & {"GET", "POST"}):
            in_forms = sorted(_TEMPLATE_FIELDS.get(_PARAM.sub("{}", path), ()))
            yield Route(method, path, _side(path), _fields(endpoint, queries + in_forms))


_TEMPLATE_FIELDS = _template_fields()


@dataclass
class Fuzz:
    world: StaffWorld
    clients: dict[str, TestClient]
    ids: list[str]
    routes: list[Route]
    tokens: dict[str, str] = field(default_factory=dict)
    sources: int = 0  # the last source address used (one per anonymous or victim request)
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: the snapshot after the last request (the next one's "before", saving a snapshot)
    last: dict[str, Counter[str]] | None = None


def snapshot(world: StaffWorld) -> dict[str, Counter[str]]:
    """A hash of every stored row of every table, less the volatile tables and columns."""
    taken: dict[str, Counter[str]] = {}
    with world.instance.engine.connect() as conn:
        for name, table in metadata.tables.items():
            if name in _VOLATILE_TABLES:
                continue
            columns = [c for c in table.columns if (name, c.name) not in _VOLATILE]
            taken[name] = Counter(hashlib.sha256(repr(tuple(row)).encode()).hexdigest()
                                  for row in conn.execute(select(*columns)))
    return taken


def _changed(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


_ERROR = re.compile(r'class="error(?:-summary)?"|role="alert"')


def _refused(answer: Any) -> bool:
    if 400 <= answer.status_code < 500:
        return True
    kind = answer.headers.get("content-type", "")
    return answer.status_code == 200 and kind.startswith("text/html") \
        and bool(_ERROR.search(answer.text))


def _victim(world: StaffWorld, app: Any) -> TestClient:
    """A victim who made a codename report and opened it again: her session's client."""
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False,
                        client=("198.51.100.200", 1))
    token = csrf_of(client.get("/report").text)
    card = post_report(client, {"csrf_token": token, "mode": "codename",
                                "crime_type": "domestic_abuse",
                                "narrative": "Synthetic: he shouts and takes my phone."})
    found = re.search(r'<p class="codename"[^>]*>(.*?)</p>', card.text, re.S)
    assert found is not None, card.text[:500]
    codename = " ".join(re.findall(r"<span>([^<]+)</span>", found.group(1)))
    opened = client.post("/return", data={"csrf_token": csrf_of(client.get("/return").text),
                                          "codename": codename, "lang": "en"})
    assert opened.status_code in (200, 303), opened.text[:500]
    return client


def _ids(world: StaffWorld) -> list[str]:
    """Real ids of every kind held (cases, requests, actions, facts, evidence, asks)."""
    found: set[str] = set()
    with world.instance.engine.connect() as conn:
        for table in metadata.tables.values():
            if "id" in table.c and table.c.id.type.python_type is str:
                found |= {str(v) for v in conn.execute(select(table.c.id).limit(4)).scalars()}
    return sorted(found)


def _setup(world: StaffWorld) -> Fuzz:
    # The fuzz posts the public forms hundreds of times an hour: past the global count they
    # would all be asked to wait (429) before the form is read (the defence has its own tests)
    world.instance.settings = replace(world.instance.settings, form_attack_per_hour=10**6)
    _fixture(world)
    app = create_app(world.instance)
    routes = list(_walk(app.routes))
    clients: dict[str, TestClient] = {
        "public": TestClient(app, follow_redirects=False, raise_server_exceptions=False)}
    for n, who in enumerate(_STAFF):
        clients[who] = signed_in(world, who, TestClient(
            app, follow_redirects=False, raise_server_exceptions=False,
            client=(f"198.51.100.{n + 10}", 1)))
    clients["victim"] = _victim(world, app)
    # sessions of their own for the requests that may end one (sign-out, exit, erasure)
    clients["staff_ender"] = signed_in(world, "analyst", TestClient(
        app, follow_redirects=False, raise_server_exceptions=False, client=("198.51.100.9", 1)))
    clients["victim_ender"] = _victim(world, app)
    fuzz = Fuzz(world, clients, _ids(world), routes)
    fuzz.tokens = {who: csrf_of(client.get("/staff/").text) for who, client in clients.items()
                   if who in (*_STAFF, "staff_ender")}
    return fuzz


def _value(draw: Any, ids: list[str]) -> str:
    return str(draw(st.one_of(st.sampled_from(_ODD), st.sampled_from(_VOCABULARY),
                              st.sampled_from(ids),
                              st.text(alphabet=st.characters(exclude_categories=("Cs",)),
                                      max_size=60))))


def _token(fuzz: Fuzz, client: TestClient, who: str) -> str:
    """A form token: a staff session's is reused; a victim form's is spent by the post that
    carries it, so a fresh one each time (the page fetch may write: snapshot again)."""
    if who in fuzz.tokens:
        return fuzz.tokens[who]
    fuzz.last = None
    page = client.get("/return/mine" if who.startswith("victim") else "/report")
    if 'name="csrf_token"' not in page.text:
        page = client.get("/report")
    return csrf_of(page.text)


def _run(fuzz: Fuzz, route: Route) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        if route.side == "staff":
            who = data.draw(st.sampled_from((*_STAFF, "public")), label="who")
        elif route.side == "victim":
            who = data.draw(st.sampled_from(("victim", "public")), label="who")
        else:
            who = "public"
        if (route.method, route.path) in _SESSION_ENDERS and who != "public":
            who = f"{route.side}_ender"
        client = fuzz.clients[who]
        if not who.startswith(("staff", *_STAFF)):
            # from many sources, as a crowd would: the public forms' per-source limits (429)
            # would otherwise answer most of the posts before the form is read
            fuzz.sources += 1
            client._transport.client = (  # type: ignore[attr-defined]
                f"10.{fuzz.sources // 65536 % 256}.{fuzz.sources // 256 % 256}"
                f".{fuzz.sources % 256}", 1)
        target = _PARAM.sub(lambda _: quote(_value(data.draw, fuzz.ids), safe="") or "x",
                            route.path)
        chosen = data.draw(st.lists(st.sampled_from(route.fields), unique=True,
                                    max_size=min(12, len(route.fields)))
                           if route.fields else st.just([]), label="fields")
        values = {name: _value(data.draw, fuzz.ids) for name in chosen}
        if route.method == "POST" and data.draw(st.booleans(), label="with token"):
            values["csrf_token"] = _token(fuzz, client, who)
        before = fuzz.last if fuzz.last is not None else snapshot(fuzz.world)
        fuzz.last = None
        if route.method == "GET":
            answer = client.get(target, params=values)
        else:
            answer = client.post(target, data=values)
        fuzz.hits[route.method, route.path] += 1
        assert answer.status_code < 500, (route.method, target, values, answer.text[:300])
        fuzz.last = after = snapshot(fuzz.world)
        if _refused(answer):
            changed = _changed(before, after)
            assert not changed, (route.method, target, who, values, answer.status_code,
                                 changed)

    one()


def _fuzz_all(fuzz: Fuzz) -> None:
    for route in fuzz.routes:
        _run(fuzz, route)
    missing = {(r.method, r.path) for r in fuzz.routes} - set(fuzz.hits)
    assert not missing, f"routes not fuzzed: {sorted(missing)}"


@pytest.fixture(scope="module")
def sqlite_fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz_sqlite")
    world = make_staff_world(tmp, f"sqlite:///{tmp / 'unused.db'}")
    try:
        yield _setup(world)
    finally:
        world.instance.close()


@pytest.fixture(scope="module")
def postgres_fuzz(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Fuzz]:
    engine = make_engine(postgres_url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    world = make_staff_world(tmp_path_factory.mktemp("fuzz_postgres"), postgres_url)
    try:
        yield _setup(world)
    finally:
        world.instance.close()


def test_every_form_route_is_in_the_fuzz(sqlite_fuzz: Fuzz) -> None:
    """The plan is the app's own route list: every staff, victim and public GET/POST route
    (not /api), each with the fields its code reads; a POST route with neither fields nor
    an id in its path is one that takes nothing (listed here), or a failure."""
    takes_no_fields = {"/staff/sign-out"}
    plan = {(r.method, r.path): r for r in sqlite_fuzz.routes}
    assert len(plan) > 100
    assert {r.side for r in plan.values()} == {"staff", "victim", "public"}
    assert not any(path.startswith("/api") for _, path in plan)
    for (method, path), route in plan.items():
        assert route.fields or "{" in path or method == "GET" or path in takes_no_fields, \
            (method, path)


def test_fuzz_forms_sqlite(sqlite_fuzz: Fuzz) -> None:
    _fuzz_all(sqlite_fuzz)


@pytest.mark.postgres
def test_fuzz_forms_postgres(postgres_fuzz: Fuzz) -> None:
    _fuzz_all(postgres_fuzz)


def test_a_refused_update_is_seen(tmp_path: Path) -> None:
    """The snapshot sees a changed value, not only a changed row count (``users`` too)."""
    world = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        from safereport.store.core import users

        before = snapshot(world)
        with world.instance.engine.begin() as conn:
            conn.execute(users.update().where(users.c.username == "cw").values(active=False))
        assert _changed(before, snapshot(world)) == ["users"]
    finally:
        world.instance.close()
