"""Figures of computed statistics: a feature's histogram, the correlation heat map and the cluster
scatter. Each is a ``matplotlib.figure.Figure`` on the Agg canvas, made without pyplot (so no
global figure state, and no display needed).

Examples
--------
>>> save_figure(correlation_figure(stats), "correlations.png")               # doctest: +SKIP
PosixPath('correlations.png')
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SETTINGS = {"histograms": "feature_histograms", "correlations": "feature_correlation",
            "clusters": "cluster_analysis"}
ANNOTATE_UP_TO = 12        # write the coefficients in the heat map's cells up to this many columns


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _part(stats: Mapping[str, Any], part: str, what: str) -> Any:
    """``stats[part]``, or an InvalidInputError saying why it is missing."""
    if part in stats:
        return stats[part]
    present = [p for p in ("descriptive", *SETTINGS) if p in stats]
    why = [n for n in stats.get("notes", []) if n.startswith(f"no {part[:-1]}")]
    raise InvalidInputError(what, [
        f"statistics have no {part} (computed: {', '.join(present) or 'nothing'})"
        + (f": {'; '.join(why)}" if why else f"; compute them with {SETTINGS[part]}=True")],
        write=False)


def histogram_figure(stats: Mapping[str, Any], feature: str) -> Figure:
    """A bar chart of ``feature``'s histogram: equal-width bins of a numeric feature, the top
    values (and the rest as "other") of a categorical one.

    Examples
    --------
    >>> histogram_figure(stats, "goals").axes[0].get_title()                    # doctest: +SKIP
    'goals (3 null)'
    """
    histograms = _part(stats, "histograms", "histogram figure")
    if feature not in histograms:
        raise InvalidInputError("histogram figure", [
            f"statistics have no histogram of {feature!r}: computed for "
            f"{', '.join(histograms) or 'no feature'}"], write=False)
    h = histograms[feature]
    figure = _figure()
    ax = figure.add_subplot()
    if h["kind"] == "numeric":
        ax.stairs(h["counts"], h["edges"], fill=True, alpha=0.8)
        ax.set_xlabel(feature)
    else:
        labels = [str(v) for v in h["values"]] + (["(other)"] if h.get("other") else [])
        counts = list(h["counts"]) + ([h["other"]] if h.get("other") else [])
        ax.bar(range(len(counts)), counts)
        ax.set_xticks(range(len(counts)), labels, rotation=45, ha="right")
    ax.set_ylabel("rows")
    ax.set_title(f"{feature} ({h.get('null_count', 0)} null)")
    return figure


def correlation_figure(stats: Mapping[str, Any]) -> Figure:
    """A heat map of the correlation matrix (-1 to 1) with the columns' names and a colorbar;
    a blank cell where a coefficient is undefined (a constant column)."""
    corr = _part(stats, "correlations", "correlation figure")
    columns = corr["columns"]
    matrix = [[math.nan if v is None else v for v in row] for row in corr["matrix"]]
    size = max(4.0, 0.5 * len(columns) + 2.5)
    figure = _figure(size + 1.2, size)
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(columns)), columns)
    if len(columns) <= ANNOTATE_UP_TO:
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if abs(v) > 0.6 else "black")
    figure.colorbar(image, ax=ax, label=f"{corr['method']} correlation")
    ax.set_title(f"{corr['method'].capitalize()} correlation ({corr.get('rows', '?')} rows)")
    return figure


def cluster_figure(stats: Mapping[str, Any]) -> Figure:
    """A scatter of the sampled rows projected on their first two principal components (of the
    standardized numeric columns), coloured by k-means cluster."""
    clusters = _part(stats, "clusters", "cluster figure")
    p = clusters["projection"]
    figure = _figure()
    ax = figure.add_subplot()
    from matplotlib import colormaps
    cmap = colormaps["tab10" if clusters["k"] <= 10 else "tab20"]
    for c in range(clusters["k"]):
        xs = [x for x, k in zip(p["x"], p["cluster"]) if k == c]
        ys = [y for y, k in zip(p["y"], p["cluster"]) if k == c]
        ax.scatter(xs, ys, s=12, color=cmap(c % cmap.N),
                   label=f"cluster {c} ({clusters['sizes'][c]} rows)")
    explained = list(p.get("explained_variance") or []) + [None, None]
    for axis, name, share in ((ax.xaxis, "PC1", explained[0]), (ax.yaxis, "PC2", explained[1])):
        axis.set_label_text(name + (f" ({share:.0%} of variance)" if share is not None else ""))
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"k-means, k={clusters['k']} ({len(p['x'])} of {clusters.get('rows', '?')} "
                 "rows shown)")
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG file at ``path`` (its folder made if missing); the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", dpi=100)
    return target
