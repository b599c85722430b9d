"""Her return session and the spent form tokens are shared by every worker process.

Two apps over one instance stand for two `serve --workers` processes (or two servers over one
PostgreSQL): a session opened through one is known to the other, a form spent on one is a
replay on the other, and the exit on one ends it for both. Nothing in clear in the database.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from sqlalchemy import select
from tests.support.staff_client import csrf_of
from tests.support.staff_world import make_staff_world

from safereport.services.claim import claim_case
from safereport.store.victim_sessions import victim_sessions
from safereport.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_two_workers_share_her_session_and_its_tokens(db_url: str, tmp_path: Path) -> None:
    world = make_staff_world(tmp_path, db_url)
    try:
        filed = world.file("cw")
        claimed = claim_case(world.instance, filed.claim_code)
        first = TestClient(create_app(world.instance), follow_redirects=False)
        second = TestClient(create_app(world.instance), follow_redirects=False)
        page = first.get("/return")
        opened = first.post("/return", data={"csrf_token": csrf_of(page.text),
                                             "codename": claimed.codename, "lang": "en"})
        assert opened.status_code == 303
        cookie = first.cookies.get("s")
        assert cookie
        second.cookies.set("s", cookie, path="/return")
        assert filed.reference in second.get("/return").text  # the other worker knows her
        form = second.get("/return").text
        token = csrf_of(form)
        message = {"csrf_token": token, "lang": "en", "message": "Synthetic: one message."}
        assert first.post("/return/message", data=message).status_code == 303
        second.post("/return/message", data=message)  # Back + resend, on the other worker
        page = first.get("/return").text
        assert page.count("Synthetic: one message.") == 1
        with world.instance.engine.connect() as conn:
            stored = b"".join(bytes(r.sealed) for r in conn.execute(select(victim_sessions)))
        assert claimed.codename.encode() not in stored and filed.case_id.encode() not in stored
        first.get("/return/exit")
        assert filed.reference not in second.get("/return").text  # the exit ended it for both
    finally:
        world.instance.close()
