"""Point-in-time joins against a brute-force reference (pandas merge_asof per key) on seeded
random data: ties, nulls, keys of several columns that concatenate alike, rows that arrive late
(appended with older event times), a maximum age, and timestamps around DST changes."""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from datetime import datetime, timezone

import pandas as pd
import pytest
from pyspark.sql import functions as F

from featurestore_spark import ConfigurationError, InvalidInputError, featurestore
from featurestore_spark.query import pit_skew

# keys of two string columns whose concatenations collide
KEYS = [("a", "bc"), ("ab", "c"), ("a|b", "c"), ("a", "b|c"), ("", "abc"), ("abc", ""), ("x", "y")]
EVENTS = "eid long, k1 string, k2 string, t timestamp, v double, rid long"
LABELS = "lid long, k1 string, k2 string, ts timestamp"


def seconds_frame(spark, data, schema, seconds_columns):
    """A DataFrame from rows whose timestamp columns are given as epoch seconds (so that no
    Python time zone conversion is involved)."""
    raw = schema
    for c in seconds_columns:
        raw = raw.replace(f"{c} timestamp", f"{c} long")
    df = spark.createDataFrame(data, raw)
    return df.select(*[F.timestamp_seconds(c).alias(c) if c in seconds_columns else c
                       for c in df.columns])


def random_events(rng, n, start_id, times, null_keys=True):
    out = []
    for i in range(start_id, start_id + n):
        k1, k2 = rng.choice(KEYS)
        if null_keys and rng.random() < 0.05:
            k2 = None                                     # never used by the join
        v = None if rng.random() < 0.1 else float(rng.randint(0, 3))   # ties on v too
        out.append((i, k1, k2, rng.choice(times), v, i))
    return out


def random_labels(rng, n, times):
    out = []
    for i in range(n):
        k1, k2 = rng.choice(KEYS + [("zz", "zz")])        # a key no feature group has
        if rng.random() < 0.05:
            k1 = None
        t = None if rng.random() < 0.05 else rng.choice(times)
        out.append((i, k1, k2, t))
    return out + out[:5]                                  # duplicate label rows (new ids below)


def reference(labels, events, max_age=None):
    """lid -> rid of the event each label gets: pandas merge_asof by (k1, k2), ties broken by
    the greatest (v, rid), nulls lowest; None when there is none."""
    right = pd.DataFrame(events, columns=["eid", "k1", "k2", "t", "v", "rid"])
    right = right.dropna(subset=["k1", "k2", "t"])
    right = right.sort_values(["t", "v", "rid"], na_position="first", kind="mergesort")
    left = pd.DataFrame(labels, columns=["lid", "k1", "k2", "ts"])
    usable = left.dropna(subset=["k1", "k2", "ts"]).astype({"ts": "int64"})
    merged = pd.merge_asof(usable.sort_values("ts", kind="mergesort"),
                           right[["k1", "k2", "t", "rid"]].astype({"t": "int64"}),
                           left_on="ts", right_on="t", by=["k1", "k2"], direction="backward",
                           allow_exact_matches=True, tolerance=max_age)
    found = {int(r.lid): (None if pd.isna(r.rid) else int(r.rid)) for r in merged.itertuples()}
    return {int(lid): found.get(int(lid)) for lid in left["lid"]}


def lid_to(df, column):
    got = [(r["lid"], r[column]) for r in df.select("lid", column).collect()]
    assert len(got) == len({lid for lid, _ in got}), "one output row per label row"
    return dict(got)


@contextmanager
def session_time_zone(spark, zone):
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        yield
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)


def make_events(spark, rng, name, times, late_times):
    """A feature group of events, then a later commit of rows with older event times."""
    first = random_events(rng, 150, 0 if name == "events" else 10_000, times)
    late = random_events(rng, 60, 5_000 if name == "events" else 15_000, late_times)
    featurestore.create_featuregroup(seconds_frame(spark, first, EVENTS, ["t"]), name,
                                     primary_key="eid", event_time="t")
    featurestore.insert_into_featuregroup(seconds_frame(spark, late, EVENTS, ["t"]), name)
    return first + late


