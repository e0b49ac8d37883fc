"""Logs a user can read: featurestore_spark's own progress lines, not its libraries' chatter.

- featurestore_spark logs under ``featurestore_spark.*`` and, as a library, leaves the process's
  logging alone: it adds no handler to the root logger and sets no level of it.
- The loggers of the libraries it drives (great_expectations, py4j, matplotlib, ...) are set to
  WARNING when it starts using them (``connect``, great_expectations' import), unless something
  set their level already (:func:`quiet_libraries`): their INFO lines (great_expectations logs
  some 200 as it is imported) say nothing to a feature store user.
- ``FEATURESTORE_LOG_LEVEL`` (DEBUG, INFO, WARN or WARNING, ERROR, or a number) sets
  featurestore_spark's loggers and those libraries' to that level: ``FEATURESTORE_LOG_LEVEL=DEBUG``
  turns them all back on. ``conf/log4j2.properties`` reads it too, for the JVM's loggers (Spark,
  Delta, MLlib), when the JVM starts.
- Entry points (``jobs/*.py``, the ``featurestore`` command) call :func:`setup_logging`, which
  also gives the root logger a handler and a level when nothing configured them.

Examples
--------
>>> from featurestore_spark.logs import setup_logging
>>> setup_logging()          # first thing in a job's main(): INFO lines of the job and ours
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["ENV", "FORMAT", "LIBRARIES", "env_level", "quiet_libraries", "setup_logging"]

ENV = "FEATURESTORE_LOG_LEVEL"
PACKAGE = "featurestore_spark"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: loggers of the libraries featurestore_spark drives (and of theirs), quiet by default
LIBRARIES = ("great_expectations", "py4j", "matplotlib", "PIL", "fontTools", "urllib3", "requests",
             "charset_normalizer", "botocore", "boto3", "s3transfer", "fsspec", "numexpr",
             "tzlocal", "posthog", "alembic", "sqlalchemy")
#: library loggers that their library sets to INFO itself when imported; they are given back to
#: their parent's level (great_expectations.data_context.types.base: ``logger.setLevel(INFO)``)
SELF_SET = ("great_expectations.data_context.types.base",)
_warned = False


def env_level() -> int | None:
    """The level ``FEATURESTORE_LOG_LEVEL`` names; None when it is unset, empty or no level."""
    return _level(os.environ.get(ENV, ""))


def quiet_libraries() -> int | None:
    """Set the libraries' loggers (:data:`LIBRARIES`) that nobody gave a level to WARNING; or,
    when ``FEATURESTORE_LOG_LEVEL`` is set, set them and featurestore_spark's to that level.

    For library code (``connect``, before and after great_expectations is imported); calling it
    again is harmless. It adds a handler to the root logger only when ``FEATURESTORE_LOG_LEVEL``
    asks for lines and nothing configured the process's logging (they would show nowhere).

    Returns
    -------
    int or None
        The level of ``FEATURESTORE_LOG_LEVEL`` (None when unset).

    Examples
    --------
    >>> os.environ["FEATURESTORE_LOG_LEVEL"] = "DEBUG"                        # doctest: +SKIP
    >>> quiet_libraries(), logging.getLogger("great_expectations").level   # doctest: +SKIP
    (10, 10)
    """
    forced = env_level()
    logger: logging.Logger | logging.PlaceHolder | None
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        if forced is not None:
            logger.setLevel(forced)
        elif logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    for name in SELF_SET:
        logger = logging.Logger.manager.loggerDict.get(name)   # only once its library made it
        if isinstance(logger, logging.Logger) and logger.level == logging.INFO:
            logger.setLevel(logging.NOTSET)
    if forced is not None:
        logging.getLogger(PACKAGE).setLevel(forced)
        if not logging.getLogger().handlers:
            logging.basicConfig(format=FORMAT)   # the root's level stays: ours pass on their own
    _check_env()
    return forced


def setup_logging(level: int | str = logging.INFO, fmt: str = FORMAT) -> int:
    """The logging of an entry point (a job's or the CLI's main): featurestore_spark's loggers
    and, when nothing configured it, the root logger at ``level`` with a handler on stderr;
    the libraries' quiet (:func:`quiet_libraries`). ``FEATURESTORE_LOG_LEVEL`` wins over
    ``level``.

    Parameters
    ----------
    level : int or str
        ``logging.INFO`` (the default) shows a job's progress lines and ours.
    fmt : str
        The format of the root logger's new handler.

    Returns
    -------
    int
        The level set.

    Examples
    --------
    >>> setup_logging(logging.WARNING, "%(levelname)s %(name)s: %(message)s")  # doctest: +SKIP
    30
    """
    forced = env_level()
    chosen = forced if forced is not None else _level(level)
    if chosen is None:
        raise ValueError(f"{level!r} is not a logging level")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=chosen, format=fmt)
    logging.getLogger(PACKAGE).setLevel(chosen)
    quiet_libraries()
    return chosen


def _check_env() -> None:
    """A warning, once, when FEATURESTORE_LOG_LEVEL names no level."""
    global _warned
    value = os.environ.get(ENV, "").strip()
    if value and env_level() is None and not _warned:
        _warned = True
        logging.getLogger(__name__).warning(
            "%s=%r is not a level (DEBUG, INFO, WARN, ERROR): ignored", ENV, value)


def _level(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    found = logging.getLevelName(text)     # DEBUG -> 10, WARN -> 30; unknown names stay str
    return found if isinstance(found, int) else None


# PySpark logs every analysis error it raises through these two loggers
ANALYSIS_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


@contextmanager
def quiet_analysis() -> Iterator[None]:
    """Silence PySpark's log of the analysis errors raised inside (an error we report ourselves,
    once). The loggers are PySpark's own class: a plain ``logging.Logger`` of those names would
    make every later AnalysisException of the process a TypeError (PySpark passes them keyword
    arguments that only its class takes)."""
    from pyspark.logger import PySparkLogger
    loggers = [PySparkLogger.getLogger(n) for n in ANALYSIS_LOGGERS]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before):
            lg.disabled = was
