"""Setters shared by the builders that write: the statistics settings of hops-util-py, and the
expectation suite a feature group's writes are validated with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from ..statistics.config import StatisticsConfig


class StatisticsSetters:
    """``setNumBins(10).setCorrMethod("spearman")``: each changes one setting of the builder's
    statistics (starting from the defaults; on an insert they replace the feature group's own
    settings for that commit)."""

    def _statistics(self, **changes: Any) -> Any:
        base = self.spec.statistics or StatisticsConfig()          # type: ignore[attr-defined]
        return self._with(statistics=replace(base, **changes))     # type: ignore[attr-defined]

    def setStatistics(self, config: StatisticsConfig) -> Any:
        """All the settings at once."""
        return self._with(statistics=config)                       # type: ignore[attr-defined]

    def setStatisticsEnabled(self, enabled: bool = True) -> Any:
        """``False``: no statistics computed on write (they can be computed on demand)."""
        return self._statistics(enabled=enabled)

    def setDescriptiveStatistics(self, on: bool = True) -> Any:
        return self._statistics(descriptive_statistics=on)

    def setFeatureCorrelation(self, on: bool = True) -> Any:
        return self._statistics(feature_correlation=on)

    def setFeatureHistograms(self, on: bool = True) -> Any:
        return self._statistics(feature_histograms=on)

    def setClusterAnalysis(self, on: bool = True) -> Any:
        return self._statistics(cluster_analysis=on)

    def setStatColumns(self, columns: Iterable[str]) -> Any:
        return self._statistics(stat_columns=tuple(columns))

    def setNumBins(self, num_bins: int) -> Any:
        return self._statistics(num_bins=num_bins)

    def setCorrMethod(self, corr_method: str) -> Any:
        """``pearson`` (default) or ``spearman``."""
        return self._statistics(corr_method=corr_method)

    def setNumClusters(self, num_clusters: int) -> Any:
        return self._statistics(num_clusters=num_clusters)


def statistics_config(statistics: StatisticsConfig | None = None, **hops: Any) -> StatisticsConfig | None:
    """``statistics``, else the hops-util-py keyword settings given (None values left out) over
    the defaults; None when neither is given."""
    given: dict[str, Any] = {k: (tuple(v) if k == "stat_columns" else v)
                             for k, v in hops.items() if v is not None}
    if statistics is not None:
        return replace(statistics, **given)
    return StatisticsConfig(**given) if given else None
