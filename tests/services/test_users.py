"""Staff administration: list, disable (ending sessions at once), enable; and the refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from safereport.cli import main
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import InvalidInput
from safereport.services.auth import (
    SessionState,
    SignInOutcome,
    authenticate,
    get_user,
    load_session,
    start_session,
    totp_sealer,
)
from safereport.services.instance import Instance, open_instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org, add_user, disable_user, enable_user, list_users

PASSWORD = "a synthetic password"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instance]:
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    opened = open_instance(init_instance(tmp_path / "inst"))
    with opened.engine.begin() as conn:
        add_org(conn, "Harbour (synthetic)", OrgKind.SUPPORT_SERVICE)
    for username, role in [("amara", ActorRole.CASEWORKER), ("root1", ActorRole.ADMIN)]:
        add_user(opened, org_name="Harbour (synthetic)", username=username,
                 display_name=f"{username} (synthetic)", role=role, password=PASSWORD)
    yield opened
    opened.close()


def _sign_in(instance: Instance, username: str) -> SignInOutcome:
    with instance.engine.begin() as conn:
        return authenticate(conn, username=username, password=PASSWORD, totp_code=None,
                            totp=totp_sealer(instance.settings)).outcome


def _session_for(instance: Instance, username: str) -> str:
    account = next(a for a in list_users(instance) if a.username == username)
    with instance.engine.begin() as conn:
        user = get_user(conn, account.id)
        assert user is not None
        return start_session(conn, user, SessionState.ENROL)


def _live(instance: Instance, token: str) -> bool:
    with instance.engine.begin() as conn:
        return load_session(conn, token) is not None


def test_disabling_ends_sessions_and_sign_in_and_enabling_restores_sign_in(
    instance: Instance,
) -> None:
    tokens = [_session_for(instance, "amara") for _ in range(2)]
    other = _session_for(instance, "root1")
    assert all(_live(instance, t) for t in tokens)
    change = disable_user(instance, "amara")
    assert (change.changed, change.sessions_ended) == (True, 2)
    assert not any(_live(instance, t) for t in tokens)
    assert _live(instance, other)  # only hers
    assert _sign_in(instance, "amara") is SignInOutcome.REFUSED
    account = next(a for a in list_users(instance) if a.username == "amara")
    assert (account.active, account.sessions) == (False, 0)
    again = disable_user(instance, "amara")
    assert (again.changed, again.sessions_ended) == (False, 0)
    assert enable_user(instance, "amara").changed
    assert _sign_in(instance, "amara") is SignInOutcome.ENROL
    assert not enable_user(instance, "amara").changed
    # Re-enabling brings back no old session: she signs in afresh.
    assert not any(_live(instance, t) for t in tokens)


def test_the_last_active_admin_cannot_be_disabled(instance: Instance) -> None:
    with pytest.raises(InvalidInput, match="last active admin"):
        disable_user(instance, "root1")
    add_user(instance, org_name="Harbour (synthetic)", username="root2",
             display_name="root2 (synthetic)", role=ActorRole.ADMIN, password=PASSWORD)
    assert disable_user(instance, "root1").changed
    with pytest.raises(InvalidInput, match="last active admin"):
        disable_user(instance, "root2")


def test_unknown_accounts_are_refused(instance: Instance) -> None:
    for change in (disable_user, enable_user):
        with pytest.raises(InvalidInput, match="no staff account called 'nobody'"):
            change(instance, "nobody")


def test_the_commands(instance: Instance) -> None:
    root = str(instance.settings.data_dir)
    _session_for(instance, "amara")

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["--data-dir", root, "user", *args])

    listed = run("list")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "amara\tcaseworker\tHarbour (synthetic)\tactive, not enrolled\t1 session(s)\t"
        "amara (synthetic)",
        "root1\tadmin\tHarbour (synthetic)\tactive, not enrolled\t0 session(s)\t"
        "root1 (synthetic)",
    ]
    assert run("disable", "amara").output == "amara disabled; 1 session(s) ended\n"
    assert "\tdisabled\t0 session(s)" in run("list").output
    assert run("enable", "amara").output == "amara enabled\n"
    refused = run("disable", "root1")
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        "error: root1 is the last active admin account; enable another first"
    )
