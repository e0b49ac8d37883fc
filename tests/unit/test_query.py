"""Queries: feature resolution by name, inferred and explicit join keys, the composing API
(each call a new query), filters, time travel, SQL rendering and recorded queries read again."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from featurestore_spark import Hops, InvalidInputError, featurestore
from featurestore_spark.query import Query



def rows(df) -> list[tuple]:
    """The rows of a DataFrame, sorted (None first)."""
    return sorted((tuple(r) for r in df.collect()),
                  key=lambda r: tuple((v is not None, v) for v in r))

PLAYERS = "player_id long, team_id int, name string, rating double"
TEAMS = "team_id int, team_name string, attendance double"


def players(spark, data=None):
    return spark.createDataFrame(data or [(1, 10, "ann", 7.5), (2, 11, "bob", 6.0),
                                          (3, 12, "cy", 9.5), (4, 10, "di", 4.0)], PLAYERS)


def teams(spark, data=None):
    return spark.createDataFrame(data or [(10, "reds", 51000.0), (11, "blues", 32000.0),
                                          (13, "greens", 8000.0)], TEAMS)


@pytest.fixture
def football(store, spark):
    featurestore.create_featuregroup(players(spark), "players", primary_key="player_id")
    featurestore.create_featuregroup(teams(spark), "teams", primary_key="team_id")
    return store


def problems_of(excinfo) -> str:
    return "\n".join(excinfo.value.problems)


def group(name, version, *features, key=None):
    from featurestore_spark.metadata import Feature, FeatureGroup
    return FeatureGroup("p", name, version, "", tuple(Feature(f, "int") for f in features),
                        (key or features[0],), (), None, "", datetime.now(timezone.utc), "me")


def test_resolve_by_name_qualified_and_versioned():
    from featurestore_spark.query import resolve
    groups = [group("teams", 1, "team_id", "old"), group("teams", 2, "team_id", "size"),
              group("teams_1", 1, "x_id", "size"), group("players", 1, "player_id", "team_id")]
    found = resolve(groups, ["players.team_id", "teams_2.size", "teams.team_id", "old"])
    assert found.problems == (                                          # teams v2 is latest
        "no feature group has a feature named 'old' at the version used (the latest, or the one "
        "pinned); teams v1 has it: name it as featuregroup_<version>.feature, e.g. teams_1.old",)
    assert [(f.group.name, f.group.version) for f in found.features[:3]] == [
        ("players", 1), ("teams", 2), ("teams", 2)]
    assert resolve(groups, ["old"], {"teams": 1}).problems == ()
    ambiguous = resolve(groups, ["size", "team_id", "teams_1.size"]).problems
    assert ambiguous[0] == ("feature 'size' is in teams.size, teams_1.size: name it as "
                            "featuregroup.feature")
    assert "teams.team_id, players.team_id" in ambiguous[1]          # in the order listed
    assert "'teams_1' names both feature group teams_1 and version 1 of teams" in ambiguous[2]
    assert resolve(groups, ["size"], search=["teams_1"]).by_group()[0][0].name == "teams_1"


def test_resolution_lists_every_problem_with_candidates(football, spark):
    others = spark.createDataFrame([(1, "x", 1.0)], "other_id int, name string, rating double")
    featurestore.create_featuregroup(others, "others", primary_key="other_id")
    with pytest.raises(InvalidInputError) as e:
        featurestore.get_features(["rating", "nope", "teams.x", "ghosts.y", "attendance"])
    text = problems_of(e)
    assert "feature 'rating' is in others.rating, players.rating: name it as featuregroup.feature" in text
    assert "no feature group has a feature named 'nope'" in text
    assert "nothing was written" not in str(e.value)                   # a read
    assert "teams v1 has no feature 'x'" in text and "no feature group 'ghosts'" in text
    assert len(e.value.problems) == 4                  # attendance was found
    with pytest.raises(InvalidInputError, match="feature group teams version 7 does not exist"):
        featurestore.get_features(["attendance"], featuregroups_version_dict={"teams": 7})
    with pytest.raises(InvalidInputError, match="non-empty list"):
        featurestore.get_features([])
    # a version dict limits where bare names are looked for, which settles the ambiguity
    got = featurestore.get_features(["rating", "name"], featuregroups_version_dict={"others": 1},
                                    dataframe_type="python")
    assert got == [{"rating": 1.0, "name": "x"}]


def test_get_features_joins_on_keys_inferred_from_primary_keys(football, spark):
    got = featurestore.get_features(["name", "team_name", "attendance", "team_id"])
    assert got.columns == ["name", "team_name", "attendance", "team_id"]    # in the order asked
    assert rows(got) == [("ann", "reds", 51000.0, 10), ("bob", "blues", 32000.0, 11),
                         ("di", "reds", 51000.0, 10)]                  # inner: cy's team 12 is not there
    featurestore.create_featuregroup(teams(spark, [(10, "red v2", 1.0)]), "teams",
                                     primary_key="team_id", featuregroup_version=2)
    latest = Hops.getFeatures(["name", "teams.team_name"]).setDataframeType("python").read()
    assert latest == [{"name": "ann", "team_name": "red v2"}, {"name": "di", "team_name": "red v2"}]
    by_table = featurestore.get_features(["name", "teams_1.team_name"], dataframe_type="pandas")
    assert sorted(by_table["team_name"]) == ["blues", "reds", "reds"]
    pinned = featurestore.get_features(["name", "team_name"],
                                       featuregroups_version_dict={"teams": 1, "players": 1})
    assert rows(pinned) == sorted(by_table.itertuples(index=False, name=None))
    with pytest.raises(InvalidInputError, match="names version 1 of teams, but version 2"):
        featurestore.get_features(["teams_1.team_name"], featuregroups_version_dict={"teams": 2})


def test_multi_column_keys_do_not_collide(store, spark):
    keys = [("a", "bc"), ("ab", "c"), ("a|b", "c"), ("a", "b|c"), ("", "abc"), ("abc", "")]
    left = spark.createDataFrame([(k1, k2, i) for i, (k1, k2) in enumerate(keys)],
                                 "k1 string, k2 string, v int")
    right = spark.createDataFrame([(k1, k2, i * 10) for i, (k1, k2) in enumerate(keys)][::-1],
                                  "k1 string, k2 string, w int")
    featurestore.create_featuregroup(left, "lefts", primary_key=["k1", "k2"])
    featurestore.create_featuregroup(right, "rights", primary_key=["k1", "k2"])
    got = featurestore.get_features(["k1", "k2", "v", "w"])
    assert rows(got) == sorted((k1, k2, i, i * 10) for i, (k1, k2) in enumerate(keys))
    q = store.query("lefts").join(store.query("rights"))
    assert q.joins[0].left_keys == ((0, "k1"), (0, "k2")) and q.columns == ["k1", "k2", "v", "w"]


def test_explicit_join_key_and_no_common_key(store, spark):
    featurestore.create_featuregroup(
        spark.createDataFrame([(1, 7, 0.5)], "order_id int, customer int, amount double"),
        "orders", primary_key="order_id")
    featurestore.create_featuregroup(
        spark.createDataFrame([(2, 7, "gold")], "visit_id int, customer int, tier string"),
        "visits", primary_key="visit_id")
    with pytest.raises(InvalidInputError) as e:
        featurestore.get_features(["amount", "tier"])
    assert "no common key between orders v1 and visits v1" in str(e.value)
    assert "orders v1 is keyed by (order_id); visits v1 is keyed by (visit_id)" in str(e.value)
    assert "give the join key" in str(e.value)
    got = featurestore.get_features(["amount", "tier", "customer"], join_key="customer",
                                    dataframe_type="python")
    assert got == [{"amount": 0.5, "tier": "gold", "customer": 7}]
    with pytest.raises(InvalidInputError, match="join key 'tier' is not a column of orders v1"):
        featurestore.get_features(["amount", "tier"], join_key=["tier"])
    # an explicit key overrides an inferred one
    q = store.query("orders").join(store.query("visits"), left_on="order_id", right_on="visit_id",
                                   prefix="v_")
    assert q.columns == ["order_id", "customer", "amount", "v_visit_id", "v_customer", "v_tier"]
    assert q.read().collect() == [(1, 7, 0.5, None, None, None)]       # a left join by default


def test_every_call_returns_a_new_query_and_leaves_the_old_one(football):
    q = football.query("players")
    before = (repr(q), q.to_dict(), q)
    made = [q.select(["name"]), q.select_all(), q.selectExcept("rating"), q.filter("rating > 5"),
            q.as_of(0), q.asOf(datetime.now(timezone.utc)), q.pinned(),
            q.join(football.query("teams"), join_type="inner")]
    assert all(m is not q for m in made)
    assert (repr(q), q.to_dict(), q) == before
    assert q.root.features == ("player_id", "team_id", "name", "rating") and not q.joins
    joined = made[-1]
    j_before = joined.to_dict()
    joined.filter("attendance > 1").select(["name"]).as_of({"teams": 0})
    assert joined.to_dict() == j_before
    with pytest.raises(Exception):
        q.joins = ()                                   # frozen


def test_to_sql_gives_the_rows_read(football, spark):
    p, t = football.query("players"), football.query("teams")
    queries = [
        p.select(["name", "rating", "team_id"]).filter("rating > 5")
         .join(t.filter("attendance > 10000"), prefix="t_").filter("t_attendance IS NULL OR rating < 9"),
        p.join(t, join_type="full"),
        p.join(t, join_type="right"),
        p.join(t, join_type="left_semi"),
        p.join(t, join_type="outer").join(t.select(["team_name"]), on="team_id", join_type="left",
                                          prefix="again_"),
        p.join(t, left_on="players.team_id", right_on="team_id", join_type="left_anti"),
    ]
    queries.append(p.filter("rating > 5 -- a comment ends its own filter")
                   .join(t, join_type="inner").filter("attendance > 1 -- here too"))
    for q in queries:
        assert rows(spark.sql(q.to_sql())) == rows(q.read()), q.to_sql()
    assert rows(queries[1].read()) == [
        (None, 13, None, None, "greens", 8000.0),       # team_id: from either side (USING)
        (1, 10, "ann", 7.5, "reds", 51000.0), (2, 11, "bob", 6.0, "blues", 32000.0),
        (3, 12, "cy", 9.5, None, None), (4, 10, "di", 4.0, "reds", 51000.0)]
    assert queries[1].columns == ["player_id", "team_id", "name", "rating", "team_name", "attendance"]
    assert rows(queries[0].read()) == [("ann", 7.5, 10, "reds", 51000.0),
                                       ("bob", 6.0, 11, "blues", 32000.0),
                                       ("cy", 9.5, 12, None, None)]
    assert queries[0].columns == ["name", "rating", "team_id", "t_team_name", "t_attendance"]
    assert [r.name for r in queries[5].read().collect()] == ["cy"]
    assert "VERSION AS OF 0" in queries[0].to_sql() and "`teams_1`" in queries[0].to_sql()


def test_filters_are_sql_strings_checked_when_given(football, spark):
    from pyspark.sql import functions as F
    q = football.query("players")
    with pytest.raises(InvalidInputError, match="cannot be recorded"):
        q.filter(F.col("rating") > 5)
    with pytest.raises(InvalidInputError, match="nope"):
        q.filter("nope > 1")
    with pytest.raises(InvalidInputError, match="rating >"):
        q.filter("rating > > 1")
    for broken in ("rating >", "(rating > 1"):      # Spark's message starts with a newline
        with pytest.raises(InvalidInputError) as refused:
            q.filter(broken)
        assert re.search(r"filter '.*': \[PARSE_SYNTAX_ERROR\] Syntax error", problems_of(refused))
    with pytest.raises(InvalidInputError, match="not deterministic"):
        q.filter("rand() < 0.5")
    with pytest.raises(InvalidInputError, match=re.escape("filter 'x = 1); DROP")):
        q.filter("x = 1); DROP TABLE t; --")
    # before a join: any feature of the feature group, selected or not
    assert rows(q.select(["name"]).filter("rating > 7").read()) == [("ann",), ("cy",)]
    joined = q.select(["name"]).join(football.query("teams").select(["team_name"]), join_type="inner")
    with pytest.raises(InvalidInputError, match="rating"):
        joined.filter("rating > 7")                 # after a join: the output columns
    assert rows(joined.filter("team_name = 'reds'").read()) == [("ann", "reds"), ("di", "reds")]


def test_join_problems_are_reported_together(football, spark):
    p, t = football.query("players"), football.query("teams")
    with pytest.raises(InvalidInputError) as e:
        p.join(t, on="nope", join_type="sideways", prefix=3)
    text = problems_of(e)
    assert "join type 'sideways' is not one of" in text and "prefix must be a string" in text
    with pytest.raises(InvalidInputError) as e:
        p.join(t, on=["nope"], max_age=60)
    text = problems_of(e)
    assert "join key 'nope' is not a column of players v1" in text
    assert "join key 'nope' is not a column of teams v1" in text
    assert "max_age applies to point-in-time joins only" in text
    with pytest.raises(InvalidInputError, match="max_age must be a timedelta or a number of "
                                                "seconds >= 0, got '1 day'"):
        p.join(t, max_age="1 day")
    with pytest.raises(InvalidInputError, match="output column 'name' would come from"):
        p.join(football.query("players").select(["player_id", "name"]))
    with pytest.raises(InvalidInputError, match="one after another"):
        p.join(t.join(p))
    with pytest.raises(InvalidInputError, match="takes a Query"):
        p.join(spark.range(1))
    with pytest.raises(InvalidInputError, match="needs event times"):
        p.join(t, point_in_time=True)
    with pytest.raises(InvalidInputError, match="left_on and right_on together"):
        p.join(t, left_on="team_id")
    with pytest.raises(InvalidInputError, match="do not compare"):
        p.join(t, left_on="name", right_on="team_id")
    with pytest.raises(InvalidInputError, match="has no feature 'nope'"):
        p.select(["name", "nope"])


def test_as_of_reads_the_feature_groups_as_they_were(football, spark):
    featurestore.insert_into_featuregroup(players(spark, [(1, 10, "ann", 1.0)]), "players",
                                          mode="upsert")
    between = featurestore.get_featuregroup_commits("players")[1].committed_at - timedelta(microseconds=1)
    q = football.query("players").select(["player_id", "rating"]).filter("player_id = 1")
    assert rows(q.read()) == [(1, 1.0)]
    assert rows(q.as_of(0).read()) == [(1, 7.5)] == rows(q.as_of(between).read())
    assert rows(q.as_of(between.isoformat()).read()) == [(1, 7.5)]
    joined = q.join(football.query("teams").select(["team_name"]))
    assert rows(joined.as_of({"players": 0}).read()) == [(1, 7.5, "reds")]
    assert rows(joined.as_of({"players_1": 1, "teams": 0}).read()) == [(1, 1.0, "reds")]
    assert joined.commits() == {"players_1": 1, "teams_1": 0}
    assert joined.as_of(between).commits() == {"players_1": 0, "teams_1": 0}
    assert "VERSION AS OF 0" in joined.as_of({"players": 0}).to_sql()
    with pytest.raises(InvalidInputError, match="has 2: give"):
        joined.as_of(0)
    with pytest.raises(InvalidInputError, match="'ghosts', which is not a feature group"):
        joined.as_of({"ghosts": 0})
    with pytest.raises(InvalidInputError, match="not an ISO-8601"):
        q.as_of("yesterday")
    from featurestore_spark.errors import CommitNotFound
    with pytest.raises(CommitNotFound):
        q.as_of(5).read()


def test_a_recorded_query_reads_the_same_rows_after_updates(store, spark):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = lambda h: t0 + timedelta(hours=h)  # noqa: E731
    featurestore.create_featuregroup(
        spark.createDataFrame([(1, 10, 7.0, at(0)), (2, 11, 5.0, at(0)), (1, 10, 8.0, at(5))],
                              "player_id long, team_id int, rating double, updated timestamp"),
        "players", primary_key="player_id", event_time="updated")
    featurestore.create_featuregroup(teams(spark), "teams", primary_key="team_id")
    labels = spark.createDataFrame([(1, at(1), True), (1, at(6), False), (2, at(9), True)],
                                   "player_id long, ts timestamp, won boolean")
    q = (store.query_labels(labels, event_time="ts")
         .join(store.query("players").select(["rating", "team_id"]))
         .join(store.query("teams").select(["team_name"])))
    assert q.joins[0].point_in_time and not q.joins[1].point_in_time
    record = json.dumps(q.pinned().to_dict())
    before = rows(q.read())
    assert [(r[0], r[3], r[5]) for r in before] == [(1, 7.0, "reds"), (1, 8.0, "reds"),
                                                    (2, 5.0, "blues")]
    # the feature groups change: a late row for player 1, a new rating, a renamed team
    featurestore.insert_into_featuregroup(
        spark.createDataFrame([(1, 10, 1.0, at(1)), (2, 11, 2.0, at(8))],
                              "player_id long, team_id int, rating double, updated timestamp"),
        "players")
    featurestore.insert_into_featuregroup(teams(spark, [(10, "scarlets", 1.0)]), "teams",
                                          mode="upsert")
    assert rows(q.read()) != before                              # the live query moves on
    from_labels = (Hops.getFeatures(["rating", "team_name"]).setLabels(labels, "ts")
                   .setDataframeType("python").read())
    assert sorted((r["player_id"], r["rating"], r["team_name"]) for r in from_labels) == [
        (1, 1.0, "scarlets"), (1, 8.0, "scarlets"), (2, 2.0, "blues")]      # rows in no order
    again = Query.from_dict(json.loads(record), store, labels=labels)
    assert rows(again.read()) == before                          # the recorded one does not
    labels.createOrReplaceTempView("recorded_labels")
    assert rows(spark.sql(again.to_sql(labels="recorded_labels"))) == before
    assert again.to_dict() == json.loads(record)
    with pytest.raises(InvalidInputError, match="pass them"):
        Query.from_dict(json.loads(record), store)
    with pytest.raises(InvalidInputError, match="labels have no column 'won'"):
        Query.from_dict(json.loads(record), store, labels=labels.drop("won"))
    with pytest.raises(InvalidInputError, match="not a recorded query"):
        Query.from_dict({"root": {}}, store)
    with pytest.raises(InvalidInputError, match="to_sql\\(labels="):
        q.to_sql()
