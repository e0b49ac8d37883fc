"""Expectation suites: read one in any of the forms great_expectations writes it (the suite
object, its 1.x dict or JSON, the 0.x dict hops-util-py users have), check every expectation with
great_expectations itself, and give back one canonical, JSON-serialisable dict.

great_expectations is imported only inside the functions that need it (``import_gx``): importing
it takes seconds, and ``import featurestore_spark`` must stay fast.
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
from collections.abc import Mapping
from typing import Any, Sequence, cast

from ..errors import InvalidInputError
from ..logs import quiet_libraries

POLICIES = ("STRICT", "ALWAYS")

#: kwargs that name columns of the data (a name, or a list/set of names)
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list", "column_set")

# Keys of an expectation in the 1.x and 0.x dict forms that carry no meaning for validation
# (ids, rendering, notes); they are dropped from the canonical form.
_BOOKKEEPING_KEYS = {"id", "ge_cloud_id", "notes", "description", "severity", "rendered_content",
                     "expectation_context"}
# kwargs that great_expectations 1.x rejects or that the feature store sets itself: 0.x's
# include_config, the batch a result was computed on, and the per-expectation result format
# (validate() fixes the report's format so that it stays bounded).
_DROPPED_KWARGS = {"include_config", "batch_id", "result_format"}


def import_gx() -> Any:
    """great_expectations, imported quietly (no usage statistics, its loggers at WARNING unless
    the process or ``FEATURESTORE_LOG_LEVEL`` says otherwise: see ``featurestore_spark.logs``)
    and with its core expectations registered."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    quiet_libraries()  # before: its import logs some 200 INFO lines ("Skipping registering ...")
    with warnings.catch_warnings():  # its own imports of deprecated modules (sre_parse, ...)
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        from great_expectations.expectations.registry import register_core_expectations

        quiet_libraries()  # after: the import set one of its loggers to INFO itself
        register_core_expectations()
    return gx


def normalize_suite(suite: Any) -> dict:
    """The canonical form of an expectation suite, each expectation checked by great_expectations.

    Parameters
    ----------
    suite : great_expectations.ExpectationSuite, dict or str
        The suite object, its dict form (``{"name": ..., "expectations": [{"type": ...,
        "kwargs": {...}, "meta": {...}}]}``) or that dict as JSON. The 0.x keys
        ``expectation_suite_name`` and ``expectation_type`` are accepted too.

    Returns
    -------
    dict
        ``{"name": str, "expectations": [{"type": str, "kwargs": dict, "meta": dict}]}``, with the
        kwargs as great_expectations serialises them (so equal suites give equal dicts whatever
        their form). Ids, notes, descriptions, severity and per-expectation result formats are
        dropped.

    Raises
    ------
    InvalidInputError
        Listing every problem at once: not a suite, no expectations, unknown expectation types
        (with close matches), kwargs great_expectations rejects, suite parameters.

    Examples
    --------
    >>> normalize_suite({"expectation_suite_name": "teams", "expectations": [
    ...     {"expectation_type": "expect_column_values_to_not_be_null",
    ...      "kwargs": {"column": "team_id"}}]})                          # doctest: +SKIP
    {'name': 'teams', 'expectations': [{'type': 'expect_column_values_to_not_be_null',
     'kwargs': {'column': 'team_id'}, 'meta': {}}]}
    """
    gx = import_gx()
    raw, problems = _as_dict(suite, gx)
    if raw is None:
        raise InvalidInputError("expectation suite", problems)
    name = raw.get("name", raw.get("expectation_suite_name"))
    if not isinstance(name, str) or not name.strip():
        problems.append(f"the suite's name must be a non-empty string, got {name!r}")
    if raw.get("suite_parameters") or raw.get("evaluation_parameters"):
        problems.append("suite parameters are not supported: write their values into the "
                        "expectations' kwargs")
    items = raw.get("expectations")
    expectations: list[dict] = []
    if not isinstance(items, (list, tuple)):
        problems.append("the suite has no 'expectations' list" if items is None else
                        f"the suite's 'expectations' must be a list, got {type(items).__name__}")
    elif not items:
        problems.append("the suite has no expectations")
    else:
        for i, item in enumerate(items, 1):
            expectation, item_problems = _expectation(i, item, gx)
            problems += item_problems
            if expectation is not None:
                expectations.append(expectation)
    if problems:
        raise InvalidInputError(f"expectation suite {name!r}" if isinstance(name, str)
                                else "expectation suite", problems)
    return {"name": name, "expectations": expectations}


def suite_columns(suite: dict) -> set[str]:
    """The columns the expectations of a (canonical) suite name: ``column``, ``column_A``,
    ``column_B``, ``column_list``, ``column_set``."""
    return {c for e in suite.get("expectations", []) for c in _columns(e)}


def suite_problems(suite: dict, columns: Sequence[str]) -> list[str]:
    """Expectations of a (canonical) suite that name columns not in ``columns`` (the feature
    group's); empty when every named column exists."""
    have = list(columns)
    problems = []
    for i, e in enumerate(suite.get("expectations", []), 1):
        for c in _columns(e):
            if c not in have:
                problems.append(f"expectation {i} ({e.get('type')}) names column {c!r}, which the "
                                f"feature group does not have{_did_you_mean(c, have)}")
    return problems


def policy_problems(policy: Any) -> list[str]:
    """Problems with a validation policy (``STRICT``: a failed suite stops the write;
    ``ALWAYS``: the data is written and the report kept). Case does not matter."""
    if isinstance(policy, str) and policy.upper() in POLICIES:
        return []
    return [f"validation policy {policy!r} is not one of {', '.join(POLICIES)}"]


