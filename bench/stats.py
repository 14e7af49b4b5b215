"""Medians with their spread: every figure of the report is the median of several runs, reported
with min, max and the runs themselves."""

from __future__ import annotations

import statistics
from typing import Iterable


def summarize(values: Iterable[float]) -> dict[str, float | int | list[float]]:
    v = [float(x) for x in values]
    if not v:
        raise ValueError("no runs to summarize")
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v), "runs": v}


def percentile(values: Iterable[float], q: float) -> float:
    """q-th percentile (0..100), linear interpolation between closest ranks."""
    v = sorted(float(x) for x in values)
    if not v:
        raise ValueError("no values")
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fmt_spread(s: dict, digits: int = 2, unit: str = "") -> str:
    """'1.23 (1.10–1.40, n=3)'."""
    f = f"{{:.{digits}f}}"
    if s["median"] and abs(s["median"]) < 10 ** -digits * 10:
        f = "{:.3g}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])}, n={s['n']})"
