"""A restart's first micro-batch, around a bug of Spark 4.1.1's Kafka source (SPARK-55271: the
progress report of a micro-batch replayed from the checkpoint, before the source was asked for
its latest offsets, fails with a NullPointerException in ``KafkaMicroBatchStream.metrics``).
Fixed upstream after 4.1.1, the newest spark-sql-kafka that Maven Central serves here.

The replayed batch is written and committed before that report fails, so a query restarted with a
micro-batch planned but not committed (what a killed query leaves) runs that batch first in a
query of its own, lets that one known failure through, and then the query asked for starts. This
reads Spark's checkpoint layout (``metadata``, ``offsets/<batch>``, ``commits/<batch>``), as the
sink does for its query's id and a batch's offsets: the streaming tests fail if an upgrade
changes it.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Callable

from .. import paths
from ..errors import FeatureStoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)
KNOWN = 'because the return value of "scala.Option.get()" is null'


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """Spark's id of the query whose checkpoint this is (``metadata``: ``{"id": ...}``, written
    when it first starts): the same after a restart, a new one for a new checkpoint."""
    text = paths.read_text(spark, paths.join(checkpoint, "metadata"))
    if not text:
        raise FeatureStoreError(f"the streaming checkpoint {checkpoint} has no metadata file")
    return str(json.loads(text.splitlines()[0])["id"])


def offsets(spark: SparkSession, checkpoint: str, batch: int) -> str:
    """The source offsets a micro-batch reads (its ``offsets/<batch>`` file's last line)."""
    text = paths.read_text(spark, paths.join(checkpoint, f"offsets/{batch}")) or ""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "unknown"


def _batches(spark: SparkSession, folder: str) -> set[int]:
    return {int(name) for name in paths.children(spark, folder) if name.isdigit()}


def pending_batch(spark: SparkSession, checkpoint: str) -> int | None:
    """The micro-batch a stopped query planned but did not commit, or None."""
    planned = _batches(spark, paths.join(checkpoint, "offsets"))
    if not planned or max(planned) in _batches(spark, paths.join(checkpoint, "commits")):
        return None
    return max(planned)


def finish_pending(spark: SparkSession, checkpoint: str,
                   start_once: Callable[[], StreamingQuery]) -> None:
    """Run the micro-batch a killed query left (``start_once``: the query with a ``once``
    trigger), accepting the known failure of its progress report once it is committed."""
    from pyspark.errors import StreamingQueryException
    batch = pending_batch(spark, checkpoint)
    if batch is None:
        return
    log.info("replaying micro-batch %d of %s, which a stopped query left", batch, checkpoint)
    query = start_once()
    try:
        query.awaitTermination()
    except StreamingQueryException as e:
        if KNOWN not in str(e) or batch not in _batches(spark, paths.join(checkpoint, "commits")):
            raise
        log.info("micro-batch %d is committed (Spark's Kafka source then fails its progress "
                 "report: SPARK-55271); starting the query", batch)
