"""How the statistics of a feature group moved between two commits: the change of each feature's
mean and null fraction, and its population stability index (PSI) over the histograms.

No data is read here: PSI comes from the two histograms alone. Numeric histograms with the same
edges (``compute(..., edges=old["histograms"][f]["edges"])`` bins a new commit on the old one's
edges) are compared bin by bin. Otherwise both are spread onto the union of their edges assuming
uniform density within each bin, which is an approximation. Categorical histograms are compared
over the union of their top values plus "other"; a value outside one side's top values counts 0
there (its rows are in that side's "other").

Examples
--------
>>> drift = compare(stats_v1, stats_v2)                                         # doctest: +SKIP
>>> drift["features"]["goals"]["psi"], drift["added"], drift["removed"]          # doctest: +SKIP
(0.013, ['assists'], [])
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any, Mapping, Sequence

from .compute import clean

EPSILON = 1e-6          # the share given to an empty bin, so that PSI stays finite
SAME_EDGES = "same edges"
UNION_GRID = "union grid (uniform density within bins)"
CATEGORICAL = "union of values plus other"


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The drift from the statistics ``old`` to ``new`` (both from :func:`compute`).

    Returns
    -------
    dict
        ``{"features": {name: {"kind", "mean_change", "null_fraction_change", "psi",
        "psi_method"}}, "added": [...], "removed": [...], "row_count_change": n}`` for the
        features described in both; a change is None where either side lacks the figure, and
        ``psi`` is None where either side has no histogram of the feature, no non-null value,
        or histograms of different kinds.

    Examples
    --------
    >>> compare(stats, stats)["features"]["goals"]["psi"]                        # doctest: +SKIP
    0.0
    """
    old_cols, new_cols = list(old.get("columns", [])), list(new.get("columns", []))
    features = {c: _feature(old, new, c) for c in new_cols if c in old_cols}
    return clean({"features": features,
                  "added": [c for c in new_cols if c not in old_cols],
                  "removed": [c for c in old_cols if c not in new_cols],
                  "row_count_change": _minus(new.get("row_count"), old.get("row_count"))})


def _feature(old: Mapping[str, Any], new: Mapping[str, Any], name: str) -> dict[str, Any]:
    mean = [s.get("descriptive", {}).get(name, {}).get("mean") for s in (old, new)]
    nulls = [_null_fraction(s, name) for s in (old, new)]
    hists = [s.get("histograms", {}).get(name) for s in (old, new)]
    psi, method, kind = None, None, None
    if all(hists):
        o, n = hists
        kind = o["kind"] if o["kind"] == n["kind"] else None
        if kind == "numeric":
            psi, method = _numeric_psi(o, n)
        elif kind == "categorical":
            psi, method = _categorical_psi(o, n), CATEGORICAL
    return {"kind": kind, "mean_change": _minus(mean[1], mean[0]),
            "null_fraction_change": _minus(nulls[1], nulls[0]), "psi": psi,
            "psi_method": method}


def _minus(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a - b
    return None


def _null_fraction(stats: Mapping[str, Any], name: str) -> float | None:
    rows = stats.get("row_count")
    part = (stats.get("descriptive", {}).get(name)
            or stats.get("histograms", {}).get(name) or {})
    nulls = part.get("null_count")
    return nulls / rows if rows and nulls is not None else None


def psi(expected: Sequence[float], actual: Sequence[float]) -> float | None:
    """Σ (a - e) · ln(a / e) over the bins' shares, an empty bin's share taken as EPSILON;
    None when either side has no rows."""
    e_total, a_total = sum(expected), sum(actual)
    if e_total <= 0 or a_total <= 0:
        return None
    total = 0.0
    for e, a in zip(expected, actual):
        p, q = max(e / e_total, EPSILON), max(a / a_total, EPSILON)
        total += (q - p) * math.log(q / p)
    return total


def _numeric_psi(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[float | None, str]:
    if list(old["edges"]) == list(new["edges"]):
        return psi(old["counts"], new["counts"]), SAME_EDGES
    grid = sorted(set(old["edges"]) | set(new["edges"]))
    return psi(_regrid(old, grid), _regrid(new, grid)), UNION_GRID


def _regrid(hist: Mapping[str, Any], grid: list[float]) -> list[float]:
    """The counts of ``hist`` spread over the bins of ``grid`` (a finer grid holding its edges),
    each bin's count split by length (uniform density within the bin)."""
    out = [0.0] * (len(grid) - 1)
    for (a, b), count in zip(pairwise(hist["edges"]), hist["counts"]):
        if not count:
            continue
        for j, (g0, g1) in enumerate(pairwise(grid)):
            overlap = min(b, g1) - max(a, g0)
            if overlap > 0:
                out[j] += count * overlap / (b - a)
    return out


def _categorical_psi(old: Mapping[str, Any], new: Mapping[str, Any]) -> float | None:
    values = list(dict.fromkeys([*old["values"], *new["values"]]))
    shares = []
    for h in (old, new):
        counts = dict(zip(h["values"], h["counts"]))
        shares.append([counts.get(v, 0) for v in values] + [h.get("other", 0)])
    return psi(shares[0], shares[1])
