"""Streaming ingestion (issue 17) against the project's Kafka broker: micro-batches written into
feature groups offline and online as upserts or appends, exactly once through a SIGKILL between a
Delta commit and its registration, refused by a STRICT suite with nothing of the batch written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from featurestore_spark.errors import InvalidInputError

from ..conftest import ROOT, read_env_file, settings_env
from .helpers import rows
from .stream_writer import EVENT, events, produce

HERE = Path(__file__).parent
T0 = datetime(2025, 1, 1)


@pytest.fixture(scope="session")
def kafka() -> str:
    """The bootstrap address of the test broker (`make kafka`, part of `make test`)."""
    env = read_env_file(ROOT / ".cache" / "kafka.env")
    assert env, "no test Kafka broker: run `make kafka` (make test starts it)"
    return env["FEATURESTORE_TEST_KAFKA_BOOTSTRAP"]


def topic() -> str:
    return f"fs-test-{uuid.uuid4().hex[:12]}"


def card_events(n: int, cards: int = 5) -> list[tuple]:
    """(card_id, tx_id, ts, amount): tx_id increasing in time, cards round robin."""
    return [(1 + i % cards, i, T0 + timedelta(minutes=i), float(i % 7)) for i in range(n)]


def latest(events_: list[tuple]) -> list[tuple]:
    frame = pd.DataFrame(events_, columns=["card_id", "tx_id", "ts", "amount"])
    last = frame.sort_values("ts").groupby("card_id").tail(1).sort_values("card_id")
    return [tuple(r) for r in last.itertuples(index=False)]


def test_a_kafka_stream_upserts_each_micro_batch_offline_and_online(store, kafka, tmp_path):
    first = card_events(1)
    fg = store.get_or_create_feature_group("card_last", primary_key=["card_id"], event_time="ts",
                                           online_enabled=True)
    fg.insert(store.spark.createDataFrame(first, EVENT))
    name = topic()
    sent = card_events(31)[1:]
    produce(store.spark, kafka, name, sent)
    with pytest.raises(InvalidInputError, match="a streaming Spark DataFrame is required"):
        fg.insert_stream(store.spark.createDataFrame(first, EVENT))
    query = fg.insert_stream(events(store.spark, kafka, name, 15), query_name="card_last_q",
                             trigger={"availableNow": True}, statistics_every=0)
    query.awaitTermination(300)
    assert query.exception() is None
    commits = store.commits("card_last")
    assert len(commits) == 1 + 2 and {c.operation for c in commits[1:]} == {"upsert"}
    assert all(c.job.startswith("stream stream") for c in commits[1:])
    assert sorted(rows(fg.read())) == latest(first + sent)
    assert sorted(rows(fg.read(online=True))) == latest(first + sent)
    # the checkpoint is a folder of the feature group under the home
    assert (Path(store.settings.home_path) / "streams" / store.settings.project / "card_last_1"
            / "card_last_q" / "commits").is_dir()
    assert store.stop_streams() == 0                       # it had ended (availableNow)
    # later, on the same checkpoint: a late event of card 2 (older than its stored row) changes
    # nothing offline or online; a newer one of card 3 replaces its row
    late = [(2, 900, T0 - timedelta(days=1), 99.0), (3, 901, T0 + timedelta(days=1), 1.0)]
    produce(store.spark, kafka, name, late)
    again = fg.insert_stream(events(store.spark, kafka, name, 15), query_name="card_last_q",
                             trigger={"availableNow": True}, statistics_every=0)
    again.awaitTermination(300)
    assert again.exception() is None
    want = [r for r in latest(first + sent) if r[0] != 3] + [late[1]]
    assert sorted(rows(fg.read())) == sorted(want)
    assert sorted(rows(fg.read(online=True))) == sorted(want)


def test_a_strict_suite_stops_the_stream_and_writes_nothing_of_the_batch(store, kafka):
    fg = store.get_or_create_feature_group("card_checked", primary_key=["card_id"],
                                           event_time="ts", online_enabled=True)
    fg.insert(store.spark.createDataFrame(card_events(3), EVENT))
    fg.save_expectation_suite({"name": "amounts", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "amount", "min_value": 0}}]}, "STRICT")
    name = topic()
    produce(store.spark, kafka, name, [(1, 100, T0 + timedelta(days=1), -5.0)])
    query = fg.insert_stream(events(store.spark, kafka, name, 10),
                             trigger={"availableNow": True})
    with pytest.raises(Exception) as stopped:
        query.awaitTermination(300)
    assert "expect_column_values_to_be_between" in str(stopped.value)
    assert "micro-batch 0 of the stream into card_checked v1 was not written; it reads Kafka " \
        f"offsets {{\"{name}\"" in str(stopped.value)
    assert [c.commit_id for c in store.commits("card_checked")] == [0]
    assert sorted(rows(fg.read(online=True))) == latest(card_events(3))


@pytest.mark.parametrize("point, registered", [("write", 1), ("commit", 1), ("online", 2)])
def test_a_stream_killed_in_a_micro_batch_applies_every_event_once(
        store, kafka, fs_home, tmp_path, point, registered):
    """A real streaming process, SIGKILLed in its second micro-batch (before its Delta commit,
    between that commit and its registration, or registered but not yet online nor committed
    in the checkpoint), then restarted from its checkpoint: every event once offline (appends,
    no duplicate, none missing), the latest per card online."""
    first = card_events(1)
    fg = store.get_or_create_feature_group(f"card_tx_{point}", primary_key=["card_id"],
                                           event_time="ts", online_enabled=True)
    fg.insert(store.spark.createDataFrame(first, EVENT))
    name, checkpoint = topic(), str(tmp_path / "checkpoint")
    sent = card_events(30)[1:]
    produce(store.spark, kafka, name, sent)
    env = {**os.environ, **settings_env(fs_home, store.settings.project),
           "FEATURESTORE_SPARK_MASTER": "local[1]", "PYTHONPATH": str(ROOT),
           "FEATURESTORE_TEST_KAFKA_BOOTSTRAP": kafka}
    writer = subprocess.Popen([sys.executable, str(HERE / "stream_writer.py"), name, checkpoint,
                               "10", f"1:{point}", fg.name], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=(tmp_path / "writer.log").open("w"), text=True)
    try:
        line = writer.stdout.readline()
        assert line, (tmp_path / "writer.log").read_text()[-3000:]
        assert json.loads(line) == {"stalled": point}
    finally:
        writer.kill()                                     # SIGKILL: nothing of it runs
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    assert len(store.commits(fg.name)) == 1 + registered
    again = subprocess.run([sys.executable, str(HERE / "stream_writer.py"), name, checkpoint,
                            "10", "-", fg.name], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {"done": True}
    stored = rows(fg.read())
    assert sorted(stored) == sorted(first + sent)          # every event once: none twice or lost
    assert len(store.commits(fg.name)) == 1 + 3            # one commit per micro-batch
    assert sorted(rows(fg.read(online=True))) == latest(first + sent)
    assert store.check_online(fg.name).consistent


def _job(name: str):
    """A module of jobs/ (spark-submit puts the script's folder first on the path)."""
    import importlib
    sys.path.insert(0, str(ROOT / "jobs"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "jobs"))


def test_the_stream_ingest_job_keeps_each_cards_last_hour_online(store, kafka, tmp_path):
    """jobs/stream_ingest.py's pipeline on Avro events from jobs/kafka_produce.py: windowed
    aggregates with a watermark, streamed into an online feature group; freshness kept."""
    produce_job, ingest = _job("kafka_produce"), _job("stream_ingest")
    name = topic()
    sent = produce_job.transactions(store.spark, 240, 4, T0)
    produce_job.produce(sent, kafka, name, "avro")
    query = ingest.start(store, kafka, name, "avro", available_now=True,
                         checkpoint=str(tmp_path / "checkpoint"))
    query.awaitTermination(300)
    assert query.exception() is None
    expected = (sent.groupBy("card_id").agg({"*": "count", "amount": "sum"})
                .withColumnRenamed("count(1)", "n").withColumnRenamed("sum(amount)", "total"))
    want = sorted((r.card_id, T0 + timedelta(hours=1), r.n, r.total) for r in expected.collect())
    online = sorted(r[:4] for r in rows(store.get_feature_group("card_activity").read(online=True)))
    assert online == want                 # each card's hour from T0: every one of its events
    described = store.metadata.documents(store.settings.project, "fg.freshness", "card_activity",
                                         1)
    assert described and all(d.body["p99_ms"] >= d.body["p50_ms"] > 0 for d in described)
    assert {d.body["readable"] for d in described} == {"online"}


def _raw_events(spark, bootstrap: str, name: str, per_batch: int = 100):
    """``name``'s events parsed with Spark's corrupt-record column, Kafka's coordinates kept."""
    from pyspark.sql import functions as F
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", name).option("startingOffsets", "earliest")
           .option("maxOffsetsPerTrigger", per_batch).load())
    parsed = F.from_json(F.col("value").cast("string"), EVENT + ", _corrupt_record STRING")
    return raw.select("topic", "partition", "offset", parsed.alias("e")).select(
        "topic", "partition", "offset", "e.*")


