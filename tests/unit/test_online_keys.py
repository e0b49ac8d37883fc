"""Keys and values an online table cannot hold, on both online backends (SQLite and MariaDB):
refused before anything is written, never cut or turned into something else; a failed full sync
leaves no staging table behind; lookup keys of the wrong shape or type are errors, not misses."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from pyspark.sql import functions as F

from featurestore_spark import featurestore
from featurestore_spark.errors import InvalidInputError, OnlineStoreError
from featurestore_spark.spec import ReadSpec

from .helpers import rows, snapshot

LONG_A, LONG_B = "a" * 255 + "x", "a" * 255 + "y"     # equal in their first 255 characters


def online_tables(store) -> list[str]:
    """The tables of the store's online database."""
    backend = store.online.backend
    with backend.connection(store.settings.project) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES" if backend.name == "mysql"
                    else "SELECT name FROM sqlite_master WHERE type = 'table'")
        return sorted(r[0] for r in cur.fetchall())


def staging_tables(store) -> list[str]:
    return [t for t in online_tables(store) if "staging" in t]


def online_rows(store, name):
    return rows(store.read(ReadSpec(name, online=True)))


def exploding(df, bad_key):
    """``df`` whose computation fails in an executor on the row whose ``k`` is ``bad_key``."""
    @F.udf("double")
    def boom(k, v):
        if k == bad_key:
            raise RuntimeError("injected failure")
        return v
    return df.withColumn("v", boom("k", "v"))


def test_string_keys_longer_than_the_key_column_are_refused_up_front(online_store):
    spark = online_store.spark
    schema = "k string, v double"
    long_keys = spark.createDataFrame([(LONG_A, 1.0), (LONG_B, 2.0), ("short", 3.0)], schema)
    before = snapshot(online_store, "urls")
    with pytest.raises(InvalidInputError, match=r"2 row\(s\) have a primary key 'k' longer than "
                                                r"the 255 characters .*the longest has 256"):
        featurestore.create_featuregroup(long_keys, "urls", primary_key="k", online=True)
    assert snapshot(online_store, "urls") == before
    assert online_tables(online_store) == []
    # 255 characters fit, and keys that differ only after them stay apart
    edge = spark.createDataFrame([("a" * 255, 1.0), ("a" * 254, 2.0)], schema)
    featurestore.create_featuregroup(edge, "urls", primary_key="k", online=True)
    assert online_rows(online_store, "urls") == [("a" * 254, 2.0), ("a" * 255, 1.0)]
    assert online_store.feature_vector(["v"], "a" * 255) == {"v": 1.0}
    assert online_store.feature_vector(["v"], LONG_A) == {"v": None}    # compared whole, not cut
    state = snapshot(online_store, "urls")
    # every write of an online feature group, offline only too: a later sync would write it
    for options in ({"mode": "append"}, {"mode": "upsert"}, {"mode": "append", "online": False},
                    {"mode": "append", "offline": False}, {"mode": "overwrite", "offline": False}):
        with pytest.raises(InvalidInputError, match="longer than the 255 characters"):
            featurestore.insert_into_featuregroup(long_keys, "urls", **options)
        assert snapshot(online_store, "urls") == state, options
    assert online_rows(online_store, "urls") == [("a" * 254, 2.0), ("a" * 255, 1.0)]
    # an offline feature group may hold them; syncing it online is refused, nothing left online
    featurestore.create_featuregroup(long_keys, "pages", primary_key="k")
    with pytest.raises(InvalidInputError, match="(?s)cannot sync feature group 'pages'.*longer than"):
        featurestore.sync_online_featuregroup("pages")
    assert staging_tables(online_store) == [] and "pages_1" not in online_tables(online_store)


def test_composite_keys_too_wide_for_innodb_are_refused_when_created(online_store):
    spark = online_store.spark
    four = spark.createDataFrame([("a", "b", "c", "d", 1.0)],
                                 "k1 string, k2 string, k3 string, k4 string, v double")
    before = snapshot(online_store, "wide")
    with pytest.raises(InvalidInputError, match=r"primary key \(k1, k2, k3, k4\) needs 4080 bytes"
                                                r".* more than the 3072 bytes InnoDB allows"):
        featurestore.create_featuregroup(four, "wide", primary_key=["k1", "k2", "k3", "k4"],
                                         online=True)
    assert snapshot(online_store, "wide") == before and online_tables(online_store) == []
    # three string columns and a bigint: 3068 bytes, MySQL takes it
    fits = spark.createDataFrame([("a", "b", "c", 4, 1.0)],
                                 "k1 string, k2 string, k3 string, n bigint, v double")
    featurestore.create_featuregroup(fits, "wide", primary_key=["k1", "k2", "k3", "n"], online=True)
    assert online_store.feature_vector(["v"], {"k1": "a", "k2": "b", "k3": "c", "n": 4}) == {"v": 1.0}


