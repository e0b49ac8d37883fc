"""DataFrames across the border: a Spark DataFrame handed over as the type a reader asked for
(``convert``), and the pandas DataFrames or numpy arrays given to a write as Spark DataFrames
(``as_spark``).

hops-util-py took pandas and numpy frames on every write; so does this package. They are data on
the driver already: they are converted there, through Arrow (a ``pyarrow.Table`` handed to
``createDataFrame``, so the conversion cannot fall back to a row-by-row path), then written like
any Spark DataFrame. Big data belongs in a Spark DataFrame from the start."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, reason

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def convert(df: DataFrame, dataframe_type: str) -> Any:
    """``spark`` returns ``df``; ``pandas``, ``numpy`` and ``python`` bring the rows to the driver,
    which the caller asked for (use them for results that fit in its memory)."""
    if dataframe_type == "spark":
        return df
    if dataframe_type == "python":
        return [row.asDict(recursive=True) for row in df.toLocalIterator()]
    pdf: Any = df.toPandas()   # pandas, not a dependency of the type check
    return pdf.to_numpy() if dataframe_type == "numpy" else pdf


def is_local_frame(data: Any) -> bool:
    """Whether ``data`` is a pandas DataFrame or a numpy array (without importing either)."""
    pandas, numpy = sys.modules.get("pandas"), sys.modules.get("numpy")
    return bool((pandas is not None and isinstance(data, pandas.DataFrame))
                or (numpy is not None and isinstance(data, numpy.ndarray)))


def lower_columns(df: Any, what: str, write: bool = True) -> Any:
    """A Spark DataFrame with its columns named as features are stored: lowercased
    (``names.feature``); a name invalid even lowercased is kept as given, for the checks to refuse
    in the user's spelling. Two columns that lowercase alike are an InvalidInputError (``write``:
    whether its message may say that nothing was written, i.e. the caller was to write)."""
    from .names import name_problem
    from .spec import is_dataframe
    if not is_dataframe(df):
        return df
    given = df.columns
    lowered = [c.lower() if name_problem("feature", c.lower()) is None else c for c in given]
    seen: dict[str, str] = {}
    problems = []
    for original, name in zip(given, lowered):
        if name in seen and seen[name] != original:
            problems.append(f"columns {seen[name]!r} and {original!r} are both feature {name!r} "
                            "(feature names are case-insensitive)")
        seen.setdefault(name, original)
    if problems:
        raise InvalidInputError(what, problems, write=write)
    return df if lowered == given else df.toDF(*lowered)


def as_spark(spark: SparkSession, data: Any, what: str, write: bool = True) -> DataFrame | Any:
    """``data`` as a Spark DataFrame when it is a pandas DataFrame or a 2-D numpy array (columns
    ``col_0``, ``col_1``, ...), its columns named as features are stored (``lower_columns``);
    anything else as it is, for the caller's checks to refuse. A frame Arrow cannot convert (a
    column of mixed types, say) is an InvalidInputError."""
    if not is_local_frame(data):
        return lower_columns(data, what, write)
    import pandas as pd
    import pyarrow as pa
    if not isinstance(data, pd.DataFrame):
        if data.ndim != 2:
            raise InvalidInputError(what, [f"a numpy array must have 2 dimensions (rows and "
                                           f"columns), got {data.ndim}"], write=write)
        data = pd.DataFrame(data, columns=[f"col_{i}" for i in range(data.shape[1])])
    problems = [f"column name {c!r} is not a string" for c in data.columns if not isinstance(c, str)]
    if len(set(data.columns)) != len(data.columns):
        problems.append("the pandas DataFrame has repeated column names")
    if problems:
        raise InvalidInputError(what, problems, write=write)
    try:
        table = pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InvalidInputError(what, [f"the pandas DataFrame cannot be converted through Arrow: "
                                       f"{reason(e)}"], write=write) from None
    untyped = [f.name for f in table.schema if pa.types.is_null(f.type)]
    if untyped:            # all None (or no rows) in an object column: Spark would make it void
        raise InvalidInputError(what, [f"column {c!r} has no value to tell its type (all None, or "
                                       "no rows): give it a dtype (df.astype)" for c in untyped],
                                write=write)
    log.info("%s: converting a pandas DataFrame of %d rows on the driver (through Arrow)",
             what, len(data))
    return lower_columns(spark.createDataFrame(table), what, write)
