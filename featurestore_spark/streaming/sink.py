"""A feature group as the sink of a Structured Streaming query, exactly once.

Each micro-batch goes through the batch write pipeline (``FeatureGroupWrites.insert``: checks,
validation with the group's suite, one Delta commit, its registration, the online table brought
up to that commit, statistics) as one upsert or append, made idempotent with Delta's transaction
identifiers: the stream's id (from its checkpoint folder) and the micro-batch's id. A query killed
at any point and restarted from its checkpoint replays the micro-batch it had not finished:

(The stream's id comes from Spark's query id, kept in the checkpoint.)

- killed before its Delta commit: the replay writes it;
- killed after it, before its registration: the replay's write is skipped by Delta (that stream
  committed that batch) and the first attempt's commit, found by its tag, is registered;
- killed after its registration: the same, and the registration is found as it is.

The online table follows the registered commits (the sync applies Delta's change feed, the
latest row per key), so every event is applied once offline and the latest per key online.

Freshness: for a group with an event time, each micro-batch's commit keeps (``fg.freshness``)
the p50 and p99 of the time from an event to the moment its row was readable (online for an
online group), which ``featurestore describe`` shows.

A batch that fails its checks or a STRICT suite stops the query with that error (nothing of the
batch written); the query's exception carries it. Bad events (a missing key or event time, a
record that does not parse: ``dead_letter``) stop it too, naming their offsets, or with
``dead_letter=True`` go to the group's dead-letter table while the rest is written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, cast

from .. import paths
from ..errors import FeatureGroupNotFound, InvalidInputError
from ..metadata import FG_FRESHNESS, Document, FeatureGroup
from ..names import quote
from ..spec import InsertSpec, identity_problems, job_problems
from ..statistics.config import StatisticsConfig
from . import dead_letter as dl
from .recovery import finish_pending, offsets, pending_batch, query_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from ..context import Context
    from ..feature_groups import FeatureGroupWrites

log = logging.getLogger(__name__)
MODES = ("upsert", "append")
TRIGGERS = ("processingTime", "once", "availableNow", "continuous")
OUTPUT_MODES = ("append", "update", "complete")


@dataclass(frozen=True)
class StreamSpec:
    """A streaming write into a feature group version (``fg.insert_stream``)."""
    name: str
    dataframe: Any                               # a streaming Spark DataFrame
    project: str | None = None
    version: int | None = None                   # None: the latest version
    mode: str = "upsert"                         # upsert (on the primary key) or append
    query_name: str | None = None
    checkpoint_dir: str | None = None            # None: <home>/streams/<project>/<name>_<v>/<query>
    trigger: Mapping[str, Any] | None = None     # {"processingTime": "10 seconds"}, ...
    output_mode: str = "update"                  # of a streaming aggregation
    online: bool | None = None                   # None: online when the group is online
    statistics_every: int = 1                    # statistics of every Nth batch's commit; 0: none
    validate: bool = True
    job_name: str | None = None
    dead_letter: bool = False                    # bad events to the dead-letter table, not errors

    def problems(self) -> list[str]:
        problems = identity_problems(self.name, self.project, self.version, optional_version=True)
        problems += job_problems(self.job_name)
        if not getattr(self.dataframe, "isStreaming", False):
            problems.append(f"a streaming Spark DataFrame is required (spark.readStream...), got "
                            f"{type(self.dataframe).__name__}"
                            + (" that is not streaming: use insert() for a batch"
                               if hasattr(self.dataframe, "isStreaming") else ""))
        if self.mode not in MODES:
            problems.append(f"operation {self.mode!r} is not one of {', '.join(MODES)}")
        if self.output_mode not in OUTPUT_MODES:
            problems.append(f"output mode {self.output_mode!r} is not one of "
                            f"{', '.join(OUTPUT_MODES)}")
        if self.trigger is not None and (not isinstance(self.trigger, Mapping) or len(self.trigger) != 1
                                         or next(iter(self.trigger)) not in TRIGGERS):
            problems.append(f"trigger must be one of {{'processingTime': '10 seconds'}}, "
                            f"{{'availableNow': True}}, {{'once': True}}, got {self.trigger!r}")
        if self.trigger is not None and "continuous" in self.trigger:
            problems.append("a continuous trigger has no micro-batches to commit: use "
                            "processingTime")
        if (isinstance(self.statistics_every, bool) or not isinstance(self.statistics_every, int)
                or self.statistics_every < 0):
            problems.append(f"statistics_every must be an integer >= 0, got "
                            f"{self.statistics_every!r}")
        if not isinstance(self.dead_letter, bool):
            problems.append(f"dead_letter must be True or False, got {self.dead_letter!r}")
        if self.query_name is not None and (not isinstance(self.query_name, str)
                                            or not self.query_name.replace("_", "").isalnum()):
            problems.append(f"query name must be letters, digits and _, got {self.query_name!r}")
        return problems


def stream_id(query: str) -> str:
    """The id of a stream's Delta transactions, from Spark's query id (kept in its checkpoint:
    the same after a restart; a new checkpoint is a new stream, whose batches count from 0)."""
    return "stream" + hashlib.sha256(query.encode()).hexdigest()[:16]


class Streams:
    """The streaming writes of one store; ``stop`` ends them at a micro-batch boundary."""

    def __init__(self, ctx: Context, writes: FeatureGroupWrites) -> None:
        self.ctx, self.writes = ctx, writes
        self._queries: list[StreamingQuery] = []
        self._lock = threading.Lock()

    def folder(self, project: str, name: str, version: int) -> str:
        return self.ctx.settings.streams_path(project, name, version)

    def checkpoint(self, project: str, name: str, version: int, query_name: str | None) -> str:
        return paths.join(self.folder(project, name, version), query_name or "default")

    def dead_letter_location(self, group: FeatureGroup) -> str:
        return paths.join(self.folder(group.project, group.name, group.version), dl.FOLDER)

    def dead_letter(self, group: FeatureGroup) -> DataFrame:
        """The group's dead-letter table (``dead_letter``): empty when no stream put a bad event
        there."""
        location = self.dead_letter_location(group)
        if not self.ctx.path_exists(location):
            return self.ctx.spark.createDataFrame([], dl.SCHEMA)
        return self.ctx.spark.read.format("delta").load(location)

    def start(self, spec: StreamSpec) -> StreamingQuery:
        """Start the query (see the module's docstring); returns Spark's StreamingQuery."""
        what = f"cannot stream into feature group {spec.name!r}"
        problems = spec.problems()
        project = spec.project or self.ctx.settings.project
        group = None
        if not problems:
            try:
                group = self.ctx.metadata.get_feature_group(project, spec.name, spec.version)
            except FeatureGroupNotFound as e:
                problems.append(f"{e}: create it first (a stream writes into a feature group)")
        if group is not None and group.external:
            problems.append(f"{group.name} v{group.version} is an external feature group: its "
                            "rows are its source's")
        if problems or group is None:
            raise InvalidInputError(what, problems)
        checkpoint = spec.checkpoint_dir or self.checkpoint(project, group.name, group.version,
                                                            spec.query_name)
        every = spec.statistics_every
        pending = pending_batch(self.ctx.spark, checkpoint)   # a stopped query's unfinished one
        dead = self.dead_letter_location(group)
        required = [*group.primary_key, *([group.event_time] if group.event_time else [])]
        off = StatisticsConfig(enabled=False)
        ids: dict[str, str] = {}

        def write_batch(batch: DataFrame, batch_id: int) -> None:
            if "app" not in ids:          # the checkpoint's metadata exists once the query runs
                ids["app"] = stream_id(query_id(self.ctx.spark, checkpoint))
            app = ids["app"]
            batch = batch.persist()       # the checks, the validation and the write read it
            try:
                good = self._without_bad_events(batch, batch_id, app, group, required, spec,
                                                dead, lambda: offsets(self.ctx.spark, checkpoint,
                                                                      batch_id))
                commit = self.writes.insert(InsertSpec(
                    group.name, good, project, group.version, spec.mode, online=spec.online,
                    statistics=None if every and batch_id % every == 0 else off,
                    validate=spec.validate, job_name=spec.job_name or f"stream {app}",
                    txn=(app, batch_id), replayed=batch_id == pending))
                if commit is not None and group.event_time:
                    self._record_freshness(group, good, commit.commit_id, app, batch_id)
            except Exception as e:        # which batch, which offsets: in the query's error
                e.add_note(f"micro-batch {batch_id} of the stream into {group.name} "
                           f"v{group.version} was not written; it reads Kafka offsets "
                           f"{offsets(self.ctx.spark, checkpoint, batch_id)}")
                raise
            finally:
                batch.unpersist()

        def writer(trigger: Mapping[str, Any] | None) -> Any:
            w = (spec.dataframe.writeStream.foreachBatch(write_batch)
                 .outputMode(spec.output_mode).option("checkpointLocation", checkpoint))
            if spec.query_name:
                w = w.queryName(spec.query_name)
            return w.trigger(**dict(trigger)) if trigger else w

        finish_pending(self.ctx.spark, checkpoint, lambda: writer({"once": True}).start())
        query = writer(spec.trigger).start()
        log.info("streaming into %s v%d (%s, checkpoint %s)", group.name, group.version,
                 spec.mode, checkpoint)
        with self._lock:
            self._queries.append(query)
        return query

    def _without_bad_events(self, batch: DataFrame, batch_id: int, app: str,
                            group: FeatureGroup, required: list[str], spec: StreamSpec,
                            dead: str, batch_offsets: Any) -> DataFrame:
        """The micro-batch's good events, without the columns not written (``dead_letter``);
        its bad ones go to the dead-letter table at ``dead`` (``spec.dead_letter``) or stop the
        query naming them."""
        cols = dl.columns(batch.sparkSession, batch.columns, group.feature_names, required)
        marked = batch.withColumn("__reason", dl.reason(cols))
        bad = marked.where("__reason IS NOT NULL")
        count = bad.count()
        if count and not spec.dead_letter:
            raise InvalidInputError(
                f"micro-batch {batch_id} of the stream into {group.name} v{group.version} has "
                f"{count} bad event(s)", dl.examples(bad, cols) + [
                    "insert_stream(..., dead_letter=True) keeps bad events in the group's "
                    "dead-letter table and writes the others"])
        if count:
            self.ctx.offline.append_to(
                dead, dl.rows(bad, cols, app, batch_id, batch_offsets()), (app, batch_id),
                f"dead letters of micro-batch {batch_id} into {group.name} v{group.version}")
            log.warning("micro-batch %d into %s v%d: %d bad event(s) kept in its dead-letter "
                        "table (fg.dead_letter())", batch_id, group.name, group.version, count)
            return marked.where("__reason IS NULL").drop("__reason", *cols.extra)
        return batch.drop(*cols.extra)

    def _record_freshness(self, group: FeatureGroup, batch: DataFrame, commit: int, app: str,
                          batch_id: int) -> None:
        """Keep with the commit how long its events took to become readable (online when the
        group is, else offline): p50 and p99 of now - event time, in milliseconds."""
        from pyspark.sql import functions as F
        event = F.col(quote(cast(str, group.event_time)))
        kind = batch.schema[cast(str, group.event_time)].dataType.typeName()
        if kind not in ("timestamp", "timestamp_ntz", "date"):
            return                        # an integer event time has no unit to measure in
        now = datetime.now(timezone.utc)
        micros = F.unix_micros(event.cast("timestamp"))
        row = batch.agg(F.percentile_approx((F.lit(int(now.timestamp() * 1e6)) - micros) / 1000,
                                            [0.5, 0.99]).alias("lag"),
                        F.count("*").alias("rows")).first()
        if row is None or row["lag"] is None:
            return
        self.ctx.metadata.put_document(Document(
            group.project, FG_FRESHNESS, group.name, group.version, commit,
            {"stream": app, "batch": batch_id, "rows": row["rows"],
             "readable": "online" if group.online else "offline",
             "p50_ms": float(row["lag"][0]), "p99_ms": float(row["lag"][1]),
             "measured_at": now.isoformat()}, now))

    def stop(self, timeout: float = 60.0) -> int:
        """Stop this store's running queries, each between two micro-batches (waiting up to
        ``timeout`` seconds for the batch under way); returns how many were stopped."""
        with self._lock:
            running = [q for q in self._queries if q.isActive]
            self._queries = []
        for query in running:
            deadline = time.monotonic() + timeout
            while query.status.get("isTriggerActive") and time.monotonic() < deadline:
                time.sleep(0.1)
            query.stop()
            log.info("stopped stream %s", query.name or query.id)
        return len(running)
