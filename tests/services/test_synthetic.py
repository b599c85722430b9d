"""The bulk path seals exactly what the per-case path would, and stores no plaintext."""

from __future__ import annotations

from sqlalchemy import select

from safereport.domain.fields import FIELD_CATEGORY
from safereport.domain.synthetic import synthetic_cases
from safereport.policy.decision import UnsafeGrantForTests
from safereport.services.instance import Instance
from safereport.services.synthetic import DemoOrgs
from safereport.store.core import cases
from safereport.store.vault import vault_fields
from safereport.vault.blind import BlindKind


def test_bulk_sealed_cases_open_to_their_synthetic_content(demo: tuple[Instance, DemoOrgs]) -> None:
    instance, _ = demo
    expected = list(synthetic_cases(3, 60, len(demo[1].holders)))  # the fixture's seed and size
    with instance.engine.connect() as conn:
        rows = conn.execute(select(cases.c.id, cases.c.reference, cases.c.created_at)).all()
        by_time = {row.created_at.replace(tzinfo=None): row for row in rows}
        everything = frozenset(FIELD_CATEGORY.values())
        checked = 0
        for case in expected:
            row = by_time.get(case.created_at.replace(tzinfo=None))
            if row is None:  # two synthetic cases may share a minute; skip ambiguous ones
                continue
            grant = UnsafeGrantForTests(everything, case_id=row.id)
            opened = instance.vault.open_fields(conn, grant, row.id, list(case.fields))
            assert opened.values == case.fields
            assert instance.vault.find_cases(conn, BlindKind.REFERENCE, row.reference) == [row.id]
            if "phone" in case.fields:
                assert row.id in instance.vault.find_cases(
                    conn, BlindKind.PHONE, case.fields["phone"]
                )  # type: ignore[index]
            checked += 1
        assert checked >= 50
        stored = b"".join(conn.execute(select(vault_fields.c.ciphertext)).scalars())
    for case in expected[:20]:
        for value in case.fields.values():
            assert value.encode() not in stored