def test_maps_with_keys_other_than_strings_are_refused_online(online_store):
    spark = online_store.spark
    for i, kind in enumerate(["map<int,string>", "array<map<bigint,double>>",
                              "struct<a:map<string,map<date,int>>>"]):
        df = spark.sql(f"SELECT 1 AS id, CAST(NULL AS {kind}) AS m")
        before = snapshot(online_store, f"maps{i}")
        with pytest.raises(InvalidInputError, match=rf"feature 'm' of type {kind} cannot be online:"
                                                    r".* cast the map keys to string"):
            featurestore.create_featuregroup(df, f"maps{i}", primary_key="id", online=True)
        assert snapshot(online_store, f"maps{i}") == before
        featurestore.create_featuregroup(df, f"maps{i}", primary_key="id")     # offline: fine
        with pytest.raises(InvalidInputError, match="cannot be online"):
            featurestore.sync_online_featuregroup(f"maps{i}")
    assert online_tables(online_store) == []
    # maps with string keys come back as they were, nested too
    df = spark.sql("SELECT 1 AS id, map('a', map('b', 2)) AS m, "
                   "array(map('x', CAST(1.5 AS DOUBLE))) AS l")
    featurestore.create_featuregroup(df, "good", primary_key="id", online=True)
    assert online_store.feature_vector(["m", "l"], 1) == {"m": {"a": {"b": 2}}, "l": [{"x": 1.5}]}
    assert online_store.read(ReadSpec("good", online=True)).first().asDict() == \
        {"id": 1, "m": {"a": {"b": 2}}, "l": [{"x": 1.5}]}
    assert online_store.check_online("good").consistent


def test_nan_and_infinite_keys_are_refused_up_front(online_store):
    spark = online_store.spark
    schema = "k double, v double"
    bad = spark.createDataFrame([(1.0, 1.0), (float("nan"), 2.0), (float("inf"), 3.0)], schema)
    before = snapshot(online_store, "floats")
    with pytest.raises(InvalidInputError, match=r"2 row\(s\) have a NaN or infinite primary key "
                                                r"'k'"):
        featurestore.create_featuregroup(bad, "floats", primary_key="k", online=True)
    assert snapshot(online_store, "floats") == before and online_tables(online_store) == []
    featurestore.create_featuregroup(bad.where("k = 1.0"), "floats", primary_key="k", online=True)
    state = snapshot(online_store, "floats")
    for options in ({"mode": "upsert"}, {"mode": "append", "offline": False}):
        with pytest.raises(InvalidInputError, match="NaN or infinite primary key 'k'"):
            featurestore.insert_into_featuregroup(bad, "floats", **options)
        assert snapshot(online_store, "floats") == state
    assert online_rows(online_store, "floats") == [(1.0, 1.0)]
    # an offline feature group with a NaN key: its sync online is refused, nothing left online
    featurestore.create_featuregroup(bad, "offline_floats", primary_key="k")
    with pytest.raises(InvalidInputError, match="(?s)cannot sync .*NaN or infinite primary key"):
        featurestore.sync_online_featuregroup("offline_floats")
    assert staging_tables(online_store) == []
    # written past the checks, the online store refuses them and the staging table goes
    group = online_store.feature_group("floats")
    with pytest.raises(OnlineStoreError):
        online_store.online.replace(group, bad)
    assert staging_tables(online_store) == []
    assert online_rows(online_store, "floats") == [(1.0, 1.0)]


