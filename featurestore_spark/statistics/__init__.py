"""Statistics of feature groups computed as Spark jobs: descriptive statistics, histograms,
correlations and clusters (``compute``), their drift between two commits (``compare``) and
their figures (``visualize``).

Examples
--------
>>> from featurestore_spark.statistics import StatisticsConfig, compute, histogram_figure
>>> stats = compute(df, StatisticsConfig(num_bins=10))                      # doctest: +SKIP
>>> save_figure(histogram_figure(stats, "goals"), "goals.png")             # doctest: +SKIP
"""

from .compare import compare
from .compute import compute
from .config import StatisticsConfig, config_problems
from .visualize import cluster_figure, correlation_figure, histogram_figure, save_figure

__all__ = ["StatisticsConfig", "cluster_figure", "compare", "compute", "config_problems",
           "correlation_figure", "histogram_figure", "save_figure"]
