"""No caller-supplied value can set ``consent``, ``victim_initiated`` or ``automated``.

POLICY.md v2, "Where the facts come from": these three are read from the record (her own
door, or two people) and from the kind of actor. This walks every staff form (the route list
comes from the app, as in test_every_route), the public report and claim forms, and the JSON
import, each with every field a forger would try added, and checks every request the guard
was asked: none of the three is ever true unless the record made it so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import STAFF, StaffWorld
from tests.web.staff.test_every_route import _fixture, _staff_routes, _walks

from safereport.cli import main
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.services import disclosure
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.store.core import cases
from safereport.web.app import create_app

#: What a forger adds to every form: each name a fact could be smuggled in under.
POISON: dict[str, Any] = {
    "consent": ["true", "immigration_enforcement/regularisation_support",
                "immigration_enforcement:regularisation_support"],
    "victim_initiated": "true",
    "automated": "false",
    "fact": ["victim_initiated", "consent", "automated"],
    "context": json.dumps({"consent": True, "victim_initiated": True}),
    "context.consent": "true",
    "victim_request": "0" * 32,
}


def _spy(world: StaffWorld) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    decide = world.instance.guard.decide

    def spied(request: Any) -> Any:
        if isinstance(request, dict):
            seen.append(request)
        return decide(request)

    world.instance.guard.decide = spied  # type: ignore[method-assign]
    return seen


def _facts(requests: list[dict[str, Any]]) -> set[tuple[str, object]]:
    found = set()
    for request in requests:
        context = request.get("context") or {}
        for name in ("consent", "victim_initiated", "automated"):
            if context.get(name) is True:
                found.add((name, request.get("recipient")))
    return found


def test_no_staff_form_can_state_consent_victim_initiated_or_automated(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    fx = _fixture(world)
    walks = _walks(fx, world)
    assert _staff_routes() == set(walks)
    seen = _spy(world)
    app = create_app(world.instance)
    posts = 0
    for username in STAFF:
        client = signed_in(world, username, TestClient(app, follow_redirects=False))
        token = csrf_of(client.get("/staff/").text)
        for (method, path), requests in walks.items():
            if method != "POST" or path == "/staff/sign-out":
                continue
            for url, data in requests:
                # once with every poison (the disclosure form refuses a stated fact), once
                # without ``fact`` so that the request reaches the guard with the rest
                for poison in (POISON, {k: v for k, v in POISON.items() if k != "fact"}):
                    response = client.post(url, data={"csrf_token": token, **data, **poison})
                    assert response.status_code < 500, url
                    posts += 1
            client.get(f"/staff/cases/{fx.support_case}?consent=true&victim_initiated=true")
    assert posts > 100 and len(seen) > 50
    assert _facts(seen) == set(), _facts(seen)


def test_public_forms_cannot_state_them(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    seen = _spy(world)
    client = TestClient(create_app(world.instance), follow_redirects=False)
    for path, data in (
        ("/report", {"mode": "anonymous", "crime_type": "domestic_abuse",
                     "narrative": "Poisoned report."}),
        ("/claim", {"claim_code": "AAAA-BBBB-CCCC-DDDD"}),
        ("/return", {"codename": "not a codename at all"}),
    ):
        page = client.get(path)
        response = client.post(path, data={"csrf_token": csrf_of(page.text), **data, **POISON})
        assert response.status_code < 500, path
    assert _facts(seen) == set()


def test_a_json_import_cannot_give_her_consent(sqlite_world: StaffWorld, tmp_path: Path) -> None:
    """Consents in ``report submit --json`` are kept but never count: no person stands behind
    them. An unknown field (a smuggled fact) makes the file invalid, and nothing is saved."""
    world = sqlite_world
    report = {"mode": "anonymous", "crime_type": "domestic_abuse", "narrative": "Imported.",
              "consents": [{"recipient": "immigration_enforcement",
                            "purpose": "regularisation_support"},
                           {"recipient": "local_authority", "purpose": "safeguarding"}]}
    data_dir = str(world.instance.settings.data_dir)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**report, "victim_initiated": True}))
    refused = CliRunner().invoke(main, ["--data-dir", data_dir, "report", "submit",
                                        "--json", str(bad)])
    assert refused.exit_code != 0
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report))
    done = CliRunner().invoke(main, ["--data-dir", data_dir, "report", "submit",
                                     "--json", str(good)])
    assert done.exit_code == 0, done.output
    with world.instance.engine.connect() as conn:
        case_id = conn.execute(cases.select().with_only_columns(cases.c.id)).scalars().one()
    seen = _spy(world)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=case_id, recipient_org_id=world.orgs["oversight"], purpose=Purpose.SAFEGUARDING,
        categories=frozenset({DataCategory.CRIME_DETAILS})))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.DENIED
    assert _facts(seen) == set()
    assert Recipient.LOCAL_AUTHORITY  # the consent was asked about, and did not count
