"""Every staff route, as every role: each data access was decided by the guard and recorded.

A spy wraps the guard's ``decide`` and ``refuse``, the ledger's ``append`` and the vault's
``open_fields`` / ``open_parts`` / ``open_blob``. For every request it checks that

* every decision the guard made was appended to the ledger (no unrecorded decision), and
* every vault open used a Grant whose decision was made *and* recorded during that request,
  at the ledger index that request appended (no data without a fresh, recorded decision).

The route list comes from the app itself, so a new staff route without a walk here fails.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import STAFF, StaffWorld

from safereport.domain.risk import DEFAULT_CHECKLIST, IMMIGRATION_ABUSE_CHECKLIST
from safereport.domain.vocabulary import DataCategory, Effect, Purpose, Recipient
from safereport.policy.decision import Decision, Grant
from safereport.services import casework, disclosure, evidence, practice, provenance
from safereport.services.disclosure import DisclosureForm
from safereport.services.disclosure import recipient as disclosure_recipient
from safereport.web.app import ROUTER_MODULES, create_app

pytestmark = pytest.mark.slow


@dataclass
class Spy:
    decided: list[Decision] = field(default_factory=list)
    appended: list[tuple[int, Decision]] = field(default_factory=list)
    opened: list[Grant] = field(default_factory=list)
    packages: int = 0

    def reset(self) -> None:
        self.decided.clear()
        self.appended.clear()
        self.opened.clear()
        self.packages = 0

    def check(self, where: str) -> None:
        decided = {id(d) for d in self.decided}
        recorded = {id(d) for _, d in self.appended}
        assert decided == recorded, f"{where}: a decision was not recorded in the ledger"
        fresh = {index: d for index, d in self.appended}
        for grant in self.opened:
            assert grant.ledger_index in fresh, f"{where}: vault opened without a fresh entry"
            assert fresh[grant.ledger_index] is grant.decision, f"{where}: grant/entry mismatch"
            assert grant.decision.effect is not Effect.DENY


def _install(world: StaffWorld, monkeypatch: pytest.MonkeyPatch) -> Spy:
    spy = Spy()
    guard, ledger, vault = world.instance.guard, world.instance.ledger, world.instance.vault
    decide, append, commit = guard.decide, ledger.append, ledger.commit
    commit_many = ledger.commit_many
    open_fields, open_parts, open_blob = vault.open_fields, vault.open_parts, vault.open_blob

    def spied_decide(request: Any) -> Decision:
        decision = decide(request)
        spy.decided.append(decision)
        return decision

    refuse = guard.refuse

    def spied_refuse(request: Any, rule: Any, reason: str) -> Decision:
        # A service refusal (POLICY.md section 6) is the guard's decision too: recorded alike.
        decision = refuse(request, rule, reason)
        spy.decided.append(decision)
        return decision

    def spied_append(conn: Any, decision: Decision, **kw: Any) -> int:
        index = append(conn, decision, **kw)
        spy.appended.append((index, decision))
        return index

    def opener(real: Callable[..., Any]) -> Callable[..., Any]:
        def spied(conn: Any, grant: Grant, *args: Any, **kw: Any) -> Any:
            spy.opened.append(grant)
            return real(conn, grant, *args, **kw)
        return spied

    def spied_open_parts(conn: Any, case_id: str, parts: Any) -> Any:
        # A page's parts, opened from one read of the case (the case page: issue 13).
        spy.opened.extend(grant for grant, _ in parts)
        return open_parts(conn, case_id, parts)

    def spied_commit(decision: Decision, **kw: Any) -> int:
        # A read's decision goes through the sequencer (group commit), not ``append``.
        index = commit(decision, **kw)
        spy.appended.append((index, decision))
        return index

    def spied_commit_many(decisions: list[Decision], **kw: Any) -> list[int]:
        # Several parts of one page in one group commit (the case page: issue 13).
        indices = commit_many(decisions, **kw)
        spy.appended.extend(zip(indices, decisions, strict=True))
        return indices

    guard.decide = spied_decide  # type: ignore[method-assign]
    guard.refuse = spied_refuse  # type: ignore[method-assign]
    ledger.commit_many = spied_commit_many  # type: ignore[method-assign]
    ledger.append = spied_append  # type: ignore[method-assign]
    ledger.commit = spied_commit  # type: ignore[method-assign]
    vault.open_fields = opener(open_fields)  # type: ignore[method-assign]
    vault.open_parts = spied_open_parts  # type: ignore[method-assign]
    vault.open_blob = opener(open_blob)  # type: ignore[method-assign]
    # A recipient's package opens only under a Grant, like the vault (issue 17).
    real_package = disclosure_recipient.open_released_package

    def spied_package(grant: Grant, *args: Any, **kw: Any) -> Any:
        spy.opened.append(grant)
        spy.packages += 1
        return real_package(grant, *args, **kw)

    monkeypatch.setattr(disclosure_recipient, "open_released_package", spied_package)
    return spy


@dataclass
class Fixture:
    world: StaffWorld
    support_case: str
    police_case: str
    pending: str
    released_to_police: str
    waiting_consent: str
    waiting_request: str
    released_to_marac: str
    ask: str
    safety_action: str
    marac_action: str


def _fixture(world: StaffWorld) -> Fixture:
    support = world.file("cw", consents=((Recipient.POLICE, Purpose.INVESTIGATION),))
    asked = provenance.record_request_in_person(
        world.instance, world.users["cw"], support.case_id, Recipient.HOUSING,
        Purpose.SAFEGUARDING, [DataCategory.ADDRESS])
    police = world.file("officer", sensitive=False)
    pending = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=support.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY}), justification="MARAC on Thursday."))
    released = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=support.case_id, recipient_org_id=world.orgs["police"],
        purpose=Purpose.SAFEGUARDING, categories=frozenset({DataCategory.ADDRESS}),
        flags=frozenset({"emergency"}), justification="Threat to life."))
    facts = provenance.case_facts(world.instance, world.users["cw"], support.case_id)
    consent = next(f.id for f in facts.consents if f.recipient is Recipient.POLICE)
    to_marac = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=support.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.CRIME_DETAILS}), justification="MARAC referral."))
    disclosure.approve(world.instance, world.users["sup2"], to_marac)
    ask = disclosure.ask_for_disclosure(
        world.instance, world.users["officer"], holder_org_id=world.orgs["support"],
        reference=support.reference, purpose=Purpose.SAFEGUARDING,
        categories=[DataCategory.CONTACT])
    action = casework.add_safety_action(world.instance, world.users["cw"], support.case_id,
                                        "Change the locks", owner_id=world.users["cw"].id,
                                        due="2026-12-20")
    marac = practice.add_marac_action(world.instance, world.users["cw"], support.case_id,
                                      "Housing to fit a sanctuary scheme", agency="housing",
                                      due="2026-12-20", referral_id=to_marac)
    return Fixture(world, support.case_id, police.case_id, pending, released, consent, asked,
                   to_marac, ask, action, marac)


Walks = dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]


def _evidence(fx: Fixture, world: StaffWorld) -> str:
    """A photo attached to the support case (issue 18), for the download walk."""
    from tests.support.evidence_files import jpeg_with_gps

    return evidence.attach_for_staff(world.instance, world.users["cw"], fx.support_case,
                                     io.BytesIO(jpeg_with_gps()))


def _held(world: StaffWorld) -> str:
    """A report from the public form held in quarantine (issue 19), for the quarantine walk."""
    from safereport.services import intake

    submission = intake.parse_submission({"mode": "anonymous", "crime_type": "other",
                                          "narrative": "Cheap watches at www.spam.example"})
    return intake.submit_report(world.instance, submission, suspicion="honeypot").case_id


def _walks(fx: Fixture, world: StaffWorld) -> Walks:
    """For each (method, route path): the concrete requests to make."""
    cases = [fx.support_case, fx.police_case]
    held = _held(world)
    answers = {f"q-{item_id}": "yes" for item_id in DEFAULT_CHECKLIST.ids}
    abuse = {f"q-{item_id}": "yes" for item_id in IMMIGRATION_ABUSE_CHECKLIST.ids}
    return {
        ("GET", "/staff/sign-in"): [("/staff/sign-in", {})],
        ("POST", "/staff/sign-in"): [("/staff/sign-in", {"username": "nobody",
                                                          "password": "wrong password!"})],
        ("GET", "/staff/totp"): [("/staff/totp", {})],
        ("POST", "/staff/totp"): [("/staff/totp", {"code": "000000"})],
        ("GET", "/staff/"): [("/staff/", {})],
        ("GET", "/staff/cases"): [("/staff/cases?status=new", {})],
        ("GET", "/staff/search"): [("/staff/search?kind=phone&q=07700900123", {}),
                                   ("/staff/search?kind=reference&q=NOPE", {}),
                                   ("/staff/search?kind=claim_code&q=3HS9-628M-53CH-66ZN", {})],
        ("GET", "/staff/cases/new"): [("/staff/cases/new", {})],
        ("POST", "/staff/cases/new"): [("/staff/cases/new", {
            "crime_type": "domestic_abuse", "subject_role": "victim",
            "narrative": "Filed in the route walk.", "phone": "07700 900999"})],
        ("GET", "/staff/cases/{case_id}"): [(f"/staff/cases/{c}", {}) for c in cases]
        + [(f"/staff/cases/{fx.support_case}?purpose=regularisation_support", {})],
        ("POST", "/staff/cases/{case_id}/notes"): [
            (f"/staff/cases/{c}/notes", {"text": "walk note"}) for c in cases],
        ("POST", "/staff/cases/{case_id}/status"): [
            (f"/staff/cases/{c}/status", {"status": "in_progress"}) for c in cases]
        + [(f"/staff/cases/{fx.support_case}/status", {"status": "dormant"})],
        ("POST", "/staff/cases/{case_id}/outcomes/{stage}"): [
            (f"/staff/cases/{c}/outcomes/{stage}", {"o-safety": "2", "o-abuse": "1"})
            for c in cases for stage in ("entry", "exit")],
        ("POST", "/staff/cases/{case_id}/marac-actions"): [
            (f"/staff/cases/{c}/marac-actions", {"action": "IDVA to call weekly",
                                                 "agency": "idva", "due": "2026-12-24"})
            for c in cases],
        ("POST", "/staff/cases/{case_id}/transfer"): [
            (f"/staff/cases/{c}/transfer", {"to_org": world.orgs["other_support"],
                                            "justification": "She moved."}) for c in cases],
        ("POST", "/staff/cases/{case_id}/marac-actions/{action_id}/done"): [
            (f"/staff/cases/{fx.support_case}/marac-actions/{fx.marac_action}/done", {}),
            (f"/staff/cases/{fx.police_case}/marac-actions/nope/done", {})],
        ("GET", "/staff/cases/{case_id}/evidence"): [
            (f"/staff/cases/{c}/evidence", {}) for c in cases],
        ("POST", "/staff/cases/{case_id}/evidence"): [
            (f"/staff/cases/{c}/evidence", {"keep_uncleaned": "1"}) for c in cases],
        ("GET", "/staff/cases/{case_id}/evidence/{evidence_id}"): [
            (f"/staff/cases/{fx.support_case}/evidence/{_evidence(fx, world)}", {}),
            (f"/staff/cases/{fx.police_case}/evidence/" + "0" * 32, {})],
        ("GET", "/staff/cases/{case_id}/evidence/{evidence_id}/play"): [
            (f"/staff/cases/{fx.support_case}/evidence/{_evidence(fx, world)}/play", {}),
            (f"/staff/cases/{fx.police_case}/evidence/" + "0" * 32 + "/play", {})],
        ("GET", "/staff/cases/{case_id}/risk"): [(f"/staff/cases/{c}/risk", {}) for c in cases],
        ("POST", "/staff/cases/{case_id}/language"): [
            (f"/staff/cases/{c}/language", {"language": "Arabic; reads little English",
                                            "need": ["needed", "female"]}) for c in cases],
        ("POST", "/staff/cases/{case_id}/safety-plan"): [
            (f"/staff/cases/{c}/safety-plan", {"action": "Panic alarm fitted",
                                               "owner": world.users["cw"].id,
                                               "due": "2026-12-24"}) for c in cases],
        ("POST", "/staff/cases/{case_id}/safety-plan/{action_id}/done"): [
            (f"/staff/cases/{fx.support_case}/safety-plan/{fx.safety_action}/done", {}),
            (f"/staff/cases/{fx.police_case}/safety-plan/nope/done", {})],
        ("POST", "/staff/cases/{case_id}/assign"): [
            (f"/staff/cases/{c}/assign", {"assignee": world.users["sup2"].id}) for c in cases],
        ("GET", "/staff/cases/{case_id}/immigration-abuse"): [
            (f"/staff/cases/{c}/immigration-abuse", {}) for c in cases],
        ("POST", "/staff/cases/{case_id}/immigration-abuse"): [
            (f"/staff/cases/{c}/immigration-abuse", abuse) for c in cases],
        ("POST", "/staff/cases/{case_id}/risk"): [(f"/staff/cases/{c}/risk", answers)
                                                  for c in cases],
        ("GET", "/staff/cases/{case_id}/disclose"): [
            (f"/staff/cases/{c}/disclose?ask=x&category=identity+address", {})
            for c in cases],
        ("POST", "/staff/cases/{case_id}/disclose"): [
            (f"/staff/cases/{c}/disclose", {
                "recipient_org": world.orgs["ie"], "purpose": "immigration_enforcement",
                "category": ["identity", "address"], "status_evidence": "suspected"})
            for c in cases],
        ("POST", "/staff/cases/{case_id}/consents"): [
            (f"/staff/cases/{c}/consents", {"consent": "police/investigation"}) for c in cases],
        ("POST", "/staff/cases/{case_id}/requests"): [
            (f"/staff/cases/{c}/requests", {"asked": "housing/safeguarding",
                                            "category": ["address"]}) for c in cases],
        ("POST", "/staff/cases/{case_id}/facts/{kind}/{fact_id}/confirm"): [
            (f"/staff/cases/{fx.support_case}/facts/consent/{fx.waiting_consent}/confirm", {}),
            (f"/staff/cases/{fx.support_case}/facts/request/{fx.waiting_request}/confirm", {})],
        ("POST", "/staff/disclosures/{request_id}/retry"): [
            (f"/staff/disclosures/{fx.released_to_police}/retry", {})],
        ("GET", "/staff/disclosures/{request_id}"): [
            (f"/staff/disclosures/{fx.pending}", {}),
            (f"/staff/disclosures/{fx.released_to_police}", {})],
        ("POST", "/staff/disclosures/{request_id}/justification"): [
            (f"/staff/disclosures/{fx.pending}/justification", {"justification": "why"})],
        ("POST", "/staff/disclosures/{request_id}/approve"): [
            (f"/staff/disclosures/{fx.pending}/approve", {})],
        ("POST", "/staff/disclosures/{request_id}/send-back"): [
            (f"/staff/disclosures/{fx.pending}/send-back", {"reason": "say more"})],
        ("POST", "/staff/disclosures/{request_id}/refuse"): [
            (f"/staff/disclosures/{fx.pending}/refuse", {"reason": "no"}),
            (f"/staff/disclosures/{fx.released_to_marac}/refuse", {"reason": "too late"})],
        ("POST", "/staff/disclosures/{request_id}/withdraw"): [
            (f"/staff/disclosures/{fx.pending}/withdraw", {"reason": "not needed"}),
            (f"/staff/disclosures/{fx.released_to_police}/withdraw", {"reason": ""})],
        ("GET", "/staff/approvals"): [("/staff/approvals", {})],
        ("GET", "/staff/returns"): [("/staff/returns?year=2026&by=month", {})],
        ("GET", "/staff/returns.csv"): [("/staff/returns.csv", {})],
        ("GET", "/staff/inbox"): [("/staff/inbox", {})],
        ("GET", "/staff/inbox/{request_id}"): [
            (f"/staff/inbox/{fx.released_to_marac}", {}),
            (f"/staff/inbox/{fx.pending}", {}), ("/staff/inbox/not-a-package", {})],
        ("POST", "/staff/inbox/{request_id}/accept"): [
            (f"/staff/inbox/{fx.released_to_police}/accept", {})],
        ("GET", "/staff/asks"): [("/staff/asks", {})],
        ("POST", "/staff/asks/{ask_id}/decline"): [
            (f"/staff/asks/{fx.ask}/decline", {"reason": "Not without her consent."}),
            ("/staff/asks/nope/decline", {"reason": "x"})],
        ("POST", "/staff/asks"): [("/staff/asks", {
            "holder": world.orgs["support"], "reference": "ABC123", "purpose": "safeguarding",
            "category": ["contact"]})],
        ("GET", "/staff/audit"): [("/staff/audit", {})],
        # The quarantine (issue 19): the first caseworker opens, marks, then releases the held
        # report; everyone after finds it gone (a denial on record), or has no quarantine.
        ("GET", "/staff/quarantine"): [("/staff/quarantine", {})],
        ("GET", "/staff/quarantine/{case_id}"): [(f"/staff/quarantine/{held}", {}),
                                                 (f"/staff/quarantine/{fx.support_case}", {})],
        ("POST", "/staff/quarantine/{case_id}/not-real"): [
            (f"/staff/quarantine/{held}/not-real", {})],
        ("POST", "/staff/quarantine/{case_id}/release"): [
            (f"/staff/quarantine/{held}/release", {}), ("/staff/quarantine/nope/release", {})],
        ("POST", "/staff/audit/verify"): [("/staff/audit/verify", {})],
        ("POST", "/staff/audit/cosignatures"): [
            ("/staff/audit/cosignatures", {"note": "not a note", "vkey": "x"})],
        ("GET", "/staff/foi"): [("/staff/foi", {}), ("/staff/foi?round=walk", {})],
        ("POST", "/staff/foi/rounds"): [("/staff/foi/rounds", {"name": "walk",
                                                               "question": "Do you share?"})],
        ("POST", "/staff/foi/send"): [("/staff/foi/send", {
            "round": "walk", "date": "2026-12-18", "force": "kent-police"})],
        ("POST", "/staff/foi/answer"): [("/staff/foi/answer", {
            "round": "walk", "force": "kent-police", "classification": "shares"})],
        # Staff administration (issue 20): aimed at the admin's own account, so the walk
        # changes nobody's sign-in (each is refused or changes nothing).
        ("GET", "/staff/password"): [("/staff/password", {})],
        ("POST", "/staff/password"): [("/staff/password", {"password": "x" * 12,
                                                           "password_again": "x" * 12})],
        ("GET", "/staff/admin"): [("/staff/admin", {})],
        ("GET", "/staff/admin/account"): [("/staff/admin/account?username=admin", {})],
        ("POST", "/staff/admin/accounts"): [("/staff/admin/accounts", {
            "org": "Safe Haven Support", "username": "walked", "display_name": "Walked",
            "role": "caseworker"})],
        ("POST", "/staff/admin/disable"): [("/staff/admin/disable", {"username": "admin"})],
        ("POST", "/staff/admin/enable"): [("/staff/admin/enable", {"username": "admin"})],
        ("POST", "/staff/admin/role"): [("/staff/admin/role", {"username": "admin",
                                                               "role": "admin"})],
        ("POST", "/staff/admin/password"): [("/staff/admin/password", {"username": "admin"})],
        ("POST", "/staff/admin/factor-reset"): [("/staff/admin/factor-reset", {
            "username": "admin", "reason": "walk"})],
        ("POST", "/staff/admin/factor-reset/confirm"): [
            ("/staff/admin/factor-reset/confirm", {"username": "health"})],
        ("POST", "/staff/admin/factor-reset/cancel"): [
            ("/staff/admin/factor-reset/cancel", {"username": "health"})],
        ("POST", "/staff/sign-out"): [("/staff/sign-out", {})],
    }


def _staff_routes() -> set[tuple[str, str]]:
    """Every route under /staff of every router the app registers."""
    found = set()
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"safereport.web.{name}")
        for route in module.router.routes:
            path = getattr(route, "path", "")
            if path.startswith("/staff"):
                for method in getattr(route, "methods", set()) - {"HEAD"}:
                    found.add((method, path))
    return found


@contextmanager
def _request(spy: Spy, where: str) -> Iterator[None]:
    spy.reset()
    yield
    spy.check(where)


def test_every_route_as_every_role_is_decided_and_recorded(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = sqlite_world
    fx = _fixture(world)
    spy = _install(world, monkeypatch)
    packages_read: set[str] = set()
    walks = _walks(fx, world)
    total_opens = 0
    denials = 0
    app = create_app(world.instance)
    assert _staff_routes() == set(walks), "a staff route has no walk in this test"
    for username in STAFF:
        client = signed_in(world, username, TestClient(app, follow_redirects=False))
        token = csrf_of(client.get("/staff/").text)
        for (method, _path), requests in walks.items():
            if (method, _path) == ("POST", "/staff/sign-out"):
                continue  # walked last
            for url, data in requests:
                where = f"{username} {method} {url}"
                with _request(spy, where):
                    if method == "GET":
                        response = client.get(url)
                    else:
                        response = client.post(url, data={"csrf_token": token, **data})
                    assert response.status_code < 500, where
                    total_opens += len(spy.opened)
                    if spy.packages:
                        packages_read.add(username)
                    denials += sum(d.effect is Effect.DENY for d in spy.decided)
                    if STAFF[username][1].value in ("auditor", "admin", "analyst"):
                        assert not spy.opened, f"{where}: {username} opened case data"
        with _request(spy, f"{username} sign-out"):
            client.post("/staff/sign-out", data={"csrf_token": token})
            assert not spy.decided
    assert total_opens > 20 and denials > 10  # the walk really read and really was refused
    assert packages_read == {"marac"}  # the MARAC read its referral; nobody else could


def test_the_spy_catches_an_unrecorded_open() -> None:
    from safereport.policy.decision import UnsafeGrantForTests

    spy = Spy()
    spy.opened.append(UnsafeGrantForTests(frozenset({DataCategory.IDENTITY}), case_id="c"))
    with pytest.raises(AssertionError, match="without a fresh entry"):
        spy.check("an open with no decision behind it")