def test_a_failed_full_sync_leaves_no_staging_table(online_store, monkeypatch):
    spark = online_store.spark
    schema = "k string, v double"
    featurestore.create_featuregroup(spark.createDataFrame([("a", 1.0), ("b", 2.0)], schema),
                                     "vals", primary_key="k", online=True)
    before = online_rows(online_store, "vals")
    # an executor fails mid-write (online-only overwrite: staging, then swap)
    bad = exploding(spark.createDataFrame([("c", 3.0), ("d", 4.0)], schema).repartition(2), "d")
    with pytest.raises(OnlineStoreError, match="injected failure"):
        featurestore.insert_into_featuregroup(bad, "vals", mode="overwrite", offline=False)
    assert staging_tables(online_store) == [] and online_rows(online_store, "vals") == before
    # the swap fails (the server goes away between the write and the swap)
    backend = online_store.online.backend

    def swap_fails(*args):
        raise ConnectionError("injected: the server went away before the swap")
    monkeypatch.setattr(backend, "swap", swap_fails)
    good = spark.createDataFrame([("c", 3.0)], schema)
    with pytest.raises(ConnectionError, match="injected"):
        featurestore.insert_into_featuregroup(good, "vals", mode="overwrite", offline=False)
    assert staging_tables(online_store) == [] and online_rows(online_store, "vals") == before
    with pytest.raises(ConnectionError, match="injected"):
        online_store.sync_online("vals", full=True)
    assert staging_tables(online_store) == [] and online_rows(online_store, "vals") == before
    # a create whose first full sync fails leaves nothing: no table, no staging, no group
    state = snapshot(online_store, "more")
    with pytest.raises(ConnectionError, match="injected"):
        featurestore.create_featuregroup(good, "more", primary_key="k", online=True)
    assert snapshot(online_store, "more") == state
    assert online_tables(online_store) == ["vals_1"]
    monkeypatch.undo()
    # and the rerun completes
    assert featurestore.insert_into_featuregroup(good, "vals", mode="overwrite",
                                                 offline=False) is None
    assert online_rows(online_store, "vals") == [("c", 3.0)]
    assert online_store.sync_online("vals", full=True).mode == "full"
    assert online_rows(online_store, "vals") == before and staging_tables(online_store) == []


def test_lookup_keys_of_the_wrong_shape_or_type_are_errors(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, 7.5), (2, 6.0)],
                                                           "player_id bigint, rating double"),
                                     "players", primary_key="player_id", online=True)
    for key, message in [([1], r"player_id.* is bigint: give an int, got list \[1\] \(its "
                                r"primary key has one column"),
                         ((1,), "got tuple"), ("abc", "give an int, got str 'abc'"),
                         ("1", "got str '1'"), (True, "got bool True"), (1.0, "got float"),
                         (None, "got NoneType")]:
        with pytest.raises(InvalidInputError, match=message) as e:
            online_store.feature_vector(["rating"], key)
        assert "nothing was written" not in str(e.value)
        with pytest.raises(InvalidInputError, match=message):
            online_store.feature_vectors(["rating"], [2, key])
        with pytest.raises(InvalidInputError, match=message):
            online_store.feature_vector(["rating"], {"player_id": key})
    # numbers of the right kind are taken (numpy's too); a missing key is still a miss
    assert online_store.feature_vector(["rating"], np.int64(1)) == {"rating": 7.5}
    assert online_store.feature_vectors(["rating"], [np.int64(2), 1, 3]) == \
        [{"rating": 6.0}, {"rating": 7.5}, {"rating": None}]
    pairs = spark.createDataFrame([("a", 1, Decimal("1.500"), 0.1, 1.0),
                                   ("a", 1, Decimal("2.000"), 0.1, 2.0)],
                                  "s string, n int, d decimal(12,3), f double, v double")
    featurestore.create_featuregroup(pairs, "pairs", primary_key=["s", "n", "d", "f"], online=True)
    # a double that is no float32 (0.1) is found; a Decimal is compared exactly, last in the key
    # too (MySQL: mysql-connector's C extension binds neither safely, see NativeStatement); one
    # with more digits than the column keeps is a miss, never rounded onto a stored key
    key = {"s": "a", "n": 1, "d": Decimal("1.5"), "f": 0.1}
    assert online_store.feature_vector(["v"], key) == {"v": 1.0}
    assert online_store.feature_vector(["v"], ("a", 1, Decimal("1.5"), 0.1)) == {"v": 1.0}
    assert online_store.feature_vector(["v"], {**key, "d": Decimal("1.5004")}) == {"v": None}
    assert online_store.feature_vectors(["v"], [key, {**key, "d": Decimal("1.501")}]) == \
        [{"v": 1.0}, {"v": None}]
    misses = [{**key, "d": Decimal("1.5004")}, {**key, "f": 0.1 + 1e-12},
              {**key, "f": float("nan")}, {**key, "d": Decimal("NaN")}]
    assert online_store.feature_vectors(["v"], [{**key, "d": 2}, *misses, key]) == \
        [{"v": 2.0}, *[{"v": None}] * len(misses), {"v": 1.0}]
    with pytest.raises(InvalidInputError, match=r"'s' .* is string: give a str, got int 1(.|\n)*"
                                                r"'n' .* is int: give an int, got str 'x'"):
        online_store.feature_vector(["v"], {"s": 1, "n": "x", "d": 1, "f": 0.5})
    with pytest.raises(InvalidInputError, match="'d' .* is decimal.* got float"):
        online_store.feature_vector(["v"], {**key, "d": 1.5})