@pytest.fixture
def hot_keys_cut(spark, monkeypatch):
    """Every key of the small data counts as hot: cut into event-time ranges (see pit_skew)."""
    monkeypatch.setattr(pit_skew, "SKEW", pit_skew.Skew(fraction=1.0, min_sampled=1))
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    spark.conf.set(pit_skew.MIN_BYTES, "0")
    yield
    spark.conf.unset(pit_skew.MIN_BYTES)
    spark.conf.set("spark.sql.shuffle.partitions", before)


@pytest.mark.parametrize("max_age,cut", [(None, False), (1800, False), (1800, True)])
def test_point_in_time_join_matches_merge_asof(store, spark, request, caplog, max_age, cut):
    if cut:
        request.getfixturevalue("hot_keys_cut")
        caplog.set_level(logging.INFO, logger=pit_skew.__name__)
    rng = random.Random(20261125 + (max_age or 0))
    base = 1_780_000_000
    times = [base + 600 * i for i in range(40)]           # a coarse grid: many exact ties
    events = make_events(spark, rng, "events", times, times[:15])
    others = make_events(spark, rng, "others", times, times[:15])
    labels = random_labels(rng, 240, times)
    labels = [(i, *row[1:]) for i, row in enumerate(labels)]   # duplicates get their own ids
    labels_df = seconds_frame(spark, labels, LABELS, ["ts"])
    q = (store.query_labels(labels_df, event_time="ts")
         .join(store.query("events").select(["v", "rid"]), on=["k1", "k2"], max_age=max_age)
         .join(store.query("others").select(["v", "rid"]), on=["k1", "k2"], prefix="o_",
               max_age=max_age))
    assert all(j.point_in_time for j in q.joins)
    out = q.read().cache()
    assert out.count() == len(labels)
    assert ("7 hot key(s) cut into" in caplog.text) == cut
    assert out.columns == ["lid", "k1", "k2", "ts", "v", "rid", "o_v", "o_rid"]
    expected = reference(labels, events, max_age)
    assert lid_to(out, "rid") == expected
    # the data has what it is meant to test: matches and misses, ties, late rows that are used
    tied = pd.DataFrame(events).groupby([1, 2, 3]).size()
    assert (tied > 1).sum() > 10 and 0.1 < sum(v is None for v in expected.values()) / len(expected) < 0.8
    assert any(rid is not None and rid >= 5_000 for rid in expected.values())
    assert lid_to(out, "o_rid") == reference(labels, others, max_age)
    expected_v = {e[5]: e[4] for e in events}
    assert all(r.v == expected_v.get(r.rid) for r in out.collect())
    labels_df.createOrReplaceTempView("pit_labels")
    sql = spark.sql(q.to_sql(labels="pit_labels"))
    assert sorted(map(tuple, sql.collect())) == sorted(map(tuple, out.collect()))
    assert lid_to(sql, "rid") == reference(labels, events, max_age)
    out.unpersist()


def test_point_in_time_join_across_dst_changes(store, spark):
    rng = random.Random(7)
    spring = int(datetime(2026, 3, 29, 1, tzinfo=timezone.utc).timestamp())   # 02:00 CET -> 03:00 CEST
    autumn = int(datetime(2026, 10, 25, 1, tzinfo=timezone.utc).timestamp())  # 03:00 CEST -> 02:00 CET
    times = [edge + 300 * i for edge in (spring, autumn) for i in range(-24, 25)]
    with session_time_zone(spark, "Europe/Berlin"):
        events = random_events(rng, 200, 0, times, null_keys=False)
        # by the wall clock 02:45 CEST (00:45 UTC) comes after 02:20 CET (01:20 UTC); by the
        # instant it is 35 minutes before it
        events.append((999, "x", "y", autumn - 900, 42.0, 999))
        events = [e for e in events if not (e[1:3] == ("x", "y") and autumn - 900 < e[3] <= autumn + 1200
                                            and e[0] != 999)]
        featurestore.create_featuregroup(seconds_frame(spark, events, EVENTS, ["t"]), "events",
                                         primary_key="eid", event_time="t")
        labels = random_labels(rng, 200, times)
        labels = [(i, *row[1:]) for i, row in enumerate(labels)] + [(1000, "x", "y", autumn + 1200)]
        labels_df = seconds_frame(spark, labels, LABELS, ["ts"])
        q = store.query_labels(labels_df, "ts").join(store.query("events").select(["v", "rid"]),
                                                     on=["k1", "k2"], max_age=3600)
        got = lid_to(q.read(), "rid")
        assert got[1000] == 999
        assert got == reference(labels, events, 3600)
        local = q.read().where("lid = 1000").select(F.date_format("ts", "HH:mm z")).first()[0]
        assert local == "02:20 CET"


