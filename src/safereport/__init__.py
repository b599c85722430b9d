"""safereport: safe reporting of crime and abuse for migrant victims, with a provable firewall."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
