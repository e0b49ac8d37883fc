"""Reads of feature groups: their data (latest, as of a commit or a point in time, or the online
table), the changes between commits, one feature by name, and read-only SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dataframes import convert
from .errors import FeatureGroupNotFound, InvalidInputError
from .names import database_name, name_problem, quote
from .offline.delta import qualified_name
from .query.statement import online_query, run_read_only
from .spec import ReadSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .context import Context


class Reads:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def read(self, spec: ReadSpec) -> Any:
        """A feature group version's data: latest, or as of a commit or point in time."""
        problems = spec.problems()
        if problems:
            raise InvalidInputError(f"cannot read feature group {spec.name!r}", problems,
                                    write=False)
        group = self.ctx.feature_group(spec.name, spec.version, spec.project)
        if spec.online and not group.online:
            raise InvalidInputError(f"cannot read feature group {spec.name!r}",
                                    [f"{group.name} v{group.version} is not online"], write=False)
        if spec.online:
            df = self.ctx.online.read(group)
        else:
            commit = None if spec.as_of is None else self.ctx.commit_as_of(group, spec.as_of)
            df = self.ctx.read(group, commit)
        if spec.features is not None:
            unknown = [f for f in spec.features if f not in group.feature_names]
            if unknown:
                raise InvalidInputError(f"cannot read feature group {spec.name!r}",
                                        [f"feature {f!r} is not in it" for f in unknown],
                                        write=False)
            df = df.select(*map(quote, spec.features))
        return convert(df, spec.dataframe_type)

    def changes(self, name: str, start_commit: int | None, end_commit: int | None = None,
                version: int | None = None, project: str | None = None) -> DataFrame:
        """What the commits after ``start_commit`` (None: from the first commit on) up to
        ``end_commit`` (default: the latest) changed, from the Delta change data feed: the
        features plus ``_change_type`` (insert, update_preimage, update_postimage, delete),
        ``_commit_version`` and ``_commit_timestamp``."""
        group = self.ctx.feature_group(name, version, project)
        if group.external:
            from .connectors.external import no_commits
            raise no_commits(group, f"cannot read the changes of {name!r}")
        ids = [c.commit_id for c in self.ctx.metadata.commits(group.project, group.name, group.version)]
        end = ids[-1] if end_commit is None else end_commit
        given = [end] if start_commit is None else [start_commit, end]
        problems = [f"commit {c} is not a commit of {name} (its commits are {ids})"
                    for c in given if c not in ids]
        if not problems and start_commit is not None and end <= start_commit:
            problems.append(f"end commit {end} must come after start commit {start_commit}")
        if problems:
            raise InvalidInputError(f"cannot read the changes of {name!r}", problems, write=False)
        first = ids[0] if start_commit is None else start_commit + 1
        return self.ctx.offline.changes(group, first, end)

    def feature(self, feature: str, featuregroup: str | None = None, version: int | None = None,
                project: str | None = None) -> DataFrame:
        """One feature's column, from ``featuregroup`` or the one feature group that has it."""
        feature = feature.lower() if isinstance(feature, str) else feature   # names.feature
        if (p := name_problem("feature", feature)):
            raise InvalidInputError("cannot read feature", [p], write=False)
        if featuregroup is None:
            groups = self.ctx.feature_groups(project)
            owners = [g for g in groups if feature in g.feature_names]
            latest = {g.name: g for g in owners}          # list is ordered by version
            if not latest:
                names = sorted({g.name for g in groups})
                raise FeatureGroupNotFound(
                    f"no feature group of feature store {self.ctx.project(project)} has a feature "
                    f"named {feature!r} (its feature groups: {', '.join(names[:20]) or 'none'}"
                    f"{', ...' if len(names) > 20 else ''}): check the name")
            if len(latest) > 1:
                raise FeatureGroupNotFound(f"feature {feature!r} is in feature groups "
                                           f"{', '.join(sorted(latest))}: name the feature group "
                                           "to read it from (featuregroup=...)")
            group = next(iter(latest.values()))
            featuregroup, version = group.name, group.version
        return self.read(ReadSpec(featuregroup, project, version, features=(feature,)))

    def sql(self, query: str, project: str | None = None, online: bool = False) -> DataFrame:
        """Run a Spark SQL query with the project's feature store database as the current
        database, or with ``online`` the query in the online store's own SQL, read through JDBC.
        Queries only (and SHOW, DESCRIBE, EXPLAIN): statements that would change a table are
        refused (``query.statement``)."""
        if online:
            project = project or self.ctx.settings.project
            return self.ctx.online_backend.read_frame(self.ctx.spark, project,
                                                      query=online_query(query))
        db = database_name(self.ctx.project(project))
        catalog = self.ctx.spark.catalog
        previous = catalog.currentDatabase()
        catalog.setCurrentDatabase(db)
        try:
            return run_read_only(self.ctx.spark, query)   # analysed now: names resolve against db
        finally:
            catalog.setCurrentDatabase(previous)

    def table_name(self, name: str, version: int | None = None, project: str | None = None) -> str:
        """The catalog name to use with ``spark.table`` or SQL (an external group has none: read
        it, or ``to_sql`` a query of it, which names its temporary view)."""
        group = self.ctx.feature_group(name, version, project)
        if group.external:
            raise InvalidInputError(f"{name!r} has no catalog table", [
                f"{group.name} v{group.version} is an external feature group, read from its "
                "source: read() it, or query it (its to_sql() registers a temporary view)"],
                write=False)
        return qualified_name(group).replace("`", "")
