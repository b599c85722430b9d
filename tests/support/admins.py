"""A second (third...) administrator in a staff world, enrolled like the others."""

from __future__ import annotations

import pyotp
from sqlalchemy import select, update
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.domain.vocabulary import ActorRole
from safereport.services import auth
from safereport.store.core import users
from safereport.store.ledger import ledger_entries


def add_admin(world: StaffWorld, name: str = "admin2") -> auth.StaffUser:
    sealer = auth.totp_sealer(world.instance.settings)
    with world.instance.engine.begin() as conn:
        user_id = auth.create_user(conn, org_id=world.orgs["support"], username=name,
                                   display_name=name.title(), role=ActorRole.ADMIN,
                                   password=PASSWORD,
                                   hasher=world.instance.settings.password_hasher)
        secret = pyotp.random_base32()
        conn.execute(update(users).where(users.c.id == user_id)
                     .values(totp_secret=sealer.seal(secret, user_id)))
        staff = auth.get_user(conn, user_id)
    assert staff is not None
    world.secrets[name] = secret
    world.users[name] = staff
    return staff


def ledger_top(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        found = conn.execute(select(ledger_entries.c.idx).order_by(
            ledger_entries.c.idx.desc()).limit(1)).scalar()
    return -1 if found is None else int(found)


def ledger_after(world: StaffWorld, after: int) -> list[dict[str, object]]:
    """The parsed records of the ledger's entries after index ``after``."""
    from safereport.ledger.record import parse_leaf

    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.leaf).where(ledger_entries.c.idx > after)
                            .order_by(ledger_entries.c.idx)).scalars().all()
    return [parse_leaf(bytes(r)) for r in rows]
