"""Corrections to published releases. Releases are signed and never change, so an erratum is
published beside the release it corrects (``data/errata.yaml``), by release id or by format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import yaml

from safereport.stats.release import PublishedRelease

__all__ = ["Erratum", "errata_for", "load_errata"]


@dataclass(frozen=True)
class Erratum:
    date: date
    applies_to: str  # a release id or a release format
    text: str


@lru_cache(maxsize=1)
def load_errata() -> tuple[Erratum, ...]:
    raw = resources.files("safereport.stats").joinpath("data", "errata.yaml").read_text("utf-8")
    return tuple(
        Erratum(date.fromisoformat(str(item["date"])), str(item["applies_to"]),
                " ".join(str(item["text"]).split()))
        for item in yaml.safe_load(raw) or []
    )


def errata_for(release: PublishedRelease) -> list[Erratum]:
    """The errata that apply to ``release``, oldest first."""
    keys = {release.id, str(release.data.get("format", ""))}
    return [item for item in load_errata() if item.applies_to in keys]
