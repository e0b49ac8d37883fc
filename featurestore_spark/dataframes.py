"""Hand a Spark DataFrame over as the type the caller asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def convert(df: DataFrame, dataframe_type: str) -> Any:
    """``spark`` returns ``df``; ``pandas``, ``numpy`` and ``python`` bring the rows to the driver,
    which the caller asked for (use them for results that fit in its memory)."""
    if dataframe_type == "spark":
        return df
    if dataframe_type == "python":
        return [row.asDict(recursive=True) for row in df.toLocalIterator()]
    pdf = df.toPandas()
    return pdf.to_numpy() if dataframe_type == "numpy" else pdf
