"""Property fuzz (issue 14): the victim, staff and public forms and routes, on SQLite and
PostgreSQL, with hostile values (NUL and other control characters, right-to-left marks, very
long text, odd ids, odd enum values): never a 500, and a refused request (4xx) changes no
stored row other than the ledger's denials, the sign-in throttles and the session clock.

Kept small (120 examples per database, derandomized so that CI sees the same ones each run)
so that both run in under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.staff._client import TestClient, csrf_of, signed_in
from tests.staff._world import StaffWorld

from safereport.store.tables import metadata
from safereport.web.app import create_app

#: Tables a refused request may still write: the ledger (denials on record, its tree and
#: checkpoints), the sign-in throttles and TOTP state, session clocks, failure counts, and
#: instance-wide values made once on first use (the codename salt in ``instance_info``).
_MAY_CHANGE = {"staff_signin_throttle", "staff_signin_state", "staff_sessions", "users",
               "instance_info"}
# public_form_*: the bot defences count every post of the public forms, refused ones too;
# victim_spent_tokens: a form token is spent by the first post that carries it, refused or not
_MAY_CHANGE_PREFIXES = ("ledger", "witness", "public_form", "victim_spent_tokens")

_ODD = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\u202e\u0645\u0631\u062d\u0628\u0627", "%00", "../../etc",
    "'; DROP TABLE cases; --", "=cmd|' /C calc'!A0", "\r\n", "0" * 32, "f" * 33, "-1",
    "９９", "SR-AAAA-BBBB-CCCC", "police", "support/police", "yes", "support",
    "<script>alert(1)</script>", "\ud7ff", "x" * 5000,
])
_TEXT = st.one_of(_ODD, st.text(alphabet=st.characters(exclude_categories=("Cs",)),
                                 max_size=80))

#: (method, path, form fields, who signs in): "{id}" is filled with a real case id or junk.
_ROUTES: list[tuple[str, str, tuple[str, ...], str | None]] = [
    ("POST", "/report", ("mode", "crime_type", "subject_role", "narrative", "occurred",
                         "location", "name", "phone", "email", "consent", "lang"), None),
    ("POST", "/return", ("codename", "lang"), None),
    ("POST", "/return/message", ("pass", "message"), None),
    ("POST", "/return/consent", ("pass", "consent", "give"), None),
    ("POST", "/claim", ("claim_code",), None),
    ("POST", "/staff/sign-in", ("username", "password", "code"), None),
    ("GET", "/staff/search", ("q", "kind"), "cw"),
    ("GET", "/staff/cases", ("status", "crime_type", "mine"), "cw"),
    ("GET", "/staff/cases/{id}", ("purpose",), "cw"),
    ("POST", "/staff/cases/{id}/notes", ("text",), "cw"),
    ("POST", "/staff/cases/{id}/status", ("status",), "cw"),
    ("POST", "/staff/cases/{id}/disclose", ("recipient_org", "purpose", "category",
                                             "status_evidence", "victim_request"), "cw"),
    ("POST", "/staff/asks", ("holder", "reference", "purpose", "category"), "officer"),
    ("POST", "/staff/disclosures/{id}/approve", (), "sup1"),
    ("POST", "/staff/inbox/{id}/accept", (), "officer"),
    # Staff administration (issue 20).
    ("GET", "/staff/admin/account", ("username",), "admin"),
    ("POST", "/staff/admin/accounts", ("org", "username", "display_name", "role"), "admin"),
    ("POST", "/staff/admin/role", ("username", "role"), "admin"),
    ("POST", "/staff/admin/disable", ("username",), "admin"),
    ("POST", "/staff/admin/factor-reset", ("username", "reason"), "admin"),
    ("POST", "/staff/admin/factor-reset/confirm", ("username",), "admin"),
    ("POST", "/staff/password", ("password", "password_again"), "cw"),
    ("GET", "/statistics/releases/{id}", (), None),
    ("GET", "/statistics/releases/{id}.csv", (), None),
    ("POST", "/staff/sign-out", (), "cw"),
]


def _snapshot(world: StaffWorld) -> dict[str, int]:
    with world.instance.engine.connect() as conn:
        return {name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in metadata.tables.items()
                if name not in _MAY_CHANGE and not name.startswith(_MAY_CHANGE_PREFIXES)}


def _fuzz(world: StaffWorld, examples: int) -> None:
    case_id = world.file().case_id
    app = create_app(world.instance)
    clients: dict[str | None, TestClient] = {
        None: TestClient(app, follow_redirects=False, raise_server_exceptions=False)}
    for who in ("cw", "officer", "sup1", "admin"):
        clients[who] = signed_in(world, who, TestClient(
            app, follow_redirects=False, raise_server_exceptions=False,
            client=(f"198.51.100.{len(clients)}", 1)))
    tokens = {who: csrf_of(c.get("/staff/" if who else "/report").text)
              for who, c in clients.items()}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(_ROUTES), real_id=st.booleans(), junk_id=_TEXT,
           values=st.lists(_TEXT, min_size=12, max_size=12), with_token=st.booleans())
    def one(route: tuple[str, str, tuple[str, ...], str | None], real_id: bool, junk_id: str,
            values: list[str], with_token: bool) -> None:
        method, path, fields, who = route
        client = clients[who]
        if who == "cw" and path == "/staff/sign-out":
            return  # would end the shared session (sign-out has its own tests)
        target = path.replace("{id}", case_id if real_id else _quote(junk_id))
        data: dict[str, Any] = dict(zip(fields, values, strict=False))
        before = _snapshot(world)
        if method == "GET":
            answer = client.get(target, params=data)
        else:
            if with_token:
                data["csrf_token"] = tokens[who]
            answer = client.post(target, data=data)
        assert answer.status_code < 500, (method, target, data, answer.text[:300])
        if answer.status_code >= 400:
            assert _snapshot(world) == before, (method, target, data)

    one()


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="") or "x"


def test_fuzz_forms_sqlite(sqlite_world: StaffWorld) -> None:
    _fuzz(sqlite_world, 120)


@pytest.mark.postgres
def test_fuzz_forms_postgres(world: StaffWorld) -> None:
    if not world.instance.settings.effective_database_url().startswith("postgresql"):
        pytest.skip("the SQLite run is test_fuzz_forms_sqlite")
    _fuzz(world, 120)
