"""The streaming write's builder: ``Hops.insertIntoFeaturegroupStream``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .featuregroup import JobSetter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery


@dataclass(frozen=True)
class InsertIntoFeaturegroupStream(JobSetter):
    """``Hops.insertIntoFeaturegroupStream("card_tx").setDataframe(events).setMode("append")
    .setTrigger(processingTime="10 seconds").write()``: starts the query (``streaming.sink``)
    and returns Spark's StreamingQuery."""

    def setDataframe(self, df: DataFrame) -> InsertIntoFeaturegroupStream:
        """A streaming DataFrame (``spark.readStream...``)."""
        return self._with(dataframe=df)

    def setMode(self, mode: str) -> InsertIntoFeaturegroupStream:
        """``upsert`` (default: on the primary key, a late event never replaces a newer row) or
        ``append``."""
        return self._with(mode=mode)

    def setQueryName(self, name: str) -> InsertIntoFeaturegroupStream:
        return self._with(query_name=name)

    def setCheckpointDir(self, path: str) -> InsertIntoFeaturegroupStream:
        """Default: ``<home>/streams/<project>/<name>_<version>/<query name or default>``."""
        return self._with(checkpoint_dir=path)

    def setTrigger(self, trigger: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> InsertIntoFeaturegroupStream:
        """``setTrigger(processingTime="10 seconds")`` or ``setTrigger({"availableNow": True})``."""
        return self._with(trigger={**(trigger or {}), **kwargs})

    def setOutputMode(self, mode: str) -> InsertIntoFeaturegroupStream:
        """Of a streaming aggregation: ``update`` (default), ``append`` or ``complete``."""
        return self._with(output_mode=mode)

    def setOnline(self, online: bool = True) -> InsertIntoFeaturegroupStream:
        return self._with(online=online)

    def setStatisticsEvery(self, batches: int) -> InsertIntoFeaturegroupStream:
        """Statistics of every Nth micro-batch's commit (0: none)."""
        return self._with(statistics_every=batches)

    def setDeadLetter(self, dead_letter: bool = True) -> InsertIntoFeaturegroupStream:
        """Bad events to the group's dead-letter table instead of stopping the query."""
        return self._with(dead_letter=dead_letter)

    def write(self) -> StreamingQuery:
        return self._fs().insert_stream(self.spec)
