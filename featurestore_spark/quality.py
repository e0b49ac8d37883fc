"""Statistics and data validation of feature groups and training datasets: what the feature store
keeps about the quality of its data, per commit, in the metadata store.

- Each feature group keeps its statistics settings (``fg.settings``) and, when it has one, a
  versioned great_expectations suite with its ingestion policy (``fg.suite``).
- Every write is validated against the suite before anything is written
  (:meth:`Quality.validate`): STRICT refuses failing data (DataValidationError, nothing
  written); ALWAYS writes it and keeps the report with the commit it made (``fg.report``).
- After a commit its statistics are computed as Spark jobs on the feature group as of that
  commit (``fg.statistics``, numbered by commit), binned on the previous commit's histogram edges
  so that commits compare; a training dataset's on its rows (``td.statistics``). A failure there
  does not undo the commit: it is logged, and ``update_featuregroup_stats`` (or
  jobs/compute_statistics.py) makes them again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from .errors import CommitNotFound, InvalidInputError
from .metadata import (FG_REPORT, FG_SETTINGS, FG_STATISTICS, FG_SUITE, TD_STATISTICS, Document,
                       FeatureGroup, TrainingDataset)
from .statistics.config import StatisticsConfig, column_kind, config_problems, edges_problems

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .context import Context

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _document(group: FeatureGroup | TrainingDataset, kind: str, number: int,
              body: dict[str, Any]) -> Document:
    return Document(group.project, kind, group.name, group.version, number, body, _now())


class Quality:
    """Statistics and validation of one feature store (its ``Context``)."""

    def __init__(self, ctx: Context) -> None:
        self.store = ctx
        self.metadata = ctx.metadata

    # -- settings ---------------------------------------------------------------------------------
    def config(self, group: FeatureGroup) -> StatisticsConfig:
        """The feature group's statistics settings (the defaults when none were kept)."""
        docs = self.metadata.documents(group.project, FG_SETTINGS, group.name, group.version, 0)
        return StatisticsConfig.from_dict(docs[0].body["statistics"]) if docs else StatisticsConfig()

    @staticmethod
    def settings_document(group: FeatureGroup, config: StatisticsConfig) -> Document:
        return _document(group, FG_SETTINGS, 0, {"statistics": config.to_dict()})

    def set_config(self, group: FeatureGroup, config: StatisticsConfig) -> None:
        problems = config_problems(config, self.store.read(group).schema)
        if problems:
            raise InvalidInputError(f"cannot change the statistics settings of {group.name!r}",
                                    problems)
        self.metadata.put_document(self.settings_document(group, config))

    # -- validation -------------------------------------------------------------------------------
    @staticmethod
    def suite_problems(suite: Any, policy: Any, columns: list[str]) -> tuple[dict | None, list[str]]:
        """The canonical form of ``suite`` (None without one) and every problem of it, of
        ``policy`` and of the columns it names."""
        from .validation import normalize_suite, policy_problems, suite_problems
        problems = policy_problems(policy)
        if suite is None:
            return None, problems
        try:
            canonical = normalize_suite(suite)
        except InvalidInputError as e:
            return None, problems + e.problems
        return canonical, problems + suite_problems(canonical, columns)

    def suite(self, group: FeatureGroup) -> tuple[dict | None, str, int]:
        """The feature group's current suite, its policy and its version (0: none)."""
        docs = self.metadata.documents(group.project, FG_SUITE, group.name, group.version)
        if not docs or docs[-1].body.get("suite") is None:
            return None, "STRICT", docs[-1].number if docs else 0
        return docs[-1].body["suite"], docs[-1].body["policy"], docs[-1].number

    def suite_document(self, group: FeatureGroup, suite: dict | None, policy: str) -> Document:
        """The next version of the feature group's suite (None: detached)."""
        number = self.suite(group)[2] + 1
        return _document(group, FG_SUITE, number, {"suite": suite, "policy": policy.upper()})

    def attach(self, group: FeatureGroup, suite: Any, policy: str = "STRICT") -> int:
        """Attach ``suite`` (None: detach) as the next version of the group's suite; returns it."""
        canonical, problems = self.suite_problems(suite, policy, list(group.feature_names))
        if problems:
            raise InvalidInputError(f"cannot attach an expectation suite to {group.name!r}", problems)
        document = self.suite_document(group, canonical, policy)
        self.metadata.put_document(document)
        log.info("expectation suite version %d of %s v%d: %s (%s)", document.number, group.name,
                 group.version, "detached" if canonical is None else canonical["name"], policy)
        return document.number

    def validate(self, df: DataFrame, suite: dict | None, policy: str, what: str,
                 job: str) -> dict | None:
        """Validate ``df`` before it is written: raises DataValidationError under STRICT when it
        fails; returns the report (None without a suite)."""
        if suite is None:
            return None
        from .validation import check
        return check(df, suite, policy, what, job=job)

    def check(self, group: FeatureGroup, df: Any) -> dict:
        """Validate ``df`` (Spark or pandas) with the group's suite, writing nothing: the report."""
        from .dataframes import as_spark
        from .validation import validate as run
        what = f"cannot validate against {group.name!r}"
        suite = self.suite(group)[0]
        if suite is None:
            raise InvalidInputError(what, [f"{group.name} v{group.version} has no expectation "
                                           "suite: attach one first"], write=False)
        return run(as_spark(self.store.spark, df, what, write=False), suite,
                   job=f"validation against {group.name}")

    @staticmethod
    def report_document(group: FeatureGroup, commit_id: int, report: dict, suite_version: int
                        ) -> Document:
        return _document(group, FG_REPORT, commit_id, {**report, "suite_version": suite_version})

    def reports(self, group: FeatureGroup, commit: int | None = None) -> list[dict]:
        """The validation reports kept with the group's commits (of one commit), oldest first,
        each with its ``commit``."""
        return [{**d.body, "commit": d.number} for d in self.metadata.documents(
            group.project, FG_REPORT, group.name, group.version, commit)]

    # -- statistics -------------------------------------------------------------------------------
    def _check_commit(self, group: FeatureGroup, commit: int) -> None:
        if group.external:           # its statistics are numbered by run, 1, 2, ...
            runs = [d.number for d in self.metadata.documents(group.project, FG_STATISTICS,
                                                             group.name, group.version)]
            if commit not in runs:
                raise CommitNotFound(f"external feature group {group.name} version "
                                     f"{group.version} has no statistics run {commit!r}; its "
                                     f"runs are {runs}")
            return
        ids = [c.commit_id for c in self.metadata.commits(group.project, group.name, group.version)]
        if commit not in ids:
            raise CommitNotFound(f"{group.name} version {group.version} has no commit {commit!r}; "
                                 f"its commits are {ids}")

    def after_commit(self, group: FeatureGroup, commit_id: int,
                     config: StatisticsConfig | None = None) -> dict | None:
        """The statistics of a commit just written, when they are to be computed on write; a
        failure is logged, not raised (the commit stands)."""
        config = config or self.config(group)
        if not (self.store.settings.statistics.on_write and config.enabled):
            return None
        try:
            return self.compute(group, commit_id, config)
        except Exception:
            log.exception("the statistics of %s v%d commit %d could not be computed; the commit "
                          "is written. Run update_featuregroup_stats(%r) to make them", group.name,
                          group.version, commit_id, group.name)
            return None

    def compute(self, group: FeatureGroup, commit_id: int | None,
                config: StatisticsConfig | None = None) -> dict:
        """Compute and keep the statistics of the feature group as of ``commit_id`` (an
        external group: of its source now, kept as its next run, 1, 2, ...)."""
        from .statistics import compute
        config = config or self.config(group)
        kept = self.metadata.documents(group.project, FG_STATISTICS, group.name, group.version)
        if group.external:
            commit_id = max((d.number for d in kept), default=0) + 1
            df = self.store.read(group)
        else:
            assert commit_id is not None
            self._check_commit(group, commit_id)
            df = self.store.offline.read(group, commit_id)      # compute() checks the settings
        earlier = [d for d in kept if d.number < commit_id]
        # binned on the previous commit's edges where they still fit (same columns and number of
        # bins), so that commits compare
        kinds = {f.name: column_kind(f.dataType) for f in df.schema.fields
                 if config.stat_columns is None or f.name in config.stat_columns}
        edges = {c: h.get("edges") for c, h in (earlier[-1].body.get("histograms", {}).items()
                                                 if earlier else ())}
        edges = {c: e for c, e in edges.items() if isinstance(e, list)
                 and len(e) == config.num_bins + 1 and not edges_problems({c: e}, kinds)}
        stats = compute(df, config, job=f"statistics of {group.name} v{group.version} commit "
                                        f"{commit_id}", edges=edges)
        self.metadata.put_document(_document(group, FG_STATISTICS, commit_id, stats))
        log.info("statistics of %s v%d commit %d: %d rows, %d columns", group.name,
                 group.version, commit_id, stats["row_count"], len(stats.get("columns", ())))
        return {**stats, "commit": commit_id}

    def statistics(self, group: FeatureGroup, commit: int | None = None) -> dict:
        """The statistics of a commit (the latest that has some when None), with its
        ``commit``."""
        if commit is not None:
            self._check_commit(group, commit)
        docs = self.metadata.documents(group.project, FG_STATISTICS, group.name, group.version,
                                       commit)
        if not docs:
            which = "any commit" if commit is None else f"commit {commit}"
            raise InvalidInputError(f"no statistics of {group.name!r} v{group.version}", [
                f"none were computed for {which}: run update_featuregroup_stats({group.name!r}"
                + ("" if commit is None else f", commit={commit}") + ")"], write=False)
        return {**docs[-1].body, "commit": docs[-1].number}

    def compare(self, group: FeatureGroup, old: int, new: int) -> dict:
        """How the statistics changed from commit ``old`` to commit ``new``."""
        from .statistics import compare
        return {"from_commit": old, "to_commit": new,
                **compare(self.statistics(group, old), self.statistics(group, new))}

    # -- training datasets ------------------------------------------------------------------------
    def training_statistics(self, td: TrainingDataset, df: DataFrame,
                            config: StatisticsConfig | None = None, on_demand: bool = False
                            ) -> dict | None:
        """Compute and keep the statistics of a training dataset's rows ``df`` (on write only
        when statistics are computed on write; a failure then is logged)."""
        from .statistics import compute
        if config is None:        # the settings it was described with before, else the defaults
            docs = self.metadata.documents(td.project, TD_STATISTICS, td.name, td.version)
            config = (StatisticsConfig.from_dict(docs[-1].body["config"])
                      if docs and "config" in docs[-1].body else StatisticsConfig())
        if not on_demand and not (self.store.settings.statistics.on_write and config.enabled):
            return None
        try:
            stats = compute(df, config, job=f"statistics of training dataset {td.name} "
                                            f"v{td.version}")
        except Exception:
            if on_demand:
                raise
            log.exception("the statistics of training dataset %s v%d could not be computed",
                          td.name, td.version)
            return None
        self.metadata.put_document(_document(td, TD_STATISTICS, 0, stats))
        return stats

    def training_dataset_statistics(self, td: TrainingDataset) -> dict:
        docs = self.metadata.documents(td.project, TD_STATISTICS, td.name, td.version)
        if not docs:
            raise InvalidInputError(f"no statistics of training dataset {td.name!r} v{td.version}",
                                    [f"none were computed: run update_training_dataset_stats"
                                     f"({td.name!r})"], write=False)
        return cast("dict[str, Any]", docs[-1].body)     # a JSON object, json.loads'ed
