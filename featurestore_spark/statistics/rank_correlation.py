"""Spearman's rank correlation with Spark jobs of our own (Spark's ``Correlation.corr(...,
"spearman")`` regroups boxed, Java-serialized tuples several times: about 30x its Pearson).

With r a value's rank among its column's n values (ties get their average rank) and
``d = 2r - (n + 1)`` (an integer: the sum of the tie group's first and last rank, less n + 1;
its mean is exactly 0), Spearman's rho is ``S_ij / sqrt(S_ii * S_jj)`` with ``S = D^T D``: no
means, no tie corrections. Two exchanges make it: the values grouped by column (each column
ranked in one task with numpy), then the ranks grouped by row (each task adds its rows' D^T D).
Only the partial k x k sums reach the driver.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

ROWS_PER_GRAM_TASK = 5_000_000       # stacked values a task of the second exchange holds


def _table(batches: Iterable[pa.RecordBatch]) -> pa.Table | None:
    """A partition's batches as one table; None for an empty partition (no batch at all)."""
    import pyarrow as pa
    found = list(batches)
    table = pa.Table.from_batches(found) if found else None
    return table if table is not None and table.num_rows else None


def _rank(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each column of the partition (``c``) ranked whole: ``(id, c, d)``."""
    import numpy as np
    import pyarrow as pa
    table = _table(batches)
    if table is None:
        return
    ids, cols, values = (table.column(n).to_numpy() for n in ("id", "c", "v"))
    for c in np.unique(cols):
        mine = cols == c
        v, n = values[mine], int(mine.sum())
        order = np.argsort(v, kind="stable")
        ordered = v[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])   # tie groups
        ends = np.r_[starts[1:], n] - 1
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        d = np.empty(n, dtype=np.int64)
        d[order] = starts[group] + ends[group] + 1 - n       # 2 * average rank - (n + 1)
        yield pa.RecordBatch.from_arrays(
            [pa.array(ids[mine]), pa.array(np.full(n, c, dtype=np.int32)), pa.array(d)],
            names=["id", "c", "d"])


def _gram(k: int) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def gram(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The partition's rows (each has its k ranks here) as D, and D^T D."""
        import numpy as np
        import pyarrow as pa
        table = _table(batches)
        if table is None:
            return
        ids, cols, d = (table.column(n).to_numpy() for n in ("id", "c", "d"))
        order = np.lexsort((cols, ids))                       # by row, then column
        by_row = ids[order]
        if len(by_row) % k or (by_row.reshape(-1, k) != by_row[::k, None]).any():
            raise RuntimeError("rank correlation: a row's values were numbered apart (a Spark "
                               "plan change?): every row id must carry one value per column")
        rows = d[order].astype(np.float64).reshape(-1, k)
        yield pa.RecordBatch.from_arrays([pa.array([(rows.T @ rows).ravel().tolist()])],
                                         names=["g"])
    return gram


def spearman(rows: DataFrame, complete: int) -> list[list[float]]:
    """Spearman's correlation matrix of ``rows``'s columns (doubles, no null or NaN: the
    ``complete`` rows); NaN where a column is constant."""
    import numpy as np
    from pyspark.sql import functions as F
    k = len(rows.columns)
    numbered = rows.select(F.monotonically_increasing_id().alias("id"),     # one per row: in
                           *[F.col(f"`{c}`").alias(f"x{i}") for i, c in enumerate(rows.columns)])
    stacked = numbered.select(                                              # its own projection
        "id", F.explode(F.array(*[F.struct(F.lit(i).alias("c"), F.col(f"x{i}").alias("v"))
                                  for i in range(k)])).alias("e")).select("id", "e.c", "e.v")
    ranked = stacked.repartition(k, "c").mapInArrow(_rank, "id long, c int, d long")
    spark = rows.sparkSession
    tasks = max(int(spark.conf.get("spark.sql.shuffle.partitions") or 1),
                math.ceil(complete * k / ROWS_PER_GRAM_TASK))
    partials = (ranked.repartition(tasks, "id").mapInArrow(_gram(k), "g array<double>")
                .collect())                              # one k x k matrix per task
    s = np.sum([np.array(r.g).reshape(k, k) for r in partials], axis=0)
    scale = np.sqrt(np.outer(np.diag(s), np.diag(s)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, s / np.where(scale > 0, scale, 1), np.nan).tolist()
