"""Run an expectation suite on a Spark DataFrame with great_expectations' Spark execution engine
and turn the result into a short, JSON-serialisable report; apply the ingestion policy.

The metrics are Spark jobs; only aggregates and at most ``EXAMPLES`` unexpected values per
expectation reach the driver (result format SUMMARY with a small ``partial_unexpected_count``,
never COMPLETE). It runs in two passes: the first computes every expectation's counts and observed
values but no examples (``partial_unexpected_count`` 0, so no example query is run: for an
expectation that passes, such a query would scan the whole DataFrame to find nothing); the second,
only when some column-map expectations found unexpected values, fetches up to ``EXAMPLES`` of
them for those expectations alone. The DataFrame is not persisted by great_expectations
(``persist=False``): a caller that validates and then writes may cache it itself.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Collection, Iterator

from ..errors import DataValidationError, InvalidInputError
from .suite import import_gx, normalize_suite, policy_problems

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

#: unexpected values kept per expectation (great_expectations' partial_unexpected_count)
EXAMPLES = 5
COUNTS_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
EXAMPLES_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
_TEXT = 200            # longest observed value / example / exception message kept, in characters
_POSITION = "__featurestore_position"  # meta key that ties a result to its expectation

_lock = threading.Lock()
_context: Any = None   # the process's ephemeral great_expectations context, made on first use


def validate(df: DataFrame, suite: Any, job: str = "validation") -> dict:
    """Run an expectation suite on a Spark DataFrame.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The data; great_expectations computes its metrics with Spark (nothing but aggregates and a
        few example values is collected).
    suite : dict or great_expectations.ExpectationSuite
        Anything :func:`normalize_suite` accepts.
    job : str
        Names the Spark jobs in the UI (``featurestore: <job>``).

    Returns
    -------
    dict
        ``{"success", "suite", "evaluated", "successful", "failed", "results": [{"expectation_type",
        "kwargs", "success", "observed", "unexpected_count", "unexpected_percent",
        "unexpected_examples", "exception"}], "great_expectations_version", "validated_at"}``, the
        results in the suite's order. An expectation that raised inside great_expectations
        counts as failed, with the message in ``exception``.

    Raises
    ------
    InvalidInputError
        ``df`` is not a DataFrame, or the suite is not valid.

    Examples
    --------
    >>> report = validate(df, {"name": "teams", "expectations": [
    ...     {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "team_id"}}]})
    ...                                                                   # doctest: +SKIP
    >>> report["success"], report["failed"]                               # doctest: +SKIP
    (True, 0)
    """
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise InvalidInputError(job, [f"expected a Spark DataFrame to validate, got "
                                      f"{type(df).__name__}"])
    canonical = normalize_suite(suite)
    gx = import_gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration)

    def ge_suite(positions: Collection[int]) -> Any:  # the expectations at those positions
        return gx.ExpectationSuite(name=canonical["name"], expectations=[
            ExpectationConfiguration(type=e["type"], kwargs=dict(e["kwargs"]),
                                     meta={**e["meta"], _POSITION: i}).to_domain_obj()
            for i, e in enumerate(canonical["expectations"]) if i in positions])

    with _dataframe_batch_definition() as batch_definition, _job_description(df, job):
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        everything = range(len(canonical["expectations"]))
        counts = _by_position(batch.validate(ge_suite(everything),
                                             result_format=dict(COUNTS_FORMAT)).to_json_dict())
        unexpected = [i for i, r in counts.items()
                      if ((r.get("result") or {}).get("unexpected_count") or 0) > 0]
        examples = _by_position(batch.validate(ge_suite(unexpected),
                                               result_format=dict(EXAMPLES_FORMAT)).to_json_dict()
                                ) if unexpected else {}
    return _report(canonical, counts, examples, gx.__version__)


def check(df: DataFrame, suite: Any, policy: str, what: str, job: str = "validation") -> dict:
    """Validate ``df`` and apply the ingestion policy.

    Parameters
    ----------
    policy : {"STRICT", "ALWAYS"}
        STRICT: a failed suite raises :class:`DataValidationError` (the caller writes nothing).
        ALWAYS: the report is returned whatever it says, and a warning names the failed
        expectations.
    what : str
        What is being written, for the error message (e.g. ``"feature group teams v1"``).

    Returns
    -------
    dict
        The report of :func:`validate`.

    Raises
    ------
    InvalidInputError
        The policy, the suite or ``df`` is not valid.
    DataValidationError
        Under STRICT, when an expectation failed; ``.report`` is the report.

    Examples
    --------
    >>> check(df, suite, "STRICT", "feature group teams v1")              # doctest: +SKIP
    """
    problems = policy_problems(policy)
    if problems:
        raise InvalidInputError(what, problems)
    report = validate(df, suite, job)
    if report["success"]:
        return report
    if policy.upper() == "STRICT":
        raise DataValidationError(what, report)
    failed = [_describe(r) for r in report["results"] if not r["success"]]
    logger.warning("%s: %d of %d expectation(s) failed; written anyway (validation policy ALWAYS): "
                   "%s", what, report["failed"], report["evaluated"], "; ".join(failed))
    return report


# -- great_expectations ----------------------------------------------------------------------------
def _ge_context() -> Any:
    """The process's ephemeral context (in-memory stores, no data docs, no progress bars, no
    usage statistics), made once and made great_expectations' current project (which its
    validator needs) only while no other is: a user's own context is not replaced."""
    global _context
    with _lock:
        gx = import_gx()
        from great_expectations.data_context.data_context.context_factory import project_manager
        from great_expectations.exceptions import DataContextRequiredError

        try:
            current = project_manager.get_current_project()
        except DataContextRequiredError:
            current = None
        if _context is None:
            from great_expectations.data_context.types.base import (
                DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                analytics_enabled=False, data_docs_sites={},
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False))
            _context = gx.get_context(mode="ephemeral", project_config=config)
        project_manager.set_project(current or _context)
        return _context


