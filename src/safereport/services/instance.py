"""An instance: its settings, its database, and the guard, vault and ledger built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from safereport.config import CONFIG_FILE, Settings, load_settings
from safereport.errors import InstanceError
from safereport.store.db import check_database, make_engine

if TYPE_CHECKING:
    from safereport.ledger.log import Ledger
    from safereport.ledger.publish import PublishRule
    from safereport.policy.guard import Guard
    from safereport.vault import Vault

__all__ = ["Instance", "open_instance"]


@dataclass
class Instance:
    """What every service needs. The guard, vault and ledger are built on first use."""

    settings: Settings
    engine: Engine
    _closed: bool = field(default=False, repr=False)

    @cached_property
    def guard(self) -> Guard:
        from safereport.policy.guard import load_guard

        return load_guard(self.settings)

    @cached_property
    def vault(self) -> Vault:
        from safereport.vault import open_vault

        return open_vault(self.settings)

    @cached_property
    def publishing(self) -> PublishRule:
        """What the log publishes: the witness quorum and padding settings (issue 16)."""
        from safereport.ledger.publish import announce, publish_rule

        rule = publish_rule(self.settings)
        announce(rule)  # the opt-out from the quorum is logged loudly
        return rule

    @cached_property
    def ledger(self) -> Ledger:
        from safereport.ledger.log import open_ledger
        from safereport.ledger.witness_client import attach_witnesses

        ledger = open_ledger(self.settings, self.engine)
        # Each checkpoint it signs is offered to the configured witnesses, in the background
        # (with padding, only the published ones).
        attach_witnesses(ledger, self.settings.witnesses,
                         padded=self.publishing.padded)
        return ledger

    def close(self) -> None:
        if "ledger" in self.__dict__:  # built: finish its batches, sign over what it appended
            self.ledger.close()
        self.engine.dispose()
        self._closed = True


def open_instance(data_dir: Path | str) -> Instance:
    """Open an instance made by ``safereport init``; a clear error if there is none."""
    directory = Path(data_dir).expanduser()
    if not (directory / CONFIG_FILE).is_file():
        raise InstanceError(
            f"no safereport instance in {directory} (run `safereport init --data-dir {directory}`)"
        )
    settings = load_settings(directory)
    engine = make_engine(settings.effective_database_url())
    check_database(engine)
    return Instance(settings=settings, engine=engine)
