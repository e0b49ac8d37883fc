"""Feature views and transformation functions: built-ins against scikit-learn, the training
split's statistics on the test split, offline and online outputs equal (MariaDB online), batch
scoring, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featurestore_spark import InvalidInputError
from featurestore_spark.transformations import udf

from ..conftest import ROOT, RUN, settings_env

OFF = {"enabled": False}
ENV: dict[str, str] = {}          # the settings of vstore, for the CLI tests
N = 240
BUILTINS = ("min_max_scaler", "standard_scaler", "robust_scaler", "label_encoder",
            "one_hot_encoder", "log_transform", "equal_width_binner", "quantile_binner")


@udf(float)
def doubled_plus(x):
    return x * 2 + 1


def _helper(x):
    return x


@udf(float)
def uses_a_helper(x):
    return _helper(x) * 2


def customers_frame(spark):
    rng = np.random.default_rng(7)
    rows = [(i, float(rng.integers(1, 72)), float(rng.normal(50, 20)),
             ["month", "year", "two-year"][int(rng.integers(0, 3))],
             float(rng.lognormal(3, 1)), float(rng.uniform(0, 100)), int(i % 3 == 0),
             ["north", "south", "east", "west"][int(rng.integers(0, 4))],
             float(rng.lognormal(1, 2)), float(rng.uniform(-5, 5)))
            for i in range(N)]
    return spark.createDataFrame(rows, "customer_id int, tenure double, charges double, "
                                       "contract string, total double, usage double, churn int, "
                                       "region string, visits double, score double")


@pytest.fixture(scope="module")
def vstore(spark, fs_home, mysql_env):
    """A store whose online tables are on MariaDB, with customers (online) and a second group
    joined on the same key."""
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings

    env = {**settings_env(fs_home, f"v{RUN}_views"), **mysql_env,
           "FEATURESTORE_ONLINE_BACKEND": "mysql"}
    ENV.clear()
    ENV.update(env)
    store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
    customers = store.get_or_create_feature_group("customers", primary_key=["customer_id"],
                                                  online_enabled=True, statistics_config=OFF)
    customers.insert(customers_frame(spark))
    extra = store.get_or_create_feature_group("plans", primary_key=["customer_id"],
                                              online_enabled=True, statistics_config=OFF)
    extra.insert(spark.createDataFrame([(i, float(i % 7)) for i in range(N)],
                                       "customer_id int, seats double"))
    yield store
    with store.online.backend.connection(store.settings.project) as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{store.settings.project}_online`")
    store.close()


def bind_all(fs):
    f = fs.get_transformation_function
    return [f("min_max_scaler")("tenure"), f("standard_scaler")("charges"),
            f("label_encoder")("contract"), f("log_transform")("total"),
            f("equal_width_binner")("usage", n_bins=4)]


def test_builtins_match_scikit_learn_fitted_on_the_training_split(vstore):
    from sklearn.preprocessing import (KBinsDiscretizer, LabelEncoder, MinMaxScaler, OneHotEncoder,
                                       RobustScaler, StandardScaler)
    fs = vstore
    q = fs.get_feature_group("customers").select_all()
    f = fs.get_transformation_function
    onehot = [f"one_hot_encoder_contract_{i}" for i in range(3)]
    cases = [  # (bound built-in, scikit-learn's counterpart, input column, output columns)
        (f("min_max_scaler")("tenure"), MinMaxScaler(), "tenure", ["min_max_scaler_tenure_"]),
        (f("standard_scaler")("charges"), StandardScaler(), "charges", ["standard_scaler_charges_"]),
        (f("robust_scaler")("total"), RobustScaler(), "total", ["robust_scaler_total_"]),
        (f("quantile_binner")("usage", n_bins=4),
         KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="quantile", quantile_method="linear"),
         "usage", ["quantile_binner_usage_"]),
        (f("equal_width_binner")("usage", n_bins=4),
         KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform"), "usage",
         ["equal_width_binner_usage_"]),
        (f("one_hot_encoder")("contract"), OneHotEncoder(sparse_output=False), "contract", onehot),
        (f("label_encoder")("contract"), None, "contract", ["label_encoder_contract_"]),
        (f("log_transform")("total"), None, "total", ["log_transform_total_"]),
    ]
    assert sorted(c[0].function.name for c in cases) == sorted(BUILTINS)
    for bound, reference, column, outputs in cases:
        fv = fs.create_feature_view(f"sk_{bound.function.name}", q, labels=["churn"],
                                    transformation_functions=[bound])
        x_train, x_test, _, _ = fv.train_test_split(test_size=0.25, seed=11, dataframe_type="pandas")
        train, test = (raw_rows(fs, fv, s) for s in ("train", "test"))
        assert len(train) == len(x_train) > 150 and len(test) == len(x_test) > 20
        for x, raw in ((x_train, train), (x_test, test)):
            got = x.sort_values("customer_id")[outputs].to_numpy(dtype=float)
            if bound.function.name == "label_encoder":
                want = LabelEncoder().fit(train[column]).transform(raw[column])[:, None]
            elif bound.function.name == "log_transform":
                want = np.log(raw[[column]].to_numpy())
            else:
                want = reference.fit(train[[column]]).transform(raw[[column]])
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=bound.prefix)


def test_quantiles_from_the_sketch_on_large_splits_and_nan_refused_on_both_paths(
        vstore, spark, monkeypatch):
    """Above EXACT_QUANTILE_ROWS training rows the quantiles come from a KLL sketch: values of
    the rows, between numpy's lower and higher neighbours; NaN is refused either way."""
    from featurestore_spark.transformations import apply
    fs, f = vstore, vstore.get_transformation_function
    q = fs.get_feature_group("customers").select_all()
    monkeypatch.setattr(apply, "EXACT_QUANTILE_ROWS", 0)
    fv = fs.create_feature_view("sketched", q, transformation_functions=[
        f("robust_scaler")("total"), f("quantile_binner")("usage", n_bins=4)])
    fv.train_test_split(test_size=0.25, seed=11)
    stats = fs.metadata.documents(fs.settings.project, "fv.td", "sketched", 1)[-1].body["statistics"]
    train = raw_rows(fs, fv, "train")
    for got, column, probabilities in ((stats[0]["quartiles"], "total", [25, 50, 75]),
                                       (stats[1]["edges"], "usage", [0, 25, 50, 75, 100])):
        values = train[column].to_numpy()
        low = np.percentile(values, probabilities, method="lower")
        high = np.percentile(values, probabilities, method="higher")
        assert all(lo <= g <= hi for g, lo, hi in zip(got, low, high)), (column, got, low, high)
        assert set(got) <= set(values), column
    nans = fs.get_or_create_feature_group("quantile_nans", primary_key=["id"], statistics_config=OFF)
    nans.insert(spark.createDataFrame([(i, float("nan") if i == 5 else float(i)) for i in range(40)],
                                      "id int, x double"))
    for exact_up_to in (0, 1000):
        monkeypatch.setattr(apply, "EXACT_QUANTILE_ROWS", exact_up_to)
        view = fs.get_or_create_feature_view("quantile_nans", nans.select_all(),
                                             transformation_functions=[f("robust_scaler")("x")])
        with pytest.raises(InvalidInputError, match="robust_scaler of 'x': the training rows hold NaN"):
            view.training_data()
    assert fs.metadata.documents(fs.settings.project, "fv.td", "quantile_nans", 1) == []


