"""Interleaved rounds and their medians: every variant measured in every round, in turn."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping


def interleaved(measures: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each measure once a round, the order rotating each round, so drift hits all alike."""
    names = list(measures)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(measures[name]())
    return samples


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float]) -> float:
    """Half the distance between the middle quartiles, relative to the median."""
    if len(values) < 4:
        return 0.0
    low, _, high = statistics.quantiles(values, n=4)
    return float((high - low) / 2 / statistics.median(values))


def paired_ratio(numerators: list[float], denominators: list[float]) -> dict[str, float]:
    """The median of each round's ratio (what drifts between rounds cancels within one), and
    the quartiles of those ratios: how far one round's ratio strays."""
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"ratio": median(ratios), "q1": float(low), "q3": float(high)}
