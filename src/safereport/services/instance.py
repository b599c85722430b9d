"""An instance: its settings and its database, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from safereport.config import CONFIG_FILE, Settings, load_settings
from safereport.errors import InstanceError
from safereport.store.db import check_database, make_engine

__all__ = ["Instance", "open_instance"]


@dataclass
class Instance:
    """What every service needs: settings and an engine (the guard, vault and ledger hang here)."""

    settings: Settings
    engine: Engine

    def close(self) -> None:
        self.engine.dispose()


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
