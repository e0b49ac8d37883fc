"""featurestore_spark.validation: expectation suites in their forms, runs on small Spark
DataFrames (great_expectations' Spark engine), reports, policies, and the lazy import."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from featurestore_spark.errors import DataValidationError, InvalidInputError
from featurestore_spark.validation import (EXAMPLES, check, normalize_suite, policy_problems,
                                           suite_columns, suite_problems, validate)

ROWS = 50


def not_null(column):
    return {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}


def between(column, low, high):
    return {"type": "expect_column_values_to_be_between",
            "kwargs": {"column": column, "min_value": low, "max_value": high}}


def regex(column, pattern):
    return {"type": "expect_column_values_to_match_regex",
            "kwargs": {"column": column, "regex": pattern}}


def suite(*expectations, name="teams"):
    return {"name": name, "expectations": list(expectations)}


@pytest.fixture(scope="module")
def df(spark):
    """50 rows: id 0..49, score null on every 10th row, code 'bad!' on every 7th."""
    rows = [(i, None if i % 10 == 0 else float(i), "bad!" if i % 7 == 0 else f"t{i:02d}")
            for i in range(ROWS)]
    return spark.createDataFrame(rows, "id int, score double, code string")


@pytest.fixture
def collected_rows(monkeypatch):
    """The largest number of rows any collect()/toPandas()/take() brought to the driver."""
    from pyspark.sql.classic.dataframe import DataFrame

    most = [0]

    def counting(method):
        def wrapper(self, *args, **kwargs):
            out = method(self, *args, **kwargs)
            most[0] = max(most[0], len(out))
            return out
        return wrapper

    for name in ("collect", "toPandas", "take", "tail"):
        monkeypatch.setattr(DataFrame, name, counting(getattr(DataFrame, name)))
    return most


# -- runs ------------------------------------------------------------------------------------------
def test_passing_suite(df):
    report = validate(df, suite(
        not_null("id"), between("id", 0, 49), regex("code", r"^(t\d\d|bad!)$"),
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": ROWS}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}))
    assert (report["success"], report["evaluated"], report["successful"], report["failed"]) == \
        (True, 5, 5, 0)
    assert [r["expectation_type"] for r in report["results"]] == [
        "expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
        "expect_column_values_to_match_regex", "expect_table_row_count_to_equal",
        "expect_column_values_to_be_unique"]  # the suite's order, not great_expectations'
    assert all(r["success"] and r["exception"] is None and r["unexpected_examples"] == []
               for r in report["results"])
    assert report["results"][3]["observed"] == "50"
    assert report["suite"] == "teams" and report["great_expectations_version"].startswith("1.")


def test_failing_suite_names_what_failed(df):
    report = validate(df, suite(not_null("score"), between("id", 0, 40), regex("code", r"^t\d\d$"),
                                not_null("id")))
    assert (report["success"], report["evaluated"], report["failed"]) == (False, 4, 3)
    nulls, out_of_range, mismatches, ok = report["results"]
    assert (nulls["success"], nulls["unexpected_count"], nulls["unexpected_examples"]) == \
        (False, 5, [None] * 5)
    assert nulls["unexpected_percent"] == pytest.approx(10.0)
    assert (out_of_range["success"], out_of_range["unexpected_count"]) == (False, 9)
    assert set(out_of_range["unexpected_examples"]) <= set(range(41, 50))
    assert len(out_of_range["unexpected_examples"]) == EXAMPLES
    assert out_of_range["observed"] == "9 unexpected of 50 values (18%)"
    assert (mismatches["success"], mismatches["unexpected_count"]) == (False, 8)
    assert mismatches["unexpected_examples"] == ["bad!"] * EXAMPLES
    assert mismatches["kwargs"] == {"column": "code", "regex": r"^t\d\d$"}
    assert ok["success"] and ok["unexpected_count"] == 0


def test_strict_raises_with_the_report_and_always_returns_it(df, caplog):
    failing = suite(between("id", 0, 40))
    with pytest.raises(DataValidationError, match=r"teams v1: 1 expectation\(s\) failed") as e:
        check(df, failing, "STRICT", "teams v1")
    assert e.value.report["success"] is False
    assert e.value.report["results"][0]["unexpected_count"] == 9
    assert "9 unexpected of 50" in str(e.value)
    with caplog.at_level(logging.WARNING, logger="featurestore_spark.validation"):
        report = check(df, failing, "always", "teams v1")
    assert report["success"] is False and report["failed"] == 1
    assert "expect_column_values_to_be_between(column='id'" in caplog.text
    assert "ALWAYS" in caplog.text
    assert check(df, suite(not_null("id")), "STRICT", "teams v1")["success"] is True


def test_bad_policy_is_refused_before_validating(df):
    with pytest.raises(InvalidInputError, match="'SOMETIMES' is not one of STRICT, ALWAYS"):
        check(df, suite(not_null("id")), "SOMETIMES", "teams v1")
    assert policy_problems("STRICT") == policy_problems("Always") == []
    assert len(policy_problems(None)) == 1


def test_an_expectation_that_raises_counts_as_failed(df):
    report = validate(df, suite(not_null("no_such_column"), regex("code", "(unclosed"),
                                not_null("id")))
    missing, bad_regex, ok = report["results"]
    assert (report["success"], report["failed"]) == (False, 2)
    assert missing["success"] is False and "no_such_column" in missing["exception"]
    assert bad_regex["success"] is False          # Spark's message (compiled code or not):
    assert re.search(r"PatternSyntaxException|INVALID_PARAMETER_VALUE\.PATTERN",
                     bad_regex["exception"])
    assert len(bad_regex["exception"]) <= 400 and "\tat " not in bad_regex["exception"]
    assert ok["success"] is True and ok["exception"] is None


def test_report_is_json_and_bounded_when_every_row_fails(spark, collected_rows):
    df = spark.createDataFrame([(i, None, f"long value {i} " + "x" * 500) for i in range(ROWS)],
                               "id int, score double, code string")
    report = validate(df, suite(not_null("score"), between("id", 100, 200), regex("code", "^t")))
    json.loads(json.dumps(report, allow_nan=False))
    assert [r["unexpected_count"] for r in report["results"]] == [ROWS] * 3
    assert all(len(r["unexpected_examples"]) == EXAMPLES for r in report["results"])
    assert all(len(v) <= 200 for v in report["results"][2]["unexpected_examples"])
    assert collected_rows[0] <= EXAMPLES   # aggregates and a few examples, never the data


def test_examples_are_fetched_only_for_expectations_that_found_unexpected_values(df, monkeypatch):
    from great_expectations.datasource.fluent.interfaces import Batch

    calls = []
    original = Batch.validate

    def spy(self, expect, **kwargs):
        calls.append(([e.expectation_type for e in expect.expectations],
                      kwargs["result_format"]["partial_unexpected_count"]))
        return original(self, expect, **kwargs)

    monkeypatch.setattr(Batch, "validate", spy)
    validate(df, suite(not_null("id"), between("id", 0, 49)))
    assert calls == [(["expect_column_values_to_not_be_null",
                       "expect_column_values_to_be_between"], 0)]  # no example query at all
    calls.clear()
    report = validate(df, suite(not_null("id"), between("id", 0, 40)))
    assert calls[1] == (["expect_column_values_to_be_between"], EXAMPLES)
    examples = report["results"][1]["unexpected_examples"]
    assert len(examples) == EXAMPLES and set(examples) <= set(range(41, 50))
    assert report["results"][0]["unexpected_examples"] == []


def test_job_description_is_put_back(df):
    sc = df.sparkSession.sparkContext
    sc.setJobDescription("outer job")
    try:
        validate(df, suite(not_null("id")), job="validation of teams")
        assert sc.getLocalProperty("spark.job.description") == "outer job"
    finally:
        sc.setJobDescription(None)


def test_validate_refuses_what_is_not_a_dataframe():
    with pytest.raises(InvalidInputError, match="expected a Spark DataFrame"):
        validate([(1,)], suite(not_null("id")))


# -- suites ----------------------------------------------------------------------------------------
def test_the_forms_of_a_suite_give_one_canonical_dict():
    import great_expectations as gx

    E = gx.expectations
    from_object = normalize_suite(gx.ExpectationSuite(name="teams", expectations=[
        E.ExpectColumnValuesToNotBeNull(column="id"),
        E.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=10, mostly=0.9),
        E.ExpectColumnValuesToMatchRegex(column="code", regex=r"^t\d+$", meta={"owner": "ml"})]))
    v1 = suite(not_null("id"),
               {"type": "expect_column_values_to_be_between",
                "kwargs": {"column": "score", "min_value": 0, "max_value": 10, "mostly": 0.9},
                "meta": {}, "severity": "critical", "id": None},
               {**regex("code", r"^t\d+$"), "meta": {"owner": "ml"}})
    v0 = {"expectation_suite_name": "teams", "data_asset_type": None, "ge_cloud_id": None,
          "meta": {"great_expectations_version": "0.15.12"}, "expectations": [
              {"expectation_type": "expect_column_values_to_not_be_null",
               "kwargs": {"column": "id"}, "meta": {}},
              {"expectation_type": "expect_column_values_to_be_between",
               "kwargs": {"column": "score", "min_value": 0, "max_value": 10, "mostly": 0.9,
                          "result_format": "COMPLETE", "include_config": True}, "meta": {}},
              {"expectation_type": "expect_column_values_to_match_regex",
               "kwargs": {"column": "code", "regex": r"^t\d+$"}, "meta": {"owner": "ml"}}]}
    assert from_object == normalize_suite(v1) == normalize_suite(json.dumps(v1)) \
        == normalize_suite(v0)
    assert set(from_object) == {"name", "expectations"} and from_object["name"] == "teams"
    assert all(set(e) == {"type", "kwargs", "meta"} for e in from_object["expectations"])
    assert from_object["expectations"][2]["meta"] == {"owner": "ml"}
    assert normalize_suite(from_object) == from_object
    json.dumps(from_object)


def test_every_problem_of_a_suite_is_listed_at_once():
    bad = suite({"type": "expect_column_values_to_not_be_nul", "kwargs": {"column": "id"}},
                {"type": "expect_column_values_to_be_between",
                 "kwargs": {"column": "id", "min_value": 0, "mostly": 3, "maxvalue": 4}},
                {"type": "expect_column_values_to_not_be_null", "column": "id"},
                "expect_column_values_to_be_unique",
                {"type": "expect_column_pair_values_to_be_equal", "kwargs": {"column_A": "a"}},
                not_null("id"))
    with pytest.raises(InvalidInputError) as e:
        normalize_suite(bad)
    problems = "\n".join(e.value.problems)
    for expected in ["expectation 1: unknown expectation type 'expect_column_values_to_not_be_nul'"
                     "; did you mean 'expect_column_values_to_not_be_null'",
                     "expectation 2 (expect_column_values_to_be_between): kwarg 'mostly': ensure "
                     "this value is less than or equal to 1",
                     "unknown kwarg 'maxvalue'; did you mean 'max_value'",
                     "expectation 3 has unknown key(s) 'column'",
                     "expectation 3 (expect_column_values_to_not_be_null): missing required "
                     "kwarg 'column'",
                     "expectation 4 must be a dict",
                     "expectation 5 (expect_column_pair_values_to_be_equal): missing required "
                     "kwarg 'column_B'"]:
        assert expected in problems
    assert "expectation 6" not in problems
    assert str(e.value).startswith("expectation suite 'teams': ")


@pytest.mark.parametrize("value, message", [
    (42, "expected a great_expectations ExpectationSuite, its dict or its JSON, got int"),
    ("{not json", "not valid JSON"),
    ({"name": "teams", "expectations": []}, "the suite has no expectations"),
    ({"name": "", "expectations": [not_null("id")]}, "name must be a non-empty string"),
    ({"name": "teams"}, "no 'expectations' list"),
    ({"name": "teams", "expectations": [between("id", {"$PARAMETER": "low"}, 5)]},
     "suite parameter"),
])
def test_what_is_not_a_suite_is_refused(value, message):
    with pytest.raises(InvalidInputError, match=message):
        normalize_suite(value)


def test_suite_columns_and_the_columns_a_feature_group_lacks():
    s = normalize_suite(suite(
        not_null("id"), regex("code", "^t"),
        {"type": "expect_column_pair_values_to_be_equal",
         "kwargs": {"column_A": "score", "column_B": "scroe"}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["id", "day"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}))
    assert suite_columns(s) == {"id", "code", "score", "scroe", "day"}
    assert suite_problems(s, ["id", "code", "score"]) == [
        "expectation 3 (expect_column_pair_values_to_be_equal) names column 'scroe', which the "
        "feature group does not have; did you mean 'score' or 'code'?",
        "expectation 4 (expect_compound_columns_to_be_unique) names column 'day', which the "
        "feature group does not have"]
    assert suite_problems(s, ["id", "code", "score", "scroe", "day"]) == []


def test_the_users_own_great_expectations_context_is_left_current(df):
    from great_expectations.data_context.data_context.context_factory import project_manager

    from featurestore_spark.validation import run

    theirs = object()
    project_manager.set_project(theirs)  # type: ignore[arg-type]
    try:
        assert validate(df, suite(not_null("id")))["success"]
        assert project_manager.get_current_project() is theirs
        project_manager.set_project(None)  # none: the feature store's becomes the current one
        context = run._ge_context()
        assert project_manager.get_current_project() is context
        assert run._ge_context() is context  # made once per process
    finally:
        project_manager.set_project(None)


def test_importing_the_package_does_not_import_great_expectations():
    code = ("import sys, featurestore_spark, featurestore_spark.validation; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