def test_fitted_statistics_reach_the_rows_as_columns_not_generated_code(vstore, spark, tmp_path):
    """Spark writes numeric literals into the Java code it generates and compiles, so statistics
    as literals made every fit compile its stages anew: they come from scalar subqueries over a
    one-row relation instead (no join, which copied every row), and two fits over different
    rows give the same generated code."""
    import contextlib
    import io
    import re

    from featurestore_spark.transformations import apply
    f = vstore.get_transformation_function
    bounds = [f("min_max_scaler")("x"), f("equal_width_binner")("y", n_bins=3),
              f("one_hot_encoder")("k"), f("label_encoder")("s"),
              f("equal_width_binner")("w", n_bins=150)]      # past spark.sql.codegen.maxFields

    def transformed(offset: float):
        path = str(tmp_path / f"rows{offset}")        # a file: local rows skip code generation
        spark.createDataFrame([(1234.5 + offset + i, 8765.25 * i, 4321 + i % 2,
                               ["wombat", "quokka"][i % 2], 150.0 * i) for i in range(4)],
                              "x double, y double, k int, s string, w double").write.parquet(path)
        rows = spark.read.parquet(path)
        stats = apply.fit(rows, bounds, "the rows")
        out = apply.transform_frame(rows, bounds, stats)
        code = io.StringIO()
        keys = {"spark.sql.codegen.wholeStage": "true",     # off in the tests' session
                "spark.sql.adaptive.enabled": "false"}       # adaptive plans show no code
        before = {k: spark.conf.get(k) for k in keys}
        try:
            for k, v in keys.items():
                spark.conf.set(k, v)
            with contextlib.redirect_stdout(code):
                out.explain("codegen")
        finally:
            for k, v in before.items():
                spark.conf.set(k, v)
        java = [re.sub(r"^/\* *\d+ \*/", "", line) for line in code.getvalue().splitlines()
                if line.startswith("/* ")]                    # without the line numbers
        return stats, out, code.getvalue(), "\n".join(java)

    stats, out, text, code = transformed(0.0)
    assert stats[0] == {"min": 1234.5, "max": 1237.5} and stats[2]["categories"] == [4321, 4322]
    assert stats[3]["categories"] == ["quokka", "wombat"]
    assert re.search(r"Found [1-9]\d* WholeStageCodegen subtrees", text) and code, text
    assert re.search(r"Subquery scalar-subquery", text) and "NestedLoopJoin" not in text, text
    for value in ("1234.5", "8765.25", "4321", "4322", "quokka"):
        assert value not in code, value
    assert sorted(tuple(r) for r in out.collect()) == [
        (i / 3, [0, 1, 2, 2][i], i % 2 == 0, i % 2 == 1, 1 - i % 2, [0, 50, 100, 149][i])
        for i in range(4)]
    other_stats, _, _, other_code = transformed(100.0)
    assert other_stats[0] != stats[0] and other_code == code