@contextmanager
def _dataframe_batch_definition() -> Iterator[Any]:
    """A batch definition for a whole DataFrame, on a Spark data source of this call's own (so
    that concurrent validations do not share great_expectations' batch state); the data source
    is removed afterwards."""
    context = _ge_context()
    name = f"featurestore_{uuid.uuid4().hex}"
    with _lock:
        source = context.data_sources.add_spark(name=name, persist=False)
    try:
        yield source.add_dataframe_asset(name="dataframe").add_batch_definition_whole_dataframe(
            "whole dataframe")
    finally:
        with _lock:
            context.data_sources.delete(name)


@contextmanager
def _job_description(df: DataFrame, job: str) -> Iterator[None]:
    """Names the Spark jobs ``featurestore: <job>``; the previous description is put back."""
    sc = df.sparkSession.sparkContext
    previous = sc.getLocalProperty("spark.job.description")
    sc.setJobDescription(f"featurestore: {job}")
    try:
        yield
    finally:
        sc.setJobDescription(previous)  # type: ignore[arg-type]  # None clears it


# -- the report ------------------------------------------------------------------------------------
def _by_position(raw: dict) -> dict[int, dict]:
    """great_expectations' results (in its own order) by the position of their expectation."""
    found: dict[int, dict] = {}
    for r in raw.get("results", []):
        position = ((r.get("expectation_config") or {}).get("meta") or {}).get(_POSITION)
        if isinstance(position, int):
            found.setdefault(position, r)
    return found


def _report(canonical: dict, counts: dict[int, dict], examples: dict[int, dict],
            version: str) -> dict:
    """The short report, in the suite's order, out of the two passes' results."""
    results = [_result(e, counts.get(i), examples.get(i))
               for i, e in enumerate(canonical["expectations"])]
    successful = sum(r["success"] for r in results)
    return {"success": successful == len(results), "suite": canonical["name"],
            "evaluated": len(results), "successful": successful,
            "failed": len(results) - successful, "results": results,
            "great_expectations_version": version,
            "validated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _result(expectation: dict, raw: dict | None, with_examples: dict | None) -> dict:
    if raw is None:
        return {"expectation_type": expectation["type"], "kwargs": expectation["kwargs"],
                "success": False, "observed": "", "unexpected_count": None,
                "unexpected_percent": None, "unexpected_examples": [],
                "exception": "great_expectations returned no result for this expectation"}
    result = raw.get("result") or {}
    exception = _exception(raw.get("exception_info"))
    found = ((with_examples or {}).get("result") or {}).get("partial_unexpected_list") or []
    return {"expectation_type": expectation["type"], "kwargs": expectation["kwargs"],
            "success": bool(raw.get("success")) and exception is None,
            "observed": _observed(result),
            "unexpected_count": result.get("unexpected_count"),
            "unexpected_percent": result.get("unexpected_percent"),
            "unexpected_examples": [_example(v) for v in found[:EXAMPLES]],
            "exception": exception}


def _observed(result: dict) -> str:
    """The observed value, or how many values were unexpected, in a few words."""
    if "observed_value" in result:
        return _short(result["observed_value"])
    count = result.get("unexpected_count")
    if count is None:
        return ""
    percent = result.get("unexpected_percent")
    share = f" ({percent:.3g}%)" if isinstance(percent, (int, float)) else ""
    return f"{count} unexpected of {result.get('element_count', '?')} values{share}"


def _exception(info: Any) -> str | None:
    """The messages of the exceptions great_expectations caught, short and without repeats
    (``exception_info`` is either one record or one per failed metric)."""
    if not isinstance(info, dict) or not info:
        return None
    records = [info] if "raised_exception" in info else list(info.values())
    messages: list[str] = []
    for record in records:
        if isinstance(record, dict) and record.get("raised_exception"):
            message = _exception_message(record.get("exception_message") or "")
            if message not in messages:
                messages.append(message)
    return "; ".join(messages) if messages else None


def _exception_message(message: str) -> str:
    """The line that says what went wrong: a JVM error's root cause, else the first line."""
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.strip().startswith("at ")]
    causes = [line for line in lines if line.startswith("Caused by:")]
    text = causes[-1][len("Caused by:"):].strip() if causes else (lines[0] if lines else "")
    return _cut(text or "raised an exception")


def _example(value: Any) -> Any:
    """An unexpected value as it can go into JSON, long ones cut."""
    if isinstance(value, str):
        return _cut(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = json.dumps(value, default=str)
    return json.loads(text) if len(text) <= _TEXT else _cut(text)


def _short(value: Any) -> str:
    return _cut(value if isinstance(value, str) else json.dumps(value, default=str))


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT else text[:_TEXT - 3] + "..."


def _describe(result: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in result["kwargs"].items())
    return f"{result['expectation_type']}({args})"
