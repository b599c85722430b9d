"""A Seal for tests that write to the vault directly, with no guard and no ledger behind it."""

from __future__ import annotations

from sqlalchemy import Connection

from safereport.domain.vocabulary import DataCategory
from safereport.policy.decision import Seal, UnsafeSealForTests


def unsafe_seal(conn: Connection, case_id: str, action: str = "update") -> Seal:
    """A Seal covering every category of ``case_id``, for ``conn``'s open transaction."""
    return UnsafeSealForTests(frozenset(DataCategory), case_id=case_id, transaction=conn,
                              action=action)
