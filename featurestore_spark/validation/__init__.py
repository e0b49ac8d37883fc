"""Data validation with great_expectations: expectation suites (checked and kept in one canonical
JSON form), their runs on Spark DataFrames, the reports, and the ingestion policies (STRICT stops a
write whose data fails its suite, ALWAYS writes it and keeps the report).

great_expectations is imported on first use, not with this package.

Examples
--------
>>> from featurestore_spark.validation import check, normalize_suite
>>> suite = normalize_suite({"name": "teams", "expectations": [
...     {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "team_id"}}]})
...                                                                       # doctest: +SKIP
>>> report = check(df, suite, "STRICT", "feature group teams v1")        # doctest: +SKIP
"""

from __future__ import annotations

from .run import EXAMPLES, check, validate
from .suite import POLICIES, normalize_suite, policy_problems, suite_columns, suite_problems

__all__ = ["EXAMPLES", "POLICIES", "check", "normalize_suite", "policy_problems", "suite_columns",
           "suite_problems", "validate"]
