"""The pieces a Query is made of: the parts it reads (feature groups at a commit, or a DataFrame
of labels) and the joins between them, with how join keys are found and checked.

Everything here is a frozen dataclass and is checked when it is made; nothing reads data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, cast

from ..metadata import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType

JOIN_TYPES = ("inner", "left", "right", "full", "left_semi", "left_anti")
JOIN_TYPE_ALIASES = {"outer": "full", "full_outer": "full", "fullouter": "full",
                     "left_outer": "left", "leftouter": "left", "right_outer": "right",
                     "rightouter": "right", "semi": "left_semi", "leftsemi": "left_semi",
                     "anti": "left_anti", "leftanti": "left_anti"}
PIT_JOIN_TYPES = ("left", "inner")
TIME_TYPES = ("timestamp", "timestamp_ntz", "date")
ORDINAL_TYPES = ("int", "bigint", "smallint", "tinyint")
NUMERIC_TYPES = ORDINAL_TYPES + ("float", "double") + ("decimal",)
LABELS = "labels"


def join_type_of(join_type: Any) -> str | None:
    """The canonical name of a join type (``outer`` -> ``full``), or None when unknown."""
    if not isinstance(join_type, str):
        return None
    name = join_type.lower()
    name = JOIN_TYPE_ALIASES.get(name, name)
    return name if name in JOIN_TYPES else None


@dataclass(frozen=True)
class Part:
    """One source of rows: a feature group version (at a commit or a point in time), or the
    labels DataFrame a query starts from."""
    features: tuple[str, ...]                       # selected, in output order
    group: FeatureGroup | None = None               # None: the labels
    filters: tuple[str, ...] = ()                   # SQL expressions over this part's columns
    as_of: int | str | None = None                  # a commit id, an ISO time (UTC), None: latest
    labels: DataFrame | None = field(default=None, compare=False, repr=False)
    label_event_time: str | None = None

    @property
    def alias(self) -> str:
        return self.group.name if self.group is not None else LABELS

    @property
    def title(self) -> str:
        g = self.group
        return f"{g.name} v{g.version}" if g is not None else "the labels"

    @property
    def columns(self) -> tuple[str, ...]:
        if self.group is not None:
            return self.group.feature_names
        return tuple(self.labels.columns) if self.labels is not None else ()

    @property
    def primary_key(self) -> tuple[str, ...]:
        return self.group.primary_key if self.group is not None else ()

    @property
    def event_time(self) -> str | None:
        return self.group.event_time if self.group is not None else self.label_event_time

    def type_of(self, column: str) -> str:
        """The Spark SQL type of a column, as ``DataType.simpleString()``."""
        if self.group is not None:
            return next(f.type for f in self.group.features if f.name == column)
        labels = cast("DataFrame", self.labels)   # a part without a group is the labels part
        return labels.schema[column].dataType.simpleString()

    def data_type(self, column: str) -> DataType:
        if self.group is None:
            labels = cast("DataFrame", self.labels)   # a part without a group is the labels part
            return labels.schema[column].dataType
        from pyspark.sql.types import DataType
        return DataType.fromDDL(self.type_of(column))


@dataclass(frozen=True)
class Join:
    """A part joined onto the parts before it. ``left_keys`` name (part index, column) pairs of
    the left side; ``using`` (keys of the same names, given with ``on`` or inferred) gives each
    key one output column, as SQL's ``JOIN ... USING``."""
    right: Part
    left_keys: tuple[tuple[int, str], ...]
    right_keys: tuple[str, ...]
    join_type: str = "left"
    using: bool = True
    prefix: str = ""
    point_in_time: bool = False
    max_age: float | None = None                    # seconds (or event-time units for numbers)


def _has(part: Part, column: str) -> bool:
    return column in part.columns


def find_left(parts: Sequence[Part], column: str) -> tuple[int, str] | None:
    """The first part (in join order) that has ``column``, or ``alias.column``'s part."""
    alias, _, name = column.rpartition(".")
    for i, part in enumerate(parts):
        if (not alias or part.alias == alias) and _has(part, name):
            return i, name
    return None


def infer_keys(parts: Sequence[Part], right: Part) -> tuple[tuple[int, str], ...] | None:
    """The join keys of ``right`` onto ``parts``: the first left part (in join order) that has
    every column of the right feature group's primary key, or whose own primary key the right
    one has; keys of several columns are matched whole."""
    for i, part in enumerate(parts):
        if right.primary_key and all(_has(part, k) for k in right.primary_key):
            return tuple((i, k) for k in right.primary_key)
        if part.primary_key and all(_has(right, k) for k in part.primary_key):
            return tuple((i, k) for k in part.primary_key)
    return None


def type_family(type_name: str) -> str:
    """Which types compare with which, for join keys and event times."""
    base = type_name.split("(")[0]
    if base in NUMERIC_TYPES:
        return "number"
    if base in TIME_TYPES:
        return "time"
    return base


def key_problems(parts: Sequence[Part], join: Join) -> list[str]:
    """Keys whose types cannot be compared (a string with a number, say)."""
    problems = []
    for (i, left), right in zip(join.left_keys, join.right_keys):
        lt, rt = parts[i].type_of(left), join.right.type_of(right)
        if type_family(lt) != type_family(rt):
            problems.append(f"join key {parts[i].alias}.{left} is {lt} but "
                            f"{join.right.alias}.{right} is {rt}: they do not compare")
    return problems


def event_time_kind(part: Part) -> str | None:
    """``time`` or ``number`` for an event time the point-in-time join can order by."""
    if part.event_time is None:
        return None
    base = part.type_of(part.event_time)
    return "time" if base in TIME_TYPES else "number" if base in ORDINAL_TYPES else None


def orderable(data_type: DataType) -> bool:
    """Whether Spark can sort by a column of this type (maps and variants cannot)."""
    from pyspark.sql.types import ArrayType, MapType, StructType
    if isinstance(data_type, MapType) or data_type.typeName() == "variant":
        return False
    if isinstance(data_type, ArrayType):
        return orderable(data_type.elementType)
    if isinstance(data_type, StructType):
        return all(orderable(f.dataType) for f in data_type.fields)
    return True
