"""Integration tokens: stored hashed, scoped, revocable, rate-limited per token, never a
person's sign-in (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from tests.support.api import make_token
from tests.support.ledger_entries import entries
from tests.support.staff_world import StaffWorld

from safereport.errors import InvalidInput
from safereport.services import auth, integrations
from safereport.services.integrations import IntegrationRefused, Refusal, Scope
from safereport.store.api_tokens import api_tokens
from safereport.store.tables import metadata


def _every_stored_text(world: StaffWorld) -> str:
    """Every value of every table, as text: a secret must be in none of them."""
    found = []
    with world.instance.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                found.extend(repr(value) for value in row)
    return "\n".join(found)


def test_a_token_is_stored_only_as_its_hash(world: StaffWorld) -> None:
    secret = make_token(world, "police-link")
    assert secret.startswith("srk_") and len(secret) > 40
    with world.instance.engine.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.name == "police-link")).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = _every_stored_text(world)
    assert secret not in stored and secret[4:] not in stored
    # And the secret is what opens it: its hash alone is not a token.
    assert integrations.authenticate(world.instance, secret).name == "police-link"
    with pytest.raises(IntegrationRefused) as refused:
        integrations.authenticate(world.instance, row.token_hash)
    assert refused.value.refusal is Refusal.UNAUTHORIZED


def test_the_service_account_acts_for_its_organisation_and_role_and_never_signs_in(
    world: StaffWorld,
) -> None:
    make_token(world, "centre", org="Safe Haven Support", role="caseworker",
               scopes=("third_party:file",))
    caller = integrations.authenticate(world.instance, make_token(world, "other"))
    assert caller.user.org_id == world.orgs["police"]
    assert caller.user.role.value == "police_system" and caller.user.system
    [info] = [t for t in integrations.list_tokens(world.instance) if t.name == "centre"]
    assert (info.org_name, info.role, info.scopes) == (
        "Safe Haven Support", "caseworker", ("third_party:file",))
    with world.instance.engine.begin() as conn:
        for password in ("", "!integration-account", "integration:centre"):
            signed = auth.authenticate(conn, username="integration:centre", password=password,
                                       totp_code=None, totp=auth.totp_sealer(
                                           world.instance.settings),
                                       hasher=world.instance.settings.password_hasher)
            assert signed.user is None
    # Even enabled and given a password by someone, it does not sign in: only its token acts.
    from sqlalchemy import update

    from safereport.store.core import users

    with world.instance.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "integration:centre").values(
            active=True, password_hash=auth.hash_password(
                "a long enough password", world.instance.settings.password_hasher)))
        signed = auth.authenticate(conn, username="integration:centre",
                                   password="a long enough password", totp_code=None,
                                   totp=auth.totp_sealer(world.instance.settings),
                                   hasher=world.instance.settings.password_hasher)
    assert signed.user is None


def test_a_revoked_token_is_refused_from_its_next_call(world: StaffWorld) -> None:
    secret = make_token(world, "to-revoke")
    integrations.authenticate(world.instance, secret)
    assert integrations.revoke_token(world.instance, "to-revoke") is True
    assert integrations.revoke_token(world.instance, "to-revoke") is False
    with pytest.raises(IntegrationRefused) as refused:
        integrations.authenticate(world.instance, secret)
    assert refused.value.refusal is Refusal.TOKEN_REVOKED
    [info] = integrations.list_tokens(world.instance)
    assert info.revoked_at is not None
    added, revoked = entries(world.instance)[-2:]
    assert added["actor"]["id"] == revoked["actor"]["id"] == "operator:cli"
    assert added["detail"]["outcome"] == "api_token_added"
    assert (added["detail"]["token"], added["detail"]["role"], added["detail"]["scopes"]) == (
        "to-revoke", "police_system", " ".join(s.value for s in Scope))
    assert revoked["detail"] == {"outcome": "api_token_revoked", "token": "to-revoke"}
    with pytest.raises(InvalidInput, match="no token named"):
        integrations.revoke_token(world.instance, "never-made")


def test_a_scope_the_token_lacks_is_refused_on_record(world: StaffWorld) -> None:
    secret = make_token(world, "inbox-only", scopes=("inbox:read",))
    caller = integrations.authenticate(world.instance, secret)
    integrations.require_scope(world.instance, caller, Scope.INBOX_READ, "GET /inbox")
    before = len(entries(world.instance))
    with pytest.raises(IntegrationRefused) as refused:
        integrations.require_scope(world.instance, caller, Scope.THIRD_PARTY_FILE,
                                   "POST /third-party-reports")
    assert refused.value.refusal is Refusal.FORBIDDEN_SCOPE
    [entry] = entries(world.instance)[before:]
    assert entry["decision"] == "deny" and entry["actor"]["id"] == caller.actor_id
    assert entry["detail"] == {"outcome": "scope_refused", "event": "api_call",
                               "operation": "POST /third-party-reports",
                               "scope": "third_party:file", "automated": "true"}


def test_the_rate_is_per_token_per_minute_and_holds_in_the_database(world: StaffWorld) -> None:
    slow = make_token(world, "slow", rate=3)
    other = make_token(world, "other", rate=3)
    minute = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
    for _ in range(3):
        integrations.authenticate(world.instance, slow, now=minute)
    with pytest.raises(IntegrationRefused) as refused:
        integrations.authenticate(world.instance, slow, now=minute + timedelta(seconds=50))
    assert refused.value.refusal is Refusal.RATE_LIMITED
    integrations.authenticate(world.instance, other, now=minute)  # its own count
    integrations.authenticate(world.instance, slow, now=minute + timedelta(seconds=60))
    with world.instance.engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT name, window_count FROM api_tokens")).all())
    assert counts == {"slow": 1, "other": 1}


@pytest.mark.parametrize("bad", ["", "Bearer", "srk_", "srk_" + "x" * 300, "nope", "srk_\x00"])
def test_malformed_secrets_are_refused(world: StaffWorld, bad: str) -> None:
    with pytest.raises(IntegrationRefused) as refused:
        integrations.authenticate(world.instance, bad)
    assert refused.value.refusal is Refusal.UNAUTHORIZED


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Bad Name"}, "a token name"),
    ({"role": "admin"}, "cannot act as admin"),
    ({"role": "supervisor"}, "cannot act as supervisor"),
    ({"role": "caseworker"}, "cannot belong to a police"),
    ({"scopes": ()}, "at least one scope"),
    ({"scopes": ("everything",)}, "unknown scope"),
    ({"org": "Nobody"}, "no organisation"),
    ({"rate_per_minute": 0}, "calls a minute"),
])
def test_token_settings_are_checked(world: StaffWorld, kwargs: dict[str, object],
                                    message: str) -> None:
    given: dict[str, object] = {"name": "ok", "org": "Example Police", "role": "police_system",
                                "scopes": ("inbox:read",), **kwargs}
    with pytest.raises(InvalidInput, match=message):
        integrations.add_token(world.instance, **given)  # type: ignore[arg-type]
    assert integrations.list_tokens(world.instance) == []


def test_the_cli_adds_lists_and_revokes_tokens(sqlite_world: StaffWorld) -> None:
    from safereport.cli import main

    world = sqlite_world  # the CLI opens the instance's own database from its data directory
    directory = str(world.instance.settings.data_dir)
    runner = CliRunner()
    added = runner.invoke(main, ["--data-dir", directory, "api", "token", "add", "force-link",
                                 "--org", "Example Police", "--role", "police_system",
                                 "--scope", "inbox:read", "--scope", "ledger:proof",
                                 "--rate", "30"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("srk_")
    assert integrations.authenticate(world.instance, secret).scopes == {
        Scope.INBOX_READ, Scope.LEDGER_PROOF}
    again = runner.invoke(main, ["--data-dir", directory, "api", "token", "add", "force-link",
                                 "--org", "Example Police", "--role", "police_system",
                                 "--scope", "inbox:read"])
    assert again.exit_code == 2 and "exists already" in again.output
    listed = runner.invoke(main, ["--data-dir", directory, "api", "token", "list"])
    assert "force-link\tExample Police\tpolice_system\tinbox:read ledger:proof\t30/min\tactive" \
        in listed.stdout and secret not in listed.stdout
    revoked = runner.invoke(main, ["--data-dir", directory, "api", "token", "revoke",
                                   "force-link"])
    assert revoked.exit_code == 0 and "force-link revoked" in revoked.stdout
    with pytest.raises(IntegrationRefused):
        integrations.authenticate(world.instance, secret)


def test_the_rate_holds_across_workers(world: StaffWorld) -> None:
    """Two workers (two engines, two instances) share one count per token."""
    from safereport.services.instance import Instance
    from safereport.store.db import make_engine

    secret = make_token(world, "shared", rate=3)
    other = Instance(settings=world.instance.settings,
                     engine=make_engine(world.instance.settings.effective_database_url()))
    minute = datetime(2026, 12, 1, 12, 30, 1, tzinfo=UTC)
    try:
        integrations.authenticate(world.instance, secret, now=minute)
        integrations.authenticate(other, secret, now=minute)
        integrations.authenticate(world.instance, secret, now=minute)
        with pytest.raises(IntegrationRefused) as refused:
            integrations.authenticate(other, secret, now=minute + timedelta(seconds=1))
    finally:
        other.close()
    assert refused.value.refusal is Refusal.RATE_LIMITED