def test_label_encoders_of_many_categories_look_their_codes_up_in_a_join(vstore, spark,
                                                                        monkeypatch):
    """Above LOOKUP_CATEGORIES a label encoder's codes come from a broadcast hash join (Spark
    searches a literal map key after key): the same codes as the map and the online path,
    null for nulls and for values not seen in training, no row lost or doubled. Categories
    that SQL would need escaped (quotes, backslashes, a backtick, non-ASCII, empty) stay
    themselves, in the encoders and in the one-hot encoder's comparisons."""
    import contextlib
    import io

    from featurestore_spark.transformations import apply, builtins
    f = vstore.get_transformation_function
    bounds = [f("label_encoder")("s"), f("label_encoder")("k"), f("one_hot_encoder")("t")]
    names = ["c0", "it's", "back\\slash", "ünï ✓", "", "tick`", 'say "hi"']
    training = spark.createDataFrame([(names[i % 7], i % 5, names[i % 7]) for i in range(30)]
                                     + [(None, None, None)], "s string, k int, t string")
    stats = apply.fit(training, bounds, "the rows")
    assert stats[0]["categories"] == stats[2]["categories"] == sorted(names)
    picked = [names[3], "unseen", None, names[0], names[6], names[3]]
    rows = [(i, s, k, s) for i, (s, k) in enumerate(zip(picked, [4, 9, None, 0, 2, 4]))]
    frame = spark.createDataFrame(rows, "i int, s string, k int, t string")
    online = [apply.transform_vector(dict(zip("iskt", r)), bounds, stats) for r in rows]
    assert [v["label_encoder_s_"] for v in online] == [
        sorted(names).index(s) if s in names else None for s in picked]
    assert [v[f"one_hot_encoder_t_{sorted(names).index(names[6])}"] for v in online] == [
        s == names[6] for s in picked]
    for threshold, joined in ((64, False), (0, True)):
        monkeypatch.setattr(builtins, "LOOKUP_CATEGORIES", threshold)
        out = apply.transform_frame(frame, bounds, stats)
        plan = io.StringIO()
        with contextlib.redirect_stdout(plan):
            out.explain()
        assert ("BroadcastHashJoin" in plan.getvalue()) == joined, plan.getvalue()
        assert sorted((r.asDict() for r in out.collect()), key=lambda r: r["i"]) == online, threshold


