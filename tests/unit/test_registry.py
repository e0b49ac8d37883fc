"""The registry's labels and search: tags (checked against tag schemas) and keywords on feature
groups, features, views and training datasets, kept on SQLite and MariaDB with nothing written
for what is refused, removed with what they label; search ranked and grouped, found by the
database; and the faces (handles, hops-util-py functions, Hops setters, CLI)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from featurestore_spark import InvalidInputError
from featurestore_spark.errors import FeatureGroupNotFound, FeatureViewNotFound
from featurestore_spark.metadata import Commit, Document, Feature, FeatureGroup, TrainingDataset
from featurestore_spark.metadata.base import FEATURE_VIEW, FV_TRAINING, Subject
from featurestore_spark.registry.labels import put_tag
from featurestore_spark.registry.search import search

from ..conftest import ROOT, settings_env

NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)


def group(name: str, version: int = 1, description: str = "", features=("customer_id", "tenure"),
          project: str = "p") -> FeatureGroup:
    return FeatureGroup(project, name, version, description,
                        tuple(Feature(f, "double", f"the {f} of a customer" if f == "tenure" else "")
                              for f in features), ("customer_id",), (), None, "/x", NOW, "me")


def fill(meta) -> None:
    for name, version, text in (("customers", 1, "who they are"), ("customers", 2, "who they are"),
                                ("churn_customers", 1, "customers who left"),
                                ("orders", 1, "what they bought"),
                                ("percent_x", 1, "a 100% match")):
        meta.create_feature_group(group(name, version, text), Commit(0, NOW, "create", 1, 0, 0, "me"))
    meta.create_training_dataset(TrainingDataset("p", "churn_td", 1, "for the churn model",
                                                 "parquet", "/td", (Feature("tenure", "double"),),
                                                 {"kind": "none"}, {"kind": "dataframe"}, NOW, "me"))
    meta.add_document(Document("p", FEATURE_VIEW, "churn_view", 1, 0,
                               {"description": "churn features", "labels": ["churn"]}, NOW))
    meta.add_document(Document("p", FV_TRAINING, "churn_view", 1, 1, {"splits": {}}, NOW))


def test_labels_are_kept_checked_and_removed_with_what_they_label(backend):
    meta = backend.open()
    fill(meta)
    fg, feature = Subject("p", "fg", "orders", 1), Subject("p", "fg", "orders", 1, "tenure")
    put_tag(meta, fg, "owner", {"team": "growth", "since": 2024})
    put_tag(meta, fg, "owner", {"team": "billing"})                # replaced
    put_tag(meta, feature, "pii", False)
    meta.add_keywords(fg, ["sales", "daily", "sales"])
    meta.add_keywords(fg, ["daily", "Revenue"])
    assert meta.tags(fg) == {"owner": {"team": "billing"}}
    assert meta.tags(feature) == {"pii": False}
    assert meta.keywords(fg) == ["Revenue", "daily", "sales"]
    assert meta.keywords(Subject("p", "fg", "orders", 1, "customer_id")) == []
    # a tag schema: values must obey it; a refused value leaves the old one
    meta.put_tag_schema("p", "owner", {"type": "object", "required": ["team"],
                                       "properties": {"team": {"type": "string"}}})
    with pytest.raises(InvalidInputError, match="does not obey its schema.*'team' is a required"):
        put_tag(meta, fg, "owner", {"name": "x"})
    with pytest.raises(InvalidInputError, match="not JSON"):
        put_tag(meta, fg, "other", {1, 2})
    with pytest.raises(InvalidInputError, match="tag name 'Bad Name' is invalid"):
        put_tag(meta, fg, "Bad Name", 1)
    assert meta.tags(fg) == {"owner": {"team": "billing"}}
    # labels only on what is registered, nothing written otherwise
    for subject, error in ((Subject("p", "fg", "nope", 1), FeatureGroupNotFound),
                           (Subject("p", "fg", "orders", 1, "nope"), FeatureGroupNotFound),
                           (Subject("p", "fv", "nope", 1), FeatureViewNotFound)):
        with pytest.raises(error, match="nothing labelled"):
            meta.put_tag(subject, "owner", {"team": "x"})
        with pytest.raises(error):
            meta.add_keywords(subject, ["x"])
    assert backend.query("SELECT COUNT(*) FROM tags")[0][0] == 2
    # removed with the group, the training dataset, the view (and its training data)
    view, view_td = Subject("p", "fv", "churn_view", 1), Subject("p", "fv.td", "churn_view", 1, "1")
    td = Subject("p", "td", "churn_td", 1)
    for s in (view, view_td, td):
        meta.put_tag(s, "owner", {"team": "ml"})
        meta.add_keywords(s, ["churn"])
    assert meta.delete_tag(td, "owner") and not meta.delete_tag(td, "owner")
    assert meta.delete_keyword(td, "churn") and not meta.delete_keyword(td, "churn")
    meta.add_keywords(td, ["kept until the dataset goes"])
    meta.delete_feature_group("p", "orders", 1)
    meta.delete_training_dataset("p", "churn_td", 1)
    meta.delete_documents("p", FEATURE_VIEW, "churn_view", 1)
    assert backend.query("SELECT COUNT(*) FROM tags")[0][0] == 0
    assert backend.query("SELECT COUNT(*) FROM keywords")[0][0] == 0
    assert backend.query("SELECT COUNT(*) FROM search_terms WHERE name IN "
                         "('orders', 'churn_td', 'churn_view')")[0][0] == 0
    # a tag's name stays findable whatever its value holds
    meta.put_tag(Subject("p", "fg", "customers", 1), "lineage",
                 {"notes": " ".join(f"w{i}" for i in range(500))})
    assert [r["name"] for r in search(meta, "p", "lineage")] == ["customers"]


def test_search_ranks_exact_names_first_groups_versions_and_runs_in_the_database(backend):
    meta = backend.open()
    fill(meta)
    meta.add_keywords(Subject("p", "fg", "orders", 1, "tenure"), ["Loyalty"])
    meta.put_tag(Subject("p", "fg", "orders", 1), "owner", {"team": "customers-team"})
    meta.put_tag(Subject("p", "fv.td", "churn_view", 1, "1"), "approved", True)
    found = search(meta, "p", "CUSTOMERS")                         # any case, on both backends
    assert found[0] == {"type": "feature_group", "name": "customers", "versions": [1, 2],
                        "matched": ["name"], "description": "who they are", "score": 100}
    assert [r["name"] for r in found[1:]] == ["churn_customers", "orders"]
    assert found[1]["matched"] == ["description", "name"] and found[2]["matched"] == ["tag owner"]
    # features grouped by their group, with the versions that have them; two words add up
    found = search(meta, "p", "loyalty customer")
    assert found[0]["type"] == "feature" and found[0]["name"] == "tenure"
    assert found[0]["feature_group"] == "orders"
    assert found[0]["matched"] == ["feature description", "keyword Loyalty"]
    tenure = [r for r in found if r["type"] == "feature" and r["feature_group"] == "customers"]
    assert tenure[0]["versions"] == [1, 2]
    # views by name and definition, their training data by tag
    assert [(r["type"], r["name"]) for r in search(meta, "p", "churn")][:3] == [
        ("feature_group", "churn_customers"), ("feature_view", "churn_view"),
        ("training_dataset", "churn_td")]
    approved = search(meta, "p", "approved")
    assert approved == [{"type": "training_dataset", "name": "churn_view_1",
                         "feature_view": "churn_view", "versions": [1], "matched": ["tag approved"],
                         "description": "", "score": 70}]
    # words and the starts of words, whole names with their "_"; the limit holds; other
    # projects are not searched
    assert [r["name"] for r in search(meta, "p", "100%")] == ["percent_x"]
    assert [r["name"] for r in search(meta, "p", "percent_")] == ["percent_x"]
    assert search(meta, "p", "_") == [] and search(meta, "p", "ercent") == []     # not a start
    assert len(search(meta, "p", "c", limit=2)) == 2
    assert search(meta, "other", "customers") == []
    with pytest.raises(InvalidInputError, match="nothing to search for"):
        search(meta, "p", "  ")
    # a store from before the index (or of an older index version) is indexed when opened
    backend.query("DELETE FROM search_terms")
    backend.query("DELETE FROM documents WHERE kind = 'registry.index'")
    assert search(backend.open(), "p", "loyalty")[0]["feature_group"] == "orders"
    # an exact name is found however many other rows share the word (they are cut before
    # scoring: at most 10 per result asked for)
    for i in range(12):
        meta.create_feature_group(group(f"churn_g{i}"), Commit(0, NOW, "create", 1, 0, 0, "me"))
    meta.create_training_dataset(TrainingDataset("p", "churn", 1, "", "csv", "/td", (),
                                                 {"kind": "none"}, {"kind": "dataframe"}, NOW, "me"))
    assert [(r["type"], r["name"]) for r in search(meta, "p", "churn", limit=1)] == [
        ("training_dataset", "churn")]


# -- the faces --------------------------------------------------------------------------------------
def test_handles_functions_builders_and_cli(store, spark, fs_home, monkeypatch, capsys):
    from featurestore_spark import Hops, featurestore
    from featurestore_spark.cli import main
    fs = store
    df = spark.createDataFrame([(1, 3.0), (2, 5.0)], "id int, tenure double")
    fg = fs.create_feature_group("accounts", primary_key=["id"], description="customer accounts",
                                 statistics_config={"enabled": False})
    fg.insert(df)
    fg.add_tag("owner", {"team": "growth"})
    fg.add_tag("pii", False, feature="TENURE")
    fg.add_keywords(["accounts", "crm"])
    assert fg.get_tags() == {"owner": {"team": "growth"}} and fg.get_tag("pii", feature="tenure") is False
    assert fg.get_keywords() == ["accounts", "crm"]
    fg.delete_tag("owner")
    with pytest.raises(KeyError, match="no tag 'owner'"):
        fg.get_tag("owner")
    # hops-util-py functions, on the latest version by default
    featurestore.add_featuregroup_tag("accounts", "owner", {"team": "billing"})
    assert featurestore.get_featuregroup_tags("accounts") == {"owner": {"team": "billing"}}
    featurestore.add_featuregroup_keywords("accounts", ["ledger"], feature="tenure")
    assert featurestore.get_featuregroup_keywords("accounts", feature="tenure") == ["ledger"]
    assert featurestore.search("ledger")[0]["name"] == "tenure"
    # Hops setters: a refused tag creates nothing
    fs.create_tag_schema("owner", {"type": "object", "required": ["team"]})
    with pytest.raises(InvalidInputError, match="'team' is a required property"):
        (Hops.createFeaturegroup("refused").setDataframe(df).setPrimaryKey("id")
         .setTags({"owner": {"name": "x"}}).setStore(fs).write())
    assert [g.name for g in fs.metadata.list_feature_groups(fs.settings.project)] == ["accounts"]
    made = (Hops.createFeaturegroup("tagged").setDataframe(df).setPrimaryKey("id")
            .setTags({"owner": {"team": "ml"}}).setKeywords("scores", "ml").setStore(fs).write())
    tagged = fs.get_feature_group("tagged", made.version)
    assert tagged.get_tags() == {"owner": {"team": "ml"}} and tagged.get_keywords() == ["ml", "scores"]
    # views and their training datasets
    view = fs.create_feature_view("accounts_view", fg.select_all(), description="for scoring")
    view.add_tag("stage", "production")
    view.training_data()
    view.add_training_dataset_tag(1, "approved", True)
    assert view.get_tags() == {"stage": "production"}
    assert view.get_training_dataset_tags(1) == {"approved": True}
    with pytest.raises(LookupError, match="no training dataset version 7"):
        view.add_training_dataset_tag(7, "approved", True)
    # written training data is one training dataset on every face: its tags, search, deletes
    written, _ = view.create_training_data(data_format="csv")
    view.add_training_dataset_tag(written, "reviewed", "yes")
    view.add_training_dataset_keywords(written, ["audited"])
    td_name = f"accounts_view_{view.version}"
    assert featurestore.get_training_dataset_tags(td_name, training_dataset_version=written) == {
        "reviewed": "yes"}
    featurestore.add_training_dataset_tag(td_name, "owner", {"team": "risk"},
                                          training_dataset_version=written)
    assert view.get_training_dataset_tags(written) == {"reviewed": "yes", "owner": {"team": "risk"}}
    assert [(r["type"], r["name"]) for r in featurestore.search("audited")] == [
        ("training_dataset", td_name)]
    assert view.get_training_dataset_tags(1) == {"approved": True}      # in memory: the view's
    with pytest.raises(InvalidInputError, match="labelled on their feature groups"):
        view.add_tag("pii", True, feature="tenure")
    # the CLI: search and describe
    for k, v in settings_env(fs_home, fs.settings.project).items():
        monkeypatch.setenv(k, v)
    conf = ["--conf", str(ROOT / "conf" / "featurestore.toml")]
    main([*conf, "search", "production", "--json"])
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["accounts_view"]
    main([*conf, "describe", "accounts"])
    out = capsys.readouterr().out
    assert 'owner={"team": "billing"}' in out and "accounts, crm" in out
    main([*conf, "describe-view", "accounts_view"])
    assert 'tags: stage="production"' in capsys.readouterr().out
    # deleting the view removes its labels and its words from the index
    view.delete()
    assert featurestore.search("production") == []