@pytest.mark.parametrize("online_env", ["mysql"], indirect=True)
def test_mysql_loads_fail_rather_than_cut_values(online_store, monkeypatch):
    """Past the up-front checks (the online engine called directly), MariaDB still never cuts a
    key: LOAD DATA LOCAL's truncation warnings fail the batch, and without LOAD DATA the write
    session's strict mode refuses the INSERT. The batch is rolled back."""
    spark = online_store.spark
    schema = "k string, v double"
    featurestore.create_featuregroup(spark.createDataFrame([("a", 1.0)], schema), "vals",
                                     primary_key="k", online=True)
    group = online_store.feature_group("vals")
    long_keys = spark.createDataFrame([("b", 9.0), (LONG_A, 2.0), (LONG_B, 3.0)], schema)
    with pytest.raises(OnlineStoreError, match=r"would have cut or changed values loaded into "
                                               r"vals_1, so the batch was not written: Data "
                                               r"truncated for column 'k'"):
        online_store.online.write(group, long_keys.coalesce(1), conditional=False)
    with pytest.raises(OnlineStoreError, match="Data truncated for column 'k'"):
        online_store.online.replace(group, long_keys.coalesce(1))
    assert online_rows(online_store, "vals") == [("a", 1.0)]
    assert staging_tables(online_store) == []
    monkeypatch.setattr(online_store.online.backend, "_local_infile", False)
    with pytest.raises(OnlineStoreError, match="Data too long for column 'k'"):
        online_store.online.write(group, long_keys.coalesce(1), conditional=False)
    assert online_rows(online_store, "vals") == [("a", 1.0)]


@pytest.mark.parametrize("online_env", ["mysql"], indirect=True)
def test_pipelined_loads_write_every_batch_or_fail_whole(online_store, monkeypatch):
    """Each executor loads a batch (LOAD DATA, in a thread) while it makes the next batch's
    text: every batch arrives; a bad value in a middle batch fails the write, the online table
    keeps its rows, the staging table goes, no batch file is left behind."""
    spark = online_store.spark
    schema = "k string, v double"
    featurestore.create_featuregroup(spark.createDataFrame([("a", 1.0)], schema), "vals",
                                     primary_key="k", online=True)
    group = online_store.feature_group("vals")
    monkeypatch.setattr(online_store.online, "batch_size", 40)     # of Arrow batches of 40 rows
    arrow_batch = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "40")
    try:
        check_pipelined_loads(online_store, group)
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", arrow_batch)


def check_pipelined_loads(online_store, group):
    import tempfile
    from pathlib import Path
    spark = online_store.spark
    ids = spark.range(1000).coalesce(1)
    many = ids.select(F.format_string("k%04d", "id").alias("k"), F.col("id").cast("double").alias("v"))
    files = set(Path(tempfile.gettempdir()).glob("featurestore_*.tsv"))   # the executors' (local)
    assert online_store.online.replace(group, many) == 1000
    assert online_rows(online_store, "vals") == [(f"k{i:04d}", float(i)) for i in range(1000)]
    bad = ids.select(F.when(F.col("id") == 100, F.lit(LONG_A))       # the 3rd of 25 batches
                     .otherwise(F.format_string("k%04d", "id")).alias("k"), F.lit(0.0).alias("v"))
    with pytest.raises(OnlineStoreError, match="Data truncated for column 'k'"):
        online_store.online.replace(group, bad)
    assert online_rows(online_store, "vals") == [(f"k{i:04d}", float(i)) for i in range(1000)]
    assert staging_tables(online_store) == []
    assert set(Path(tempfile.gettempdir()).glob("featurestore_*.tsv")) == files
