"""Transformation functions: one definition, run by Spark offline and by Python online.

A ``TransformationFunction`` is a built-in (``builtins.BUILTINS``: its statistics are Spark
aggregations over the training split, its offline form a Spark expression, its online form plain
Python over the same statistics) or a user's function over pandas Series made with :func:`udf`
(offline a pandas UDF on the executors, online the same function over one-row Series). Calling
one binds it to features, as in the Hopsworks client::

    scaler = fs.get_transformation_function("min_max_scaler")
    fs.create_feature_view("churn", query, transformation_functions=[scaler("tenure")])

The bound form (:class:`Bound`) names its output columns as the Hopsworks client does
(``min_max_scaler_tenure_``; a function with several outputs: ``one_hot_encoder_contract_0``,
``_1``, ... in the order of the sorted categories).
"""

from __future__ import annotations

import builtins
import dis
import inspect
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..errors import InvalidInputError
from ..names import feature as feature_name, name_problem

# a UDF's return type: the Python type (as the Hopsworks client takes it) or a Spark type name
OUTPUT_TYPES = {float: "double", int: "bigint", str: "string", bool: "boolean"}
SPARK_TYPES = ("double", "float", "bigint", "int", "string", "boolean")


def output_type(value: Any) -> str | None:
    if value in OUTPUT_TYPES:
        return OUTPUT_TYPES[value]
    return value if value in SPARK_TYPES else None


@dataclass(frozen=True)
class TransformationFunction:
    """A transformation function (see the module's docstring). ``fn`` is None for built-ins."""
    name: str
    version: int = 1
    output_type: str = "double"
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)

    @property
    def builtin(self) -> bool:
        return self.fn is None

    def __call__(self, *features: str, **params: Any) -> Bound:
        """Bind the function to ``features`` (built-in binners take ``n_bins=``)."""
        from .builtins import BUILTINS
        features = tuple(str(feature_name(f)) if isinstance(f, str) else f for f in features)
        problems = [] if features else [f"name the feature(s) {self.name} transforms"]
        problems += [p for f in features if (p := name_problem("feature", f))]
        if self.builtin:
            spec = BUILTINS[self.name]
            if len(features) != 1:
                problems.append(f"{self.name} transforms one feature, got {len(features)}")
            problems += [f"{self.name} has no parameter {k!r} (its parameters: "
                         f"{', '.join(spec.params) or 'none'})" for k in params if k not in spec.params]
            problems += spec.param_problems({**spec.params, **params})
            params = {**spec.params, **params}
        elif params:
            problems.append(f"{self.name} is a user-defined function: it takes features only")
        elif (n := len(inspect.signature(self.fn).parameters)) != len(features):   # type: ignore[arg-type]
            problems.append(f"{self.name} takes {n} feature(s), got {len(features)}")
        if problems:
            raise InvalidInputError(f"cannot bind transformation function {self.name!r}", problems)
        return Bound(self, features, dict(params))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "output_type": self.output_type,
                "builtin": self.builtin, "source": self.source}


@dataclass(frozen=True)
class Bound:
    """A transformation function bound to its input features (and its parameters)."""
    function: TransformationFunction
    features: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.function.name}_{'_'.join(self.features)}_"

    def outputs(self, statistics: Mapping[str, Any]) -> list[str]:
        """The output column names (a one-hot encoder's depend on the training categories)."""
        from .builtins import BUILTINS
        if self.function.builtin:
            n = BUILTINS[self.function.name].outputs(statistics, self.params)
            if n is not None:
                return [f"{self.prefix}{i}" for i in range(n)]
        return [self.prefix]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.function.name, "version": self.function.version,
                "features": list(self.features), "params": dict(self.params)}


def udf(return_type: Any) -> Callable[[Callable[..., Any]], TransformationFunction]:
    """Make a transformation function of ``fn(series, ...) -> series`` (pandas Series in, one
    Series out, of ``return_type``: float, int, str, bool or a Spark type name). Its source is
    kept, so that ``fs.create_transformation_function(fn, version)`` registers it.

    Examples
    --------
    >>> @udf(float)
    ... def plus_one(x):
    ...     return x + 1
    >>> plus_one("age").prefix
    'plus_one_age_'
    """
    kind = output_type(return_type)
    if kind is None:
        raise InvalidInputError("cannot make a transformation function", [
            f"return type {return_type!r} is not one of float, int, str, bool or "
            f"{', '.join(SPARK_TYPES)}"])

    def wrap(fn: Callable[..., Any]) -> TransformationFunction:
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            source = None        # defined where Python keeps no source: cannot be registered
        return TransformationFunction(fn.__name__, 1, kind, fn, source)

    return wrap


def from_source(name: str, version: int, source: str, kind: str) -> TransformationFunction:
    """A registered user-defined function made again from its kept source."""
    import math

    import numpy as np
    import pandas as pd
    namespace: dict[str, Any] = {"udf": udf, "pd": pd, "np": np, "math": math}
    exec(compile(source, f"<transformation function {name} v{version}>", "exec"), namespace)  # noqa: S102
    made = namespace.get(name)
    fn = made.fn if isinstance(made, TransformationFunction) else made
    if not callable(fn):
        raise InvalidInputError(f"cannot load transformation function {name!r}", [
            f"its kept source defines no function {name!r}"], write=False)
    missing = sorted(n for n in _globals(fn.__code__) if n not in namespace and n not in
                     dir(builtins))
    if missing:
        raise InvalidInputError(f"cannot load transformation function {name!r}", [
            f"it uses {', '.join(missing)}, defined outside its source (only pd, np and math "
            "are given): import or define them inside the function"], write=False)
    return TransformationFunction(name, version, kind, fn, source)


def _globals(code: types.CodeType) -> set[str]:
    """The global names a function's code (and the code nested in it) reads."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _globals(const)
    return names
