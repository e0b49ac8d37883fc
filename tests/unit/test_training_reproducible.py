"""A training dataset made from a query is made again from its recorded query and commits, with
the same rows in the same splits, after its feature groups were updated. The query is
duck-typed: a minimal query of this module's own, and featurestore_spark.query's Query."""

from __future__ import annotations

from typing import Any, Mapping

import pytest

from featurestore_spark import FeatureStoreError, InvalidInputError, featurestore
from featurestore_spark.spec import ReadSpec

from .helpers import rows

TEAMS = "team_id int, name string, rating double"
PLAYERS = "player_id int, team_id int, age int"


class OneGroupQuery:
    """The least a query needs: to_dict() and read(); pinned() fixes the commit it reads."""

    def __init__(self, store, name: str, commit: int | None = None) -> None:
        self.store, self.name, self.commit = store, name, commit

    def pinned(self) -> OneGroupQuery:
        commit = self.store.commits(self.name)[-1].commit_id if self.commit is None else self.commit
        return OneGroupQuery(self.store, self.name, commit)

    def to_dict(self) -> dict[str, Any]:
        return {"feature_group": self.name, "commit": self.commit}

    def read(self):
        return self.store.read(ReadSpec(self.name, as_of=self.commit))


def teams(store, n: int = 30):
    return store.spark.createDataFrame([(i, f"team {i}", i / 2) for i in range(n)], TEAMS)


def update_teams(store) -> None:
    """Change, add and append rows: the latest commit differs from the first in every way."""
    featurestore.insert_into_featuregroup(
        store.spark.createDataFrame([(0, "renamed", 99.0), (100, "new", 1.0)], TEAMS), "teams",
        mode="upsert")
    featurestore.insert_into_featuregroup(
        store.spark.createDataFrame([(101, "more", 2.0)], TEAMS), "teams")


def test_made_again_from_a_query_with_the_same_rows_per_split(store):
    featurestore.create_featuregroup(teams(store), "teams", primary_key="team_id")
    query = OneGroupQuery(store, "teams")
    td = featurestore.create_training_dataset(query, "ranked", data_format="parquet",
                                              splits={"train": 0.6, "test": 0.4}, seed=3)
    assert td.source["kind"] == "query" and td.source["query"] == {"feature_group": "teams",
                                                                   "commit": 0}
    assert td.source["query_class"].endswith("test_training_reproducible.OneGroupQuery")
    assert td.source["feature_groups"] == [{"project": store.settings.project, "name": "teams",
                                            "version": 1, "commit": 0}]
    before = {s: rows(featurestore.get_training_dataset("ranked", split=s)) for s in td.split_names}
    update_teams(store)
    assert len(rows(OneGroupQuery(store, "teams").read())) == 32      # the feature group moved on

    def from_dict(d: Mapping[str, Any]) -> OneGroupQuery:
        return OneGroupQuery(store, d["feature_group"], d["commit"])
    source = store.training_dataset_source("ranked", query_from_dict=from_dict)
    assert rows(source) == sorted(before["train"] + before["test"])
    again = store.training.recreate("ranked", query_from_dict=from_dict)
    assert (again.version, again.splits, again.data_format) == (2, td.splits, "parquet")
    assert again.source == {**td.source, "recreated_from": 1}
    assert {s: rows(featurestore.get_training_dataset("ranked", training_dataset_version=2,
                                                         split=s))
            for s in again.split_names} == before


def test_made_again_with_featurestore_queries(store):
    from featurestore_spark.query import Query       # the query planner's Query
    spark = store.spark
    featurestore.create_featuregroup(teams(store, 8), "teams", primary_key="team_id")
    featurestore.create_featuregroup(
        spark.createDataFrame([(p, p % 8, 20 + p) for p in range(24)], PLAYERS), "players",
        primary_key="player_id")
    query = store.query("players").join(store.query("teams").select(["rating"]), on="team_id")
    assert isinstance(query, Query)
    td = featurestore.create_training_dataset(query, "squad", splits={"train": 0.5, "test": 0.5},
                                              seed=5)       # tfrecords
    assert td.source["query_class"] == "featurestore_spark.query.query.Query"
    assert sorted((g["name"], g["commit"]) for g in td.source["feature_groups"]) == [
        ("players", 0), ("teams", 0)]
    before = {s: rows(featurestore.get_training_dataset("squad", split=s)) for s in td.split_names}
    update_teams(store)
    featurestore.insert_into_featuregroup(spark.createDataFrame([(7, 1, 99)], PLAYERS), "players",
                                          mode="upsert")
    again = featurestore.recreate_training_dataset("squad", new_version=5)
    assert again.version == 5 and again.source["feature_groups"] == td.source["feature_groups"]
    assert {s: rows(featurestore.get_training_dataset("squad", training_dataset_version=5, split=s))
            for s in again.split_names} == before


def test_what_cannot_be_made_again_says_why(store):
    featurestore.create_featuregroup(teams(store, 5), "teams", primary_key="team_id")
    featurestore.create_training_dataset(featurestore.get_featuregroup("teams"), "from_df",
                                         data_format="parquet")
    with pytest.raises(InvalidInputError, match="made from a DataFrame"):
        featurestore.recreate_training_dataset("from_df")

    class Unpinned(OneGroupQuery):          # reads "latest": not the rows it was made from
        def pinned(self):
            return self
    featurestore.create_training_dataset(Unpinned(store, "teams"), "drifting", data_format="orc")
    update_teams(store)
    with pytest.raises(FeatureStoreError, match="cannot be made again with the same rows: its "
                                                "query now reads teams v1 at commit 2"):
        store.training_dataset_source("drifting",
                                      query_from_dict=lambda d: Unpinned(store, "teams"))
    with pytest.raises(InvalidInputError, match="not of featurestore_spark: pass query_from_dict"):
        featurestore.recreate_training_dataset("drifting")
    assert featurestore.get_training_datasets() == ["drifting_1", "from_df_1"]
