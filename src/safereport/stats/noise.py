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
    "interval",
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

    This is OpenDP's own accuracy for the mechanism (``discrete_laplacian_scale_to_accuracy``
    gives ``a`` with ``P(|X| >= a) = 1 - confidence``; its floor keeps the coverage), so the
    interval printed beside a count is the one OpenDP states for that noise. In closed form,
    ``P(|X| >= t) = 2α^t / (1 + α)`` with ``α = exp(-1/scale)``.
    """
    if not (math.isfinite(scale) and scale > 0 and 0 < confidence < 1):
        raise InvalidInput("the noise scale must be positive and the confidence in (0, 1)")
    accuracy = dp.discrete_laplacian_scale_to_accuracy(float(scale), 1.0 - confidence, T=float)
    return max(0, math.floor(float(accuracy)))


def interval(noisy: int, error: int) -> tuple[int, int]:
    """The 95% interval for the true count: ``noisy ± error`` around the noisy count raised to
    0 (a count is never negative). Raising a negative estimate to 0 only moves it closer to the
    true count, and the cut at 0 excludes no possible count, so the coverage stays at least
    that of ``noisy ± error``; and the interval never collapses to "0 to 0"."""
    return max(0, noisy - error), max(0, noisy) + error
