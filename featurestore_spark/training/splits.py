"""Splits of a training dataset: random by fractions with a seed, or by ranges of an event time.

A random split draws each row's number in [0, 1) from a seeded hash of the row's values
(``xxhash64``), not from ``randomSplit``: ``randomSplit`` draws per partition, so the same rows
split differently when they come in other partitions (another cluster size, another file
layout), while the hash gives every row the same split wherever and however often it runs.
That is what lets a training dataset be made again with the same rows in each split. Rows that
are equal in every column land in the same split. The fractions are met approximately, as with
``randomSplit``.

A time split keeps the rows whose event time is in ``[start, end)`` of each named range (a
missing bound is open); ranges may not overlap, and rows outside every range are left out.

The plan is a JSON-able dict the metadata records::

    {"kind": "none", "splits": []}
    {"kind": "random", "seed": 42, "splits": [{"name": "train", "fraction": 0.8}, ...]}
    {"kind": "time", "column": "ts", "splits": [{"name": "train", "start": "2020-01-01T00:00:00+00:00",
                                                 "end": null}, ...]}
"""

from __future__ import annotations

import math
import secrets
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, cast

from ..names import name_problem, quote

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TIME_TYPES = ("timestamp", "timestamp_ntz", "date")
INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
_HASH_RANGE = 1 << 53            # the hash as an exact double in [0, 1)


