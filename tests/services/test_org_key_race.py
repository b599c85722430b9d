"""Audit: two workers making a recipient's key pair at once leave one pair that opens."""

from __future__ import annotations

import threading
import time

import pytest
from tests.support.staff_world import StaffWorld

from safereport.services.disclosure_seal import ensure_org_key, open_package, seal_package


@pytest.mark.postgres
def test_racing_workers_agree_on_one_key_pair(world: StaffWorld) -> None:
    instance = world.instance
    if instance.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises whole transactions; the race needs PostgreSQL")
    keys = instance.settings.keys_dir
    org = world.orgs["marac"]
    second: list[bytes] = []

    def later_worker() -> None:
        with instance.engine.begin() as conn:
            second.append(ensure_org_key(conn, keys, org))

    with instance.engine.begin() as conn:
        first = ensure_org_key(conn, keys, org)
        racer = threading.Thread(target=later_worker)
        racer.start()
        time.sleep(0.5)  # the second worker is now inside ensure_org_key, waiting or not
    racer.join(timeout=10)
    assert second == [first]
    sealed = seal_package(first, b"r1", b"payload")
    assert open_package(keys, org, b"r1", sealed) == b"payload"
