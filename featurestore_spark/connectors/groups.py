"""Registering external feature groups and loading them online (the reading side, which the
``Context`` uses for every read, is :mod:`.external`): the source is read for its schema before
anything is kept, and a group made online is loaded whole from a read of its source."""

from __future__ import annotations

import getpass
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, cast

from ..errors import FeatureGroupExists, InvalidInputError
from ..metadata import Feature, FeatureGroup
from ..names import table_name
from ..statistics.config import config_problems
from . import Connectors, StorageConnector, StorageConnectorNotFound, external
from .external import ExternalSpec

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger(__name__)


class ExternalGroups:
    """Create, read and load online the external feature groups of a ``Context``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def connectors(self) -> Connectors:
        return Connectors(self.ctx.metadata, self.ctx.settings)

    def create(self, spec: ExternalSpec) -> FeatureGroup:
        """Register an external group: its source is read (the schema only, and a check of its
        keys) before anything is kept; an unreachable source or a refused login is an error and
        nothing is registered."""
        from ..online.schema import schema_problems as online_problems
        from ..offline import checks
        what = f"cannot create external feature group {spec.name!r}"
        problems = spec.problems()
        project = spec.project or self.ctx.settings.project
        connector = None
        if not problems:
            given = spec.storage_connector
            try:        # by name: what a read finds later, in any process
                connector = self.connectors.get(project, getattr(given, "name", given))
            except StorageConnectorNotFound as e:
                problems.append(str(e))
            if isinstance(given, StorageConnector) and connector not in (None, given):
                problems.append(f"the storage connector given is not the one kept as "
                                f"{given.name!r} in project {project}: pass that one, or its name")
            if connector is not None:
                problems += external.source_problems(spec, connector)
            if spec.version in self.ctx.metadata.feature_group_versions(project, spec.name):
                problems.append(f"feature group {spec.name} version {spec.version} exists already")
        if problems or connector is None:
            raise InvalidInputError(what, problems)
        version = cast(int, spec.version)          # checked: a positive integer
        source = {"connector": connector.name, **({"query": spec.query} if spec.query else {
            "path": spec.path, "data_format": spec.data_format}),
            **({"options": dict(spec.options)} if spec.options else {})}
        df = external.read_source(self.ctx.spark, self.connectors, source,
                                  project)      # unreachable, refused, missing: raised here
        primary_key = spec.primary_key or (df.columns[0],)
        problems = checks.column_problems(df, primary_key, (), spec.event_time)
        problems += config_problems(spec.statistics, df.schema)
        if spec.online and not problems:
            problems += online_problems([(f.name, f.dataType.simpleString())
                                         for f in df.schema.fields], primary_key, project,
                                        table_name(spec.name, version))
        if problems:
            raise InvalidInputError(what, problems)
        group = FeatureGroup(
            project=project, name=spec.name, version=version, description=spec.description,
            features=tuple(Feature(f.name, f.dataType.simpleString(), "", f.name in primary_key)
                           for f in df.schema.fields),
            primary_key=tuple(primary_key), partition_by=(), event_time=spec.event_time,
            location="", created_at=datetime.now(timezone.utc), creator=getpass.getuser(),
            dependencies=spec.dependencies, source=source)
        from ..quality import Quality
        try:
            self.ctx.metadata.create_feature_group(
                group, None, [Quality.settings_document(group, spec.statistics)])
        except FeatureGroupExists as e:
            raise InvalidInputError(what, [str(e)]) from None
        log.info("external feature group %s v%d registered (%s through %s)", group.name,
                 group.version, source.get("query") or source["path"], connector.name)
        if spec.online:
            try:
                self.sync_online(group)
            except BaseException:
                log.warning("loading external feature group %s v%d online failed: removing it",
                            group.name, group.version)
                self.ctx.metadata.delete_feature_group(project, group.name, group.version)
                self.ctx.online.drop_table(group)
                raise
        return self.ctx.metadata.get_feature_group(project, group.name, group.version)

    def sync_online(self, group: FeatureGroup) -> int:
        """Load the group's online table with its source's rows now (the latest per key by event
        time), replacing what it held; returns the rows written. A group not online is made so."""
        from ..offline import checks
        from ..online.schema import key_value_problems
        what = f"cannot load external feature group {group.name!r} v{group.version} online"
        self.ctx.online.check_schema(group, what)        # types an online table can hold
        df = self.ctx.read(group)
        if (problems := key_value_problems(df, group.primary_key, nulls=True)):
            raise InvalidInputError(what, problems + ["nothing was loaded online"], write=False)
        if group.event_time:
            problems = checks.event_time_ties(df, group.primary_key, group.event_time)
            df = checks.latest_per_key(df, group.primary_key, group.event_time)
        else:
            problems = checks.duplicate_key_problems(df, group.primary_key)
        if problems:
            raise InvalidInputError(what, problems + ["nothing was loaded online"], write=False)
        written = self.ctx.online.replace(group, df)
        self.ctx.metadata.set_online(group, True, None)
        log.info("external feature group %s v%d loaded online: %d rows", group.name,
                 group.version, written)
        return written