def test_bad_events_stop_the_stream_or_go_to_the_dead_letter_table(store, kafka):
    """A key of the wrong type, a missing key, no JSON, a feature of the wrong type: without
    dead_letter the query stops naming each one's offset, nothing written; with it (the Hops
    builder) the good events are written offline and online and the bad ones kept once, with
    their reasons and offsets, also when a batch is written again; a delete removes them."""
    from featurestore_spark import Hops
    fg = store.get_or_create_feature_group("card_dlq", primary_key=["card_id"], event_time="ts",
                                           online_enabled=True)
    fg.insert(store.spark.createDataFrame(card_events(2), EVENT))
    name = topic()
    good = [(3, 10, T0 + timedelta(hours=1), 5.0), (1, 11, T0 + timedelta(hours=2), 6.0)]
    bad = ['{"card_id": "x", "tx_id": 12, "ts": "2025-01-01T03:00:00", "amount": 1.0}',
           '{"tx_id": 13, "ts": "2025-01-01T04:00:00", "amount": 1.0}',
           'not json',
           '{"card_id": 4, "tx_id": 14, "ts": "2025-01-01T05:00:00", "amount": "abc"}']
    values = [json.dumps({"card_id": c, "tx_id": t, "ts": ts.isoformat(), "amount": a})
              for c, t, ts, a in good] + bad
    (store.spark.createDataFrame([(v,) for v in values], "value STRING").coalesce(1)
     .write.format("kafka").option("kafka.bootstrap.servers", kafka).option("topic", name).save())
    at = {r.value: f"{name}/{r.partition}/{r.offset}" for r in store.spark.read.format("kafka")
          .option("kafka.bootstrap.servers", kafka).option("subscribe", name).load()
          .selectExpr("CAST(value AS STRING) AS value", "partition", "offset").collect()}

    stopped = fg.insert_stream(_raw_events(store.spark, kafka, name), query_name="strict",
                               trigger={"availableNow": True})
    with pytest.raises(Exception) as error:
        stopped.awaitTermination(300)
    message = str(error.value)
    assert "micro-batch 0 of the stream into card_dlq v1 has 4 bad event(s)" in message
    assert f"'card_id' is missing; it does not parse (a value of the wrong type, or not JSON) " \
        f"at offset {at[bad[0]]}" in message
    assert f"'card_id' is missing at offset {at[bad[1]]}" in message
    assert f"at offset {at[bad[3]]}: {bad[3]}" in message
    assert [c.commit_id for c in store.commits("card_dlq")] == [0]
    assert fg.dead_letter().count() == 0

    query = (Hops.insertIntoFeaturegroupStream("card_dlq").setStore(store)
             .setDataframe(_raw_events(store.spark, kafka, name)).setQueryName("lenient")
             .setTrigger(availableNow=True).setDeadLetter().setStatisticsEvery(0).write())
    query.awaitTermination(300)
    assert query.exception() is None
    assert sorted(rows(fg.read())) == latest(card_events(2) + good)
    assert sorted(rows(fg.read(online=True))) == latest(card_events(2) + good)
    dead = fg.dead_letter()
    sent_at = {offset: value for value, offset in at.items()}
    kept = {sent_at[f"{r.topic}/{r.partition}/{r.offset}"]: r for r in dead.collect()}
    assert set(kept) == set(bad) and dead.count() == 4
    assert kept[bad[3]].raw == bad[3] and json.loads(kept[bad[3]].event)["card_id"] == 4
    assert kept["not json"].reason == ("'card_id' is missing; 'ts' is missing; it does not "
                                       "parse (a value of the wrong type, or not JSON)")
    assert kept[bad[1]].reason == "'card_id' is missing" and kept[bad[1]].raw is None
    assert json.loads(kept[bad[1]].event)["tx_id"] == 13
    assert {(r.batch_id, r.stream[:6]) for r in kept.values()} == {(0, "stream")}
    assert name in kept[bad[0]].batch_offsets
    # the batch's dead letters written again with its transaction (a replay): kept once
    folder = store.settings.streams_path(store.settings.project, "card_dlq", 1)
    store.offline.append_to(f"{folder}/dead-letter", dead, (kept[bad[0]].stream, 0), "a replay")
    assert fg.dead_letter().count() == 4
    fg.delete()
    assert not Path(folder).exists()