def raw_rows(fs, fv, split):
    """The untransformed rows of the view's last training data's ``split``, by customer_id."""
    from featurestore_spark.training import splits
    doc = fs.metadata.documents(fs.settings.project, "fv.td", fv.name, fv.version)[-1]
    frame = dict(splits.split_frames(fv.query.read(), doc.body["splits"]))[split].toPandas()
    return frame.sort_values("customer_id").reset_index(drop=True)


def test_the_test_split_uses_the_training_split_statistics(vstore):
    fs = vstore
    fg = fs.get_feature_group("customers")
    fv = fs.create_feature_view("leak", fg.select(["customer_id", "tenure", "churn"]),
                                labels=["churn"],
                                transformation_functions=[fs.get_transformation_function(
                                    "min_max_scaler")("tenure")])
    x_train, x_test, y_train, y_test = fv.train_test_split(test_size=0.3, seed=5,
                                                           dataframe_type="pandas")
    train, test = raw_rows(fs, fv, "train"), raw_rows(fs, fv, "test")
    lo, hi = train["tenure"].min(), train["tenure"].max()
    assert (test["tenure"].min(), test["tenure"].max()) != (lo, hi)    # else nothing is shown
    assert x_test.sort_values("customer_id")["min_max_scaler_tenure_"].tolist() == \
        ((test["tenure"] - lo) / (hi - lo)).tolist()
    assert x_train["min_max_scaler_tenure_"].min() == 0.0 and x_train["min_max_scaler_tenure_"].max() == 1.0
    assert list(y_train.columns) == ["churn"] and len(y_test) == len(x_test)
    # X and y line up row by row (churn is 1 for every third customer)
    assert ((x_train["customer_id"] % 3 == 0).astype(int) == y_train["churn"]).all()
    assert ((x_test["customer_id"] % 3 == 0).astype(int) == y_test["churn"]).all()
    assert "churn" not in x_train.columns and "tenure" not in x_train.columns
    assert "customer_id" in x_train.columns                      # rows can be matched
    x_train_nopk, *_ = fv.train_test_split(test_size=0.3, seed=5, primary_key=False,
                                           dataframe_type="pandas")
    assert "customer_id" not in x_train_nopk.columns