def _bound(value: Any) -> tuple[str | int | None, str | None]:
    """A range bound as recorded (ISO-8601 in UTC, an integer, or None), or a problem."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value, None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None, f"{value!r} is not an ISO-8601 date or timestamp"
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
        return value.astimezone(timezone.utc).isoformat(), None
    return None, f"{value!r} is not a time, a date, an ISO-8601 string or an integer"


def plan(splits: Mapping[str, Any] | None, seed: Any, column: str | None) -> tuple[dict, list[str]]:
    """The split plan of ``splits`` (``{name: fraction}`` or ``{name: (start, end)}``), and the
    problems of the request."""
    problems: list[str] = []
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.append(f"seed must be an integer, got {seed!r}")
    if not splits:
        if column is not None:
            problems.append("an event time to split by needs splits: {name: (start, end)}")
        return {"kind": "none", "splits": []}, problems
    if not isinstance(splits, Mapping):
        return {"kind": "none", "splits": []}, problems + [
            f"splits must be a dict of split name to fraction or (start, end), got {splits!r}"]
    problems += [p for p in (name_problem("split", n) for n in splits) if p]
    numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in splits.values()]
    if all(numbers):
        fractions = [float(v) for v in splits.values()]
        problems += [f"split {n!r} has fraction {v!r}: fractions must be above 0"
                     for n, v in splits.items() if not v > 0]
        if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            problems.append(f"the split fractions sum to {sum(fractions):g}, not 1 "
                            f"({', '.join(f'{n}={v}' for n, v in splits.items())})")
        if column is not None:
            problems.append("an event time to split by takes ranges, not fractions: "
                            "{name: (start, end)}")
        chosen = secrets.randbelow(1 << 31) if seed is None else seed
        return {"kind": "random", "seed": chosen,
                "splits": [{"name": n, "fraction": float(v)} for n, v in splits.items()]}, problems
    ranges = []
    for name, value in splits.items():
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            problems.append(f"split {name!r} is {value!r}: give every split a fraction, or every "
                            "split a (start, end) range of the event time")
            continue
        (start, p1), (end, p2) = _bound(value[0]), _bound(value[1])
        problems += [f"split {name!r}: {p}" for p in (p1, p2) if p]
        if not (p1 or p2):
            if type(start) is not type(end) and None not in (start, end):
                problems.append(f"split {name!r} mixes a time and an integer bound")
            # both ISO strings or both integers here (mixed types were caught above)
            elif start is not None and end is not None and not cast(Any, start) < end:
                problems.append(f"split {name!r} ends ({value[1]}) before it starts ({value[0]})")
            ranges.append({"name": name, "start": start, "end": end})
    if column is None:
        problems.append("splits by time need the event time column to split by "
                        "(event_time=... / setEventTime(...))")
    problems += _overlaps(ranges)
    return {"kind": "time", "column": column, "splits": ranges}, problems


def _overlaps(ranges: list[dict]) -> list[str]:
    def key(b: Any, low: bool) -> tuple:
        return (0 if low else 2,) if b is None else (1, datetime.fromisoformat(b) if
                                                      isinstance(b, str) else b)
    problems = []
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            try:
                if key(a["start"], True) < key(b["end"], False) and \
                        key(b["start"], True) < key(a["end"], False):
                    problems.append(f"splits {a['name']!r} and {b['name']!r} overlap")
            except TypeError:   # time against integer: reported above
                pass
    return problems


def frame_problems(df: DataFrame, split_plan: Mapping[str, Any]) -> list[str]:
    """What the DataFrame lacks for the plan: the event time column, of a time or integer type,
    with bounds of the same kind; a random split needs a column it can hash."""
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    if split_plan["kind"] == "random" and all("map<" in t for t in types.values()):
        return ["a random split hashes each row's values, and maps cannot be hashed: give the "
                "DataFrame a column of another type"]
    if split_plan["kind"] != "time" or split_plan["column"] is None:
        return []
    column = split_plan["column"]
    if column not in types:
        return [f"event time {column!r} to split by is not a column "
                f"(the columns are {', '.join(types)})"]
    kind = types[column]
    if kind not in TIME_TYPES + INTEGER_TYPES:
        return [f"event time {column!r} to split by is {kind}: it must be a timestamp, date "
                "or integer"]
    wants_int = kind in INTEGER_TYPES
    return [f"split {s['name']!r} has a {'time' if wants_int else 'number'} bound, but event "
            f"time {column!r} is {kind}" for s in split_plan["splits"]
            if any(b is not None and isinstance(b, int) != wants_int
                   for b in (s["start"], s["end"]))]


def _literal(bound: str | int, kind: str) -> Column:
    from pyspark.sql import functions as F
    if kind in INTEGER_TYPES:
        return F.lit(bound)
    instant = datetime.fromisoformat(str(bound))
    if kind == "timestamp":
        return F.lit(instant)
    # wall-clock types (date, timestamp_ntz) compare with the bound's UTC wall clock
    return F.lit(instant.replace(tzinfo=None).isoformat()).cast("timestamp_ntz")


def split_frames(df: DataFrame, split_plan: Mapping[str, Any]) -> list[tuple[str | None, DataFrame]]:
    """``[(split name, rows)]``; ``[(None, df)]`` without splits."""
    from pyspark.sql import functions as F
    if split_plan["kind"] == "none":
        return [(None, df)]
    out = []
    if split_plan["kind"] == "random":
        types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        hashed = [F.col(quote(c)) for c, t in types.items() if "map<" not in t]
        draw = F.pmod(F.xxhash64(F.lit(int(split_plan["seed"])), *hashed),
                      F.lit(_HASH_RANGE)) / F.lit(float(_HASH_RANGE))
        n, low = len(split_plan["splits"]), 0.0
        for i, s in enumerate(split_plan["splits"]):
            high = low + s["fraction"]           # the next split starts at this very value
            condition = F.lit(True)
            if i > 0:
                condition = condition & (draw >= F.lit(low))
            if i < n - 1:
                condition = condition & (draw < F.lit(high))
            out.append((s["name"], df.where(condition)))
            low = high
        return out
    column = split_plan["column"]
    kind = next(f.dataType.simpleString() for f in df.schema.fields if f.name == column)
    c = F.col(quote(column))
    if kind == "date":
        c = c.cast("timestamp_ntz")
    for s in split_plan["splits"]:
        condition = F.lit(True)
        if s["start"] is not None:
            condition = condition & (c >= _literal(s["start"], kind))
        if s["end"] is not None:
            condition = condition & (c < _literal(s["end"], kind))
        out.append((s["name"], df.where(condition)))
    return out
