"""Spearman's rank correlation with Spark jobs of our own (Spark's ``Correlation.corr(...,
"spearman")`` regroups boxed, Java-serialized tuples several times: about 30x its Pearson).

With r a value's rank among its column's n values (ties get their average rank) and
``d = 2r - (n + 1)`` (an integer: the sum of the tie group's first and last rank, less n + 1;
its mean is exactly 0), Spearman's rho is ``S_ij / sqrt(S_ii * S_jj)`` with ``S = D^T D``: no
means, no tie corrections. Two exchanges make it: the values grouped by column (each column
ranked in one task with numpy), then the ranks grouped back by row (each task adds its rows'
D^T D). What the exchanges move is columnar: a block of up to ``BLOCK`` rows of one input
partition becomes one row per column holding that block's values as bytes, so Spark shuffles a
few large rows instead of a row per value, and a row is the same position in every column's
block (no row id). Only the partial k x k sums reach the driver.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

BLOCK = 1 << 20                      # rows of one input partition shuffled together, per column


def _table(batches: Iterable[pa.RecordBatch]) -> pa.Table | None:
    """A partition's batches as one table; None for an empty partition (no batch at all)."""
    import pyarrow as pa
    found = list(batches)
    table = pa.Table.from_batches(found) if found else None
    return table if table is not None and table.num_rows else None


def _blocks(k: int, size: int) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def blocks(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """A partition's rows as blocks of ``size`` rows, each as k rows ``(c, part, seq, v)``:
        column c's values of the block as float64 bytes."""
        import numpy as np
        import pyarrow as pa
        from pyspark import TaskContext
        table = _table(batches)
        if table is None:
            return
        context = TaskContext.get()              # set in every task
        part = context.partitionId() if context is not None else 0
        for seq, at in enumerate(range(0, table.num_rows, size)):
            block = table.slice(at, size)
            values = [np.ascontiguousarray(block.column(c).to_numpy(), np.float64).tobytes()
                      for c in range(k)]
            yield pa.RecordBatch.from_arrays(
                [pa.array(range(k), pa.int32()), pa.array([part] * k, pa.int32()),
                 pa.array([seq] * k, pa.int32()), pa.array(values, pa.binary())],
                names=["c", "part", "seq", "v"])
    return blocks


def _rank(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each column of the partition (``c``) ranked whole, back as blocks ``(c, part, seq, d)``
    (d: int64 bytes, in the block's row order)."""
    import numpy as np
    import pyarrow as pa
    table = _table(batches)
    if table is None:
        return
    cols = table.column("c").to_numpy()
    for c in np.unique(cols):
        mine = table.filter(pa.array(cols == c)).sort_by([("part", "ascending"),
                                                          ("seq", "ascending")])
        pieces = [np.frombuffer(b, np.float64) for b in mine.column("v").to_pylist()]
        v = np.concatenate(pieces)
        n = len(v)
        order = np.argsort(v, kind="stable")
        ordered = v[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])   # tie groups
        ends = np.r_[starts[1:], n] - 1
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        d = np.empty(n, dtype=np.int64)
        d[order] = starts[group] + ends[group] + 1 - n       # 2 * average rank - (n + 1)
        bounds = np.cumsum([len(p) for p in pieces])[:-1]
        parts, seqs = mine.column("part").to_pylist(), mine.column("seq").to_pylist()
        for part, seq, ranks in zip(parts, seqs, np.split(d, bounds)):   # a batch per block
            yield pa.RecordBatch.from_arrays(
                [pa.array([c], pa.int32()), pa.array([part], pa.int32()),
                 pa.array([seq], pa.int32()), pa.array([ranks.tobytes()], pa.binary())],
                names=["c", "part", "seq", "d"])


def _gram(k: int) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def gram(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Each block's k columns of ranks side by side as D, and the sum of D^T D."""
        import numpy as np
        import pyarrow as pa
        table = _table(batches)
        if table is None:
            return
        table = table.sort_by([("part", "ascending"), ("seq", "ascending"), ("c", "ascending")])
        cols = table.column("c").to_numpy()
        blobs = table.column("d").to_pylist()
        s = np.zeros((k, k))
        if len(cols) % k or (cols.reshape(-1, k) != np.arange(k)).any():
            raise RuntimeError("rank correlation: a block's columns were not all found together")
        for at in range(0, len(cols), k):
            columns = [np.frombuffer(b, np.int64) for b in blobs[at:at + k]]
            if len({len(x) for x in columns}) != 1:
                raise RuntimeError("rank correlation: a block's columns differ in length")
            rows = np.column_stack(columns).astype(np.float64)
            s += rows.T @ rows
        yield pa.RecordBatch.from_arrays([pa.array([s.ravel().tolist()])], names=["g"])
    return gram


def by_column(blocks: DataFrame, k: int) -> DataFrame:
    """``blocks`` (of columns ``c`` 0 to k - 1) in k partitions, column c in partition c:
    hashing c itself sent several columns to some tasks and none to others (of 20 columns,
    about 13 tasks got one); each c goes by a key whose hash is c's own partition."""
    from pyspark.sql import functions as F
    keys = _partition_keys(blocks.sparkSession, k)
    return blocks.repartition(k, F.element_at(F.array(*map(F.lit, keys)), F.col("c") + 1))


def _partition_keys(spark: SparkSession, k: int) -> list[int]:
    """For each of ``k`` partitions, an int that ``repartition(k, key)`` sends there (Spark
    hash-partitions by ``pmod(hash(key), k)``): the least of 64 candidates per partition (that
    none reaches one: less than e^-64). Found by a small Spark job once per ``k`` (the hash
    does not depend on the session)."""
    if k in _KEYS:
        return _KEYS[k]
    from pyspark.sql import functions as F
    found = (spark.range(64 * k).select(F.col("id").cast("int").alias("key"))
             .groupBy(F.pmod(F.hash("key"), F.lit(k)).alias("p")).agg(F.min("key").alias("key"))
             .collect())
    keys = {r["p"]: r["key"] for r in found}
    if len(keys) != k:
        raise RuntimeError(f"rank correlation: no key found for {k - len(keys)} of {k} tasks")
    _KEYS[k] = [keys[p] for p in range(k)]
    return _KEYS[k]


_KEYS: dict[int, list[int]] = {}


def spearman(rows: DataFrame, complete: int, block: int = BLOCK) -> list[list[float]]:
    """Spearman's correlation matrix of ``rows``'s columns (doubles, no null or NaN: the
    ``complete`` rows); NaN where a column is constant."""
    import numpy as np
    k = len(rows.columns)
    spark = rows.sparkSession
    blocks = rows.mapInArrow(_blocks(k, block), "c int, part int, seq int, v binary")
    ranked = by_column(blocks, k).mapInArrow(_rank, "c int, part int, seq int, d binary")
    # at most a few blocks per task (each block: k columns of 8-byte ranks)
    tasks = max(int(spark.conf.get("spark.sql.shuffle.partitions") or 1),
                math.ceil(complete / block) + rows.rdd.getNumPartitions())
    partials = (ranked.repartition(tasks, "part", "seq").mapInArrow(_gram(k), "g array<double>")
                .collect())                              # one k x k matrix per task
    s = np.sum([np.array(r.g).reshape(k, k) for r in partials], axis=0)
    scale = np.sqrt(np.outer(np.diag(s), np.diag(s)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, s / np.where(scale > 0, scale, 1), np.nan).tolist()