def test_feature_group_on_the_left_integer_times_and_inner(store, spark):
    orders = spark.createDataFrame([(1, 7, 100), (2, 7, 250), (3, 8, 300), (4, 9, 50), (5, 7, 90)],
                                   "order_id int, customer int, at bigint")
    profiles = spark.createDataFrame([(1, 7, 100, 0.1), (2, 7, 200, 0.2), (3, 8, 301, 0.3),
                                      (4, 7, 250, 0.25), (5, 9, 10, 0.9)],
                                     "profile_id int, customer bigint, at bigint, score double")
    featurestore.create_featuregroup(orders, "orders", primary_key="order_id", event_time="at")
    featurestore.create_featuregroup(profiles, "profiles", primary_key="profile_id",
                                     event_time="at")
    p = store.query("profiles").select(["score"])
    q = store.query("orders").join(p, on="customer")
    got = {r.order_id: r.score for r in q.read().collect()}
    assert got == {1: 0.1, 2: 0.25, 3: None, 4: 0.9, 5: None}
    assert q.read().schema["customer"].dataType.simpleString() == "int"   # typed as the left's
    aged = {r.order_id: r.score for r in store.query("orders").join(p, on="customer", max_age=30)
            .read().collect()}
    assert aged == {1: 0.1, 2: 0.25, 3: None, 4: None, 5: None}
    inner = store.query("orders").join(p, on="customer", join_type="inner")
    assert sorted(r.order_id for r in inner.read().collect()) == [1, 2, 4]
    assert sorted(map(tuple, spark.sql(inner.to_sql()).collect())) == \
        sorted(map(tuple, inner.read().collect()))
    plain = store.query("orders").join(p, on="customer", point_in_time=False)
    assert plain.read().count() == 11                    # every profile row of the customer
    with pytest.raises(InvalidInputError, match="left or inner, not full"):
        store.query("orders").join(p, on="customer", join_type="full")
    labels = spark.createDataFrame([(1, datetime(2026, 1, 1))], "customer int, ts timestamp")
    with pytest.raises(InvalidInputError, match="event times of one kind"):
        store.query_labels(labels, "ts").join(p, on="customer", point_in_time=True)
    with pytest.raises(InvalidInputError, match="must be a timestamp, date or integer"):
        store.query_labels(labels.selectExpr("customer", "'x' AS ts"), "ts")


@pytest.mark.parametrize("cut", [False, True])
def test_ties_with_a_map_column_brought_along(store, spark, request, cut):
    """A map column cannot be sorted: ties are broken by the other columns all the same (also
    in rows carried into a later event-time range of a hot key)."""
    if cut:
        request.getfixturevalue("hot_keys_cut")
    orders = spark.createDataFrame([(1, 7, 100), (2, 8, 100), (3, 7, 95)],
                                   "order_id int, customer int, at bigint")
    tags = spark.createDataFrame(
        [(1, 7, 100, 0.5, {"a": 1}), (2, 7, 100, 0.7, {"b": 2}), (3, 7, 90, 0.9, {"c": 3}),
         (4, 8, 100, None, {"d": 4}), (5, 8, 100, 0.1, {"e": 5})],
        "tag_id int, customer int, at bigint, score double, tags map<string,int>")
    featurestore.create_featuregroup(orders, "orders", primary_key="order_id", event_time="at")
    featurestore.create_featuregroup(tags, "tags", primary_key="tag_id", event_time="at")
    q = store.query("orders").join(store.query("tags").select(["score", "tags"]), on="customer")
    # greatest score; nulls lowest
    want = {1: (0.7, {"b": 2}), 2: (0.1, {"e": 5}), 3: (0.9, {"c": 3})}
    assert {r.order_id: (r.score, r.tags) for r in q.read().collect()} == want
    assert {r.order_id: (r.score, r.tags) for r in spark.sql(q.to_sql()).collect()} == want