def test_a_batch_replayed_after_many_other_commits_is_found_not_written_again(store,
                                                                               monkeypatch):
    """A stream's batch replayed after a stop (the pending batch of its checkpoint) that was
    committed before more commits of other writers than the recent history searched: its commit
    is found in the whole history, not written again (an append would tie with itself)."""
    from featurestore_spark.offline import delta
    from featurestore_spark.spec import InsertSpec
    fg = store.get_or_create_feature_group("card_replayed", primary_key=["card_id"],
                                           event_time="ts")
    fg.insert(store.spark.createDataFrame(card_events(2), EVENT))
    batch = store.spark.createDataFrame(card_events(4)[2:3], EVENT)
    first = store.writes.insert(InsertSpec("card_replayed", batch, mode="append",
                                           txn=("streamtest", 0)))
    for event in card_events(6)[3:5]:                   # two later commits of another writer
        fg.insert(store.spark.createDataFrame([event], EVENT), operation="insert")
    monkeypatch.setattr(delta, "RECENT", 2)             # the batch's commit is older than that
    again = store.writes.insert(InsertSpec("card_replayed", batch, mode="append",
                                           txn=("streamtest", 0), replayed=True))
    assert again is not None and first is not None and again.commit_id == first.commit_id
    assert len(store.commits("card_replayed")) == 4
    assert sorted(rows(fg.read())) == sorted(card_events(5))