def test_offline_and_online_outputs_are_equal_for_every_builtin_and_a_udf(vstore):
    fs = vstore
    fs.create_transformation_function(doubled_plus, version=1)
    loaded = fs.get_transformation_function("doubled_plus", 1)
    assert loaded.source and "x * 2 + 1" in loaded.source and loaded.fn is not doubled_plus.fn
    c = fs.get_feature_group("customers")
    p = fs.get_feature_group("plans")
    f = fs.get_transformation_function
    query = c.select_all().join(p.select(["seats"]))
    every = [f("min_max_scaler")("tenure"), f("standard_scaler")("charges"),
             f("robust_scaler")("total"), f("label_encoder")("region"),
             f("one_hot_encoder")("contract"), f("log_transform")("visits"),
             f("equal_width_binner")("score", n_bins=6), f("quantile_binner")("usage", n_bins=3)]
    assert sorted(b.function.name for b in every) == sorted(BUILTINS)
    fv = fs.create_feature_view("parity", query, labels=["churn"],
                                transformation_functions=[*every, loaded("seats")])
    version, job = fv.create_train_test_split(test_size=0.2, seed=3)
    assert job is None
    fv.init_batch_scoring(version)
    batch = fv.get_batch_data(dataframe_type="pandas").sort_values("customer_id")
    fv.init_serving(version)
    keys = [{"customer_id": int(k)} for k in batch["customer_id"]]
    online = pd.DataFrame(fv.get_feature_vectors(keys, return_type="dict"))
    assert list(online.columns) == list(batch.columns)
    # equal, value for value; the logarithm within one unit in the last place: offline it is
    # the JVM's Math.log, online C's log, and the two round differently on a few values
    log = "log_transform_visits_"
    differing = [(row["customer_id"], k, row[k], want[k])
                 for row, want in zip(online.to_dict("records"),
                                      batch.reset_index(drop=True).to_dict("records"))
                 for k in row if row[k] != want[k] and k != log]
    assert not differing, differing[:10]
    np.testing.assert_array_max_ulp(online[log].to_numpy(), batch[log].to_numpy(), maxulp=1)
    one = fv.get_feature_vector({"CUSTOMER_ID": 5}, return_type="dict")
    assert one == online.iloc[5].to_dict() and one["doubled_plus_seats_"] == (5 % 7) * 2 + 1
    assert fv.get_feature_vector({"customer_id": 5}) == list(one.values())
    # the other split, the helpers of other faces
    other = fs.get_feature_view("parity", fv.version)
    x_train, x_test, y_train, y_test = other.get_train_test_split(version, dataframe_type="pandas")
    assert len(x_train) + len(x_test) == N and len(y_train) == len(x_train)
    passed = fv.get_feature_vector({"customer_id": 5}, passed_features={"tenure": 1.0},
                                   return_type="dict")
    lo_hi = fv.serving_statistics[0]                  # min_max_scaler("tenure"), the first
    assert passed["min_max_scaler_tenure_"] == (1.0 - lo_hi["min"]) / (lo_hi["max"] - lo_hi["min"])
    with pytest.raises(LookupError, match="not in the online store"):
        fv.get_feature_vector({"customer_id": 10 ** 6})
    missing = fv.get_feature_vector({"customer_id": 10 ** 6}, allow_missing=True, return_type="dict")
    assert missing["min_max_scaler_tenure_"] is None and missing["one_hot_encoder_contract_0"] is False


def test_views_persist_version_and_refuse_bad_definitions(vstore):
    fs = vstore
    q = fs.get_feature_group("customers").select(["customer_id", "tenure", "churn"])
    scaler = fs.get_transformation_function("min_max_scaler")
    fv = fs.get_or_create_feature_view("kept", q, labels=["churn"], description="d",
                                       transformation_functions=[scaler("tenure")])
    again = fs.get_or_create_feature_view("kept", q)
    assert (again.version, again.labels, again.description) == (1, ["churn"], "d")
    assert [b.prefix for b in again.transformation_functions] == ["min_max_scaler_tenure_"]
    v2 = fs.create_feature_view("kept", q, labels=["churn"])
    assert v2.version == 2 and [v.version for v in fs.get_feature_views("kept")] == [1, 2]
    assert fs.get_feature_view("kept").version == 2
    with pytest.raises(InvalidInputError) as e:
        fs.create_feature_view("kept", q, version=1, labels=["nope"],
                               transformation_functions=[scaler("missing"), "x"])
    text = str(e.value)
    for part in ("exists already", "label 'nope'", "'missing'", "bound to features"):
        assert part in text, text
    with pytest.raises(InvalidInputError, match="transforms one feature"):
        scaler("a", "b")
    with pytest.raises(InvalidInputError, match="n_bins"):
        fs.get_transformation_function("quantile_binner")("usage", n_bins=1)
    v2.delete()
    assert [v.version for v in fs.get_feature_views("kept")] == [1]
    with pytest.raises(LookupError):
        fs.get_feature_view("kept", 2)
    with pytest.raises(LookupError, match="built-ins"):
        fs.get_transformation_function("no_such_function")