def test_a_hot_keys_event_time_ranges_go_to_different_tasks(spark, monkeypatch):
    """One key with a fifth of the rows, 16 shuffle partitions: it is cut into ranges of about
    a quarter of a task's share, each placed in a task of its own (Spark's hash partitioning)."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "16")
    try:
        rows = spark.range(20_000).select(
            F.when(F.col("id") % 5 == 0, 0).otherwise(F.col("id")).alias("k"), F.col("id").alias("t"))
        split = pit_skew.plan(spark, [rows], ["k"], "t", pit_skew.Skew(fraction=0.5, min_sampled=1))
        assert split is not None and split.values == ((0,),)
        cuts, places = split.cuts[0], split.places[0]
        assert len(places) == len(cuts) + 1 and 12 <= len(places) <= 15  # ~ 1/5 * 16 * 4
        assert list(cuts) == sorted(cuts) and 0 < cuts[0] and cuts[-1] < 20_000
        tasks = (spark.createDataFrame([(0, p) for p in places], "k bigint, place int")
                 .select(F.pmod(F.hash("k", "place"), F.lit(16)).alias("task")).collect())
        assert len({r.task for r in tasks}) == len(places)
        spark.conf.set(pit_skew.SWITCH, "false")
        assert pit_skew.plan(spark, [rows], ["k"], "t", pit_skew.Skew(fraction=0.5, min_sampled=1)) is None
    finally:
        spark.conf.unset(pit_skew.SWITCH)
        spark.conf.set("spark.sql.shuffle.partitions", before)


def test_hot_keys_are_looked_for_in_large_feature_groups_only(spark):
    mib = 2 ** 20
    try:
        assert pit_skew.worth(spark, [100 * mib, None, 100 * mib]) is pit_skew.OFF   # < 256 MiB
        assert pit_skew.worth(spark, [200 * mib, 100 * mib]) is pit_skew.SKEW
        spark.conf.set(pit_skew.MIN_BYTES, "1g")
        assert pit_skew.worth(spark, [300 * mib]) is pit_skew.OFF
        spark.conf.set(pit_skew.MIN_BYTES, "0")
        assert pit_skew.worth(spark, [None]) is pit_skew.SKEW
        spark.conf.set(pit_skew.MIN_BYTES, "lots")
        with pytest.raises(ConfigurationError, match="skewMinBytes must be a size"):
            pit_skew.worth(spark, [1])
    finally:
        spark.conf.unset(pit_skew.MIN_BYTES)


def test_a_hot_timestamp_ntz_key_is_found_whatever_the_session_time_zone(spark):
    """The collected key (a naive datetime) goes back as a timestamp_ntz literal, not as an
    instant in the driver's time zone, which would match no row."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        with session_time_zone(spark, "America/New_York"):
            rows = spark.range(4000).selectExpr(
                "TIMESTAMP_NTZ '2026-01-01 00:00:00' + make_dt_interval(0, 0, 0, "
                "CASE WHEN id % 4 = 0 THEN 0 ELSE id END) AS k", "id AS t")
            split = pit_skew.plan(spark, [rows], ["k"], "t",
                                  pit_skew.Skew(fraction=1.0, min_sampled=1))
        assert split is not None and split.values == ((datetime(2026, 1, 1),),)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