# -- helpers ---------------------------------------------------------------------------------------
def _as_dict(suite: Any, gx: Any) -> tuple[dict | None, list[str]]:
    """The suite as a plain dict (None with the problem when it is not a suite)."""
    if isinstance(suite, gx.ExpectationSuite):
        return {"name": suite.name, "expectations": list(suite.expectations),
                "suite_parameters": suite.suite_parameters}, []
    if isinstance(suite, (str, bytes)):
        try:
            suite = json.loads(suite)
        except ValueError as e:
            return None, [f"the suite is a string but not valid JSON ({e})"]
    if isinstance(suite, Mapping):
        return dict(suite), []
    return None, ["expected a great_expectations ExpectationSuite, its dict or its JSON, got "
                  f"{type(suite).__name__}"]


def _lower_columns(kwarg: str, value: Any) -> Any:
    """Column names in the kwargs as features are stored: lowercased (``names.feature``)."""
    if kwarg not in COLUMN_KWARGS:
        return value
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (list, tuple, set)):
        return type(value)(v.lower() if isinstance(v, str) else v for v in value)
    return value


def _expectation(i: int, item: Any, gx: Any) -> tuple[dict | None, list[str]]:
    """The canonical form of the i-th expectation (None when it has problems) and its problems."""
    from great_expectations.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration)
    from great_expectations.expectations.registry import _registered_expectations

    if isinstance(item, Expectation):
        item = item.configuration
    if isinstance(item, ExpectationConfiguration):
        item = item.to_json_dict()
    if not isinstance(item, Mapping):
        return None, [f"expectation {i} must be a dict with 'type' and 'kwargs', got "
                      f"{type(item).__name__}"]
    problems = []
    kind = item.get("type", item.get("expectation_type"))
    if "type" in item and "expectation_type" in item and item["type"] != item["expectation_type"]:
        problems.append(f"expectation {i} has two different types, {item['type']!r} and "
                        f"{item['expectation_type']!r}")
    unknown = sorted(set(item) - {"type", "expectation_type", "kwargs", "meta"} - _BOOKKEEPING_KEYS)
    if unknown:
        problems.append(f"expectation {i} has unknown key(s) {', '.join(map(repr, unknown))} "
                        "(the expectation's arguments go into 'kwargs')")
    kwargs, meta = item.get("kwargs", {}), item.get("meta") or {}
    if not isinstance(kwargs, Mapping):
        problems.append(f"expectation {i}: 'kwargs' must be a dict, got {type(kwargs).__name__}")
        kwargs = {}
    if not isinstance(meta, Mapping):
        problems.append(f"expectation {i}: 'meta' must be a dict, got {type(meta).__name__}")
        meta = {}
    elif not _is_json(meta):
        problems.append(f"expectation {i}: 'meta' must be JSON-serialisable")
    kwargs = {k: _lower_columns(k, v) for k, v in kwargs.items() if k not in _DROPPED_KWARGS}
    problems += [f"expectation {i}: kwarg {k!r} is a suite parameter ($PARAMETER), which is not "
                 "supported: write the value itself" for k, v in kwargs.items()
                 if isinstance(v, Mapping) and "$PARAMETER" in v]
    if not isinstance(kind, str) or not kind:
        return None, problems + [f"expectation {i} has no 'type'"]
    if kind not in _registered_expectations:
        return None, problems + [f"expectation {i}: unknown expectation type {kind!r}"
                                 f"{_did_you_mean(kind, _registered_expectations)}"]
    label = f"expectation {i} ({kind})"
    try:
        built = ExpectationConfiguration(type=kind, kwargs=dict(kwargs),
                                         meta=dict(meta)).to_domain_obj()
    except (ValueError, TypeError, GreatExpectationsError) as e:
        fields = getattr(_registered_expectations[kind], "__fields__", {})
        return None, problems + [f"{label}: {p}" for p in _kwarg_problems(e, fields)]
    if problems:
        return None, problems
    # an expectation's kwargs: a JSON object
    canonical = cast("dict[str, Any]", built.configuration.to_json_dict()["kwargs"])
    return {"type": kind, "kwargs": {k: v for k, v in canonical.items() if k not in _DROPPED_KWARGS},
            "meta": json.loads(json.dumps(dict(meta)))}, []


def _kwarg_problems(error: Exception, fields: Mapping[str, Any]) -> list[str]:
    """One problem per field out of great_expectations' (pydantic's) error: the first reason
    given for each field, in plain words."""
    if not callable(getattr(error, "errors", None)):
        return [getattr(error, "message", None) or str(error)]
    first: dict[str, str] = {}
    validation_error: Any = error       # pydantic's ValidationError (it has errors())
    for err in validation_error.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "__root__"
        first.setdefault(field, err.get("msg", "invalid"))
    problems = []
    for field, msg in first.items():
        if field == "__root__":
            problems.append(msg)
        elif msg == "extra fields not permitted":
            problems.append(f"unknown kwarg {field!r}{_did_you_mean(field, fields)}")
        elif msg == "field required":
            problems.append(f"missing required kwarg {field!r}")
        else:
            problems.append(f"kwarg {field!r}: {msg}")
    return problems


def _columns(expectation: Mapping[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    names: list[str] = []
    for key in COLUMN_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, (list, tuple, set, frozenset)):
            names += [v for v in value if isinstance(v, str)]
    return names


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