def cli(monkeypatch, capsys, *argv):
    from featurestore_spark.cli import main
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    code = main(["--conf", str(ROOT / "conf" / "featurestore.toml"), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_other_faces_time_splits_and_the_cli(vstore, spark, monkeypatch, capsys):
    import json

    import featurestore_spark as fsp
    from featurestore_spark import Hops, featurestore

    fs = vstore
    events = fs.get_or_create_feature_group("events", primary_key=["id"], event_time="ts",
                                            statistics_config=OFF)
    events.insert(spark.createDataFrame(
        [(i, f"2026-0{1 + i % 6}-10 00:00:00", float(i), int(i % 2)) for i in range(60)],
        "id int, ts string, amount double, label int").selectExpr(
            "id", "cast(ts as timestamp) as ts", "amount", "label"))
    scaler = fs.get_transformation_function("standard_scaler")
    query = events.select_all()
    built = (Hops.createFeatureView("by_time").setQuery(query).setLabels("label")
             .setTransformationFunctions(scaler("amount")).setDescription("d").setStore(fs).write())
    assert built.version == 1 and built.labels == ["label"]
    assert Hops.getFeatureView("by_time").setStore(fs).read().description == "d"
    old, fsp.feature_store._default = fsp.feature_store._default, fs    # the default store
    try:
        made = featurestore.create_feature_view("by_time", query, labels="label",
                                                transformation_functions=[scaler("amount")])
        assert made.version == 2
        assert featurestore.get_feature_view("by_time", feature_view_version=1).version == 1
    finally:
        fsp.feature_store._default = old
    version, _ = built.create_train_test_split(
        train_start="2026-01-01", train_end="2026-04-01", test_start="2026-04-01",
        test_end="2026-07-01", data_format="csv")
    x_train, x_test, y_train, y_test = built.get_train_test_split(version, dataframe_type="pandas")
    assert x_train["ts"].max() < pd.Timestamp("2026-04-01") <= x_test["ts"].min()
    assert len(x_train) == 30 and len(x_test) == 30 and list(y_test.columns) == ["label"]
    train_amounts = [float(i) for i in range(60) if i % 6 < 3]
    mean, std = np.mean(train_amounts), np.std(train_amounts)
    np.testing.assert_allclose(sorted(x_test["standard_scaler_amount_"]),
                               sorted((a - mean) / std for a in range(60) if i_test(a)))
    assert fs.training.read("by_time_1", version, "train", "pandas").shape[0] == 30  # written
    built.init_batch_scoring(version)
    batch = built.get_batch_data(start_time="2026-06-01", end_time="2026-07-01",
                                 dataframe_type="pandas")
    assert sorted(batch["id"]) == [i for i in range(60) if i % 6 == 5]
    assert "label" not in batch.columns
    whole, _ = built.create_training_data(start_time="2026-03-01", data_format="parquet")
    x_all, y_all = built.get_training_data(whole, dataframe_type="pandas")
    assert len(x_all) == len(y_all) == 40 and x_all["ts"].min() >= pd.Timestamp("2026-03-01")
    parts = built.train_validation_test_split(validation_size=0.25, test_size=0.25, seed=2,
                                              dataframe_type="pandas")
    assert len(parts) == 6 and sum(len(x) for x in parts[:3]) == 60
    assert all(len(x) == len(y) for x, y in zip(parts[:3], parts[3:])) and min(map(len, parts)) > 5
    # the CLI: views, describe-view (no Spark needed), skew on a view with an offline group
    code, out = cli(monkeypatch, capsys, "views", "--json")
    assert code == 0 and "by_time" in {v["name"] for v in json.loads(out)}
    code, out = cli(monkeypatch, capsys, "describe-view", "by_time", "--version", "1")
    assert code == 0 and "standard_scaler" in out and "VERSION AS OF" in out and "csv" not in out
    code, out = cli(monkeypatch, capsys, "check-skew", "by_time", "--version", "1")
    assert code == 2 and "events v1 is not online" in out


def i_test(a):
    return a % 6 >= 3


def test_check_skew_reports_an_online_only_write(vstore, spark, monkeypatch, capsys):
    import json
    fs = vstore
    fg = fs.get_or_create_feature_group("skewed", primary_key=["id"], online_enabled=True,
                                        statistics_config=OFF)
    fg.insert(spark.createDataFrame([(i, float(i), "ab"[i % 2]) for i in range(30)],
                                    "id int, x double, c string"))
    fv = fs.create_feature_view("skewed", fg.select_all(), transformation_functions=[
        fs.get_transformation_function("min_max_scaler")("x"),
        fs.get_transformation_function("label_encoder")("c")])
    fv.training_data()
    clean = fv.check_skew(sample=1000)
    assert clean.ok and clean.sampled == 30, clean.as_dict()
    code, out = cli(monkeypatch, capsys, "check-skew", "skewed")
    assert code == 0 and "no skew" in out
    # a write to the online store alone: offline still has the old row
    fg.insert(spark.createDataFrame([(7, 100.0, "a")], "id int, x double, c string"),
              storage="online")
    report = fv.check_skew(sample=1000)
    assert not report.ok and list(report.differences) == ["min_max_scaler_x_", "label_encoder_c_"]
    assert [k for k, _, _ in report.differences["min_max_scaler_x_"]] == [7]
    code, out = cli(monkeypatch, capsys, "check-skew", "skewed", "--json")
    assert code == 1 and json.loads(out)["features"]["label_encoder_c_"]["differing"] == 1
    code, out = cli(monkeypatch, capsys, "check-skew", "skewed")
    assert code == 1 and "min_max_scaler_x_" in out and "3.3%" in out


def test_bad_definitions_and_data_are_refused_with_nothing_written(vstore, spark):
    from featurestore_spark.transformations.builtins import BUILTINS as FNS
    fs = vstore
    f = fs.get_transformation_function
    c = fs.get_feature_group("customers")
    with pytest.raises(InvalidInputError) as e:
        fs.create_feature_view("bad_types", c.select_all(), labels=["churn"],
                               inference_helper_columns=["usage"],
                               transformation_functions=[f("min_max_scaler")("contract"),
                                                         f("label_encoder")("tenure"),
                                                         f("log_transform")("usage")])
    text = str(e.value)
    for part in ("min_max_scaler takes a numeric feature", "'contract' is string",
                 "label_encoder takes a category feature", "'usage', an inference helper"):
        assert part in text, text
    with pytest.raises(InvalidInputError, match="cannot be loaded on its own"):
        fs.create_transformation_function(uses_a_helper)
    assert fs.metadata.list_documents(fs.settings.project, "tf", "uses_a_helper") == []
    # statistics that cannot be kept (NaN) or an empty training window: nothing is written
    fg = fs.get_or_create_feature_group("nans", primary_key=["id"], event_time="ts",
                                        statistics_config=OFF)
    fg.insert(spark.createDataFrame([(i, float("nan") if i == 3 else float(i)) for i in range(10)],
                                    "id int, x double").selectExpr(
        "id", "x", "timestamp'2026-01-01 00:00:00' + make_interval(0, 0, 0, id) as ts"))
    fv = fs.create_feature_view("nans", fg.select_all(),
                                transformation_functions=[f("min_max_scaler")("x")])
    with pytest.raises(InvalidInputError, match="not finite"):
        fv.create_train_test_split(test_size=0.3, seed=1)
    with pytest.raises(InvalidInputError, match="no rows to fit"):
        fv.training_data(start_time="2030-01-01")
    assert fs.metadata.documents(fs.settings.project, "fv.td", "nans", 1) == []
    assert [d for d in fs.training.list() if d.name == "nans_1"] == []
    assert not (fs.settings.home_path / "training_datasets" / fs.settings.project / "nans_1_1").exists()
    with pytest.raises(InvalidInputError, match="make training data first"):
        fv.init_serving()
    # a stale handle adds nothing to a deleted view
    fv.delete()
    with pytest.raises(LookupError, match="deleted or made again"):
        fv.training_data()
    # passed features: known names, one per entry
    parity = fs.get_feature_view("parity")
    parity.init_serving()
    with pytest.raises(InvalidInputError, match="not features of the vector"):
        parity.get_feature_vector({"customer_id": 1}, passed_features={"nope": 1})
    with pytest.raises(InvalidInputError, match="2 passed_features for 1 entries"):
        parity.get_feature_vectors([{"customer_id": 1}], passed_features=[None, None])
    # scikit-learn's binning of a constant feature: bin 0
    assert FNS["equal_width_binner"].python(5.0, {"min": 5.0, "max": 5.0}, {"n_bins": 4}) == [0]
    assert FNS["quantile_binner"].python(5.0, {"edges": [5.0] * 5}, {"n_bins": 4}) == [0]
