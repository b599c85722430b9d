"""Discrete Laplace noise from OpenDP, and what it means for a reader (error bounds).

``opendp.measurements.make_laplace`` over a vector of integers with the L1 distance is the
discrete Laplace (two-sided geometric) mechanism: each count gets independent noise ``X`` with
``P(X = x) ∝ exp(-|x| / scale)``. Released under L1 sensitivity ``Δ`` it is ``Δ/scale``-DP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp

from safereport.errors import InvalidInput

__all__ = [
    "NoisyCounts",
    "error_bound",
    "noise_variance",
    "release_counts",
    "table_mechanism",
]

dp.enable_features("contrib")

# Float rounding must never make a table cost more than its share of epsilon.
_SAFETY = 1.0 + 1e-9


@dataclass(frozen=True)
class NoisyCounts:
    counts: tuple[int, ...]
    scale: float
    epsilon: float  # what OpenDP says this release of the table costs


def table_mechanism(sensitivity: int, epsilon: float) -> tuple[Any, float]:
    """OpenDP's discrete Laplace measurement for a table, and its scale."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidInput(f"epsilon must be a positive number, not {epsilon}")
    scale = sensitivity / epsilon * _SAFETY
    domain = dp.vector_domain(dp.atom_domain(T=int))
    measurement = dp.m.make_laplace(domain, dp.l1_distance(T=int), scale=scale)
    return measurement, scale


def release_counts(counts: Sequence[int], sensitivity: int, epsilon: float) -> NoisyCounts:
    """Noisy ``counts`` at ``epsilon``; the privacy loss is OpenDP's own ``map`` of ``Δ``."""
    measurement, scale = table_mechanism(sensitivity, epsilon)
    spent = float(measurement.map(d_in=sensitivity))
    if spent > epsilon:
        raise InvalidInput("the noise scale does not meet the table's share of epsilon")
    noisy = measurement([int(c) for c in counts])
    return NoisyCounts(tuple(int(v) for v in noisy), scale, spent)


def noise_variance(scale: float) -> float:
    """Variance of discrete Laplace noise: 2α/(1-α)², α = exp(-1/scale)."""
    alpha = math.exp(-1.0 / scale)
    return 2 * alpha / (1 - alpha) ** 2


def error_bound(scale: float, confidence: float = 0.95) -> int:
    """The least ``t`` with ``P(|X| > t) <= 1 - confidence`` for discrete Laplace noise ``X``.

    ``P(|X| >= t) = 2α^t / (1 + α)`` for ``t >= 1``, so ``P(|X| > t) = 2α^(t+1) / (1 + α)``.
    """
    alpha = math.exp(-1.0 / scale)
    tail = 1.0 - confidence
    t = math.log(tail * (1 + alpha) / 2) / math.log(alpha) - 1
    return max(0, math.ceil(t - 1e-12))
