"""The registry search benchmark behind `make bench BENCH=search`: `fs.search(text)` on a metadata
store of BENCH_GROUPS feature groups x BENCH_FEATURES features (with descriptions, keywords and
tags on some), on SQLite and on MariaDB, beside the way a registry without search in the
database would answer: list every feature group with its features and match in Python (the
baseline, in the same run). Each query kind runs BENCH_SEARCHES times after 5 untimed.
Target: p50 and p99 under 100 ms for every kind on both stores (no Spark is started).

    make bench BENCH=search                      # 2,000 x 50, recorded in bench/RESULTS.md
    BENCH_GROUPS=200 make bench BENCH=search     # a smoke run (not recorded)

Environment: BENCH_GROUPS (2000), BENCH_FEATURES (50), BENCH_SEARCHES (50), BENCH_RECORD (1 when
BENCH_GROUPS >= 2000).
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (before ssl: see featurestore_spark/__init__)

import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import report as rp

TARGET_MS = 100.0
WORDS = ["revenue", "churn", "session", "click", "order", "basket", "tenure", "payment", "device",
         "country", "refund", "rating", "visit", "price", "discount", "stock", "delivery", "age"]
QUERIES = {                      # kind: the text searched
    "exact group name": "orders_1233",
    "a feature word": "tenure",
    "a rare keyword": "gdpr",
    "two words": "payment refund",
    "nothing matches": "zzyzx",
}


def fill(meta, groups: int, features: int) -> None:
    from featurestore_spark.metadata import Commit, Feature, FeatureGroup
    from featurestore_spark.metadata.base import Subject
    rng = random.Random(1)
    now = datetime.now(timezone.utc)
    for g in range(groups):
        topic = WORDS[g % len(WORDS)]
        name = f"orders_{g}" if g % 3 == 0 else f"{topic}_{g}"
        feats = tuple(Feature(f"{rng.choice(WORDS)}_{j}", "double",
                              f"the {rng.choice(WORDS)} of a customer over {j} days")
                      for j in range(features))
        meta.create_feature_group(
            FeatureGroup("bench", name, 1, f"{topic} features of team {g % 17}", feats, (feats[0].name,),
                         (), None, "/x", now, "bench"), Commit(0, now, "create", 1, 0, 0, "bench"))
        if g % 10 == 0:
            meta.add_keywords(Subject("bench", "fg", name, 1), [topic, "daily"]
                              + (["gdpr"] if g % 500 == 0 else []))
            meta.put_tag(Subject("bench", "fg", name, 1), "owner", {"team": f"team {g % 17}"})
        if g % 200 == 0:
            rp.say(f"  {g:,} / {groups:,} feature groups")


def python_search(meta, text: str) -> list:
    """The baseline: everything into Python, matched there."""
    words = text.lower().split()
    out = []
    for g in meta.list_feature_groups("bench"):
        for w in words:
            if w in g.name or w in g.description.lower():
                out.append((g.name, None))
            out += [(g.name, f.name) for f in g.features if w in f.name or w in f.description.lower()]
    return out


def time_kind(fn, text: str, runs: int) -> rp.Latency:
    for _ in range(5):
        fn(text)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn(text)
        samples.append(time.perf_counter_ns() - t0)
    return rp.Latency(samples)


DATABASE = "bench_search_meta"


def drop(settings) -> None:
    from contextlib import closing

    import mysql.connector
    with closing(mysql.connector.connect(**settings.connect_args())) as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")


def main() -> None:
    from featurestore_spark.config import MysqlSettings
    from featurestore_spark.metadata.mysql import MysqlMetadataStore
    from featurestore_spark.metadata.sqlite import SqliteMetadataStore
    from featurestore_spark.registry.search import search

    groups = rp.env_int("BENCH_GROUPS", 2000)
    features = rp.env_int("BENCH_FEATURES", 50)
    runs = rp.env_int("BENCH_SEARCHES", 50)
    record = rp.env_int("BENCH_RECORD", 1 if groups >= 2000 else 0)
    env = rp.mysql_env()
    mysql = MysqlSettings(host=env["FEATURESTORE_MYSQL_HOST"],
                          port=int(env["FEATURESTORE_MYSQL_PORT"]),
                          user=env["FEATURESTORE_MYSQL_USER"],
                          password=env.get("FEATURESTORE_MYSQL_PASSWORD", ""),
                          unix_socket="")
    drop(mysql)
    machine = rp.machine()
    rows, verdicts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"SQLite": SqliteMetadataStore(Path(tmp) / "meta.db"),
                  "MariaDB (TCP)": MysqlMetadataStore(mysql, DATABASE)}
        for label, meta in stores.items():
            t0 = time.perf_counter()
            fill(meta, groups, features)
            rp.say(f"{label}: {groups:,} x {features} written in {time.perf_counter() - t0:.0f} s")
            for kind, query in QUERIES.items():
                ours = time_kind(lambda q: search(meta, "bench", q), query, runs)
                base = time_kind(lambda q: python_search(meta, q), query, max(3, runs // 10))
                hits = len(search(meta, "bench", query))
                ok = ours.p50 < TARGET_MS and ours.p99 < TARGET_MS
                verdicts.append(ok)
                rows.append((label, kind, hits, ours.p50, ours.p99, base.p50,
                             f"{base.p50 / ours.p50:.0f}x"))
                rp.say(f"{label} {kind!r}: p50 {ours.p50:.1f} ms p99 {ours.p99:.1f} ms "
                       f"(everything into Python: {base.p50:.0f} ms)")
            meta.close()
    drop(mysql)
    text = "\n".join(rp.heading(f"registry search benchmark (bench/search_bench.py), {groups:,} "
                                f"feature groups x {features} features", machine) + [
        f"`fs.search(text)` (at most 50 results, ranked and grouped) on a metadata store of "
        f"{groups:,} feature groups x {features} features with descriptions, keywords and tags on "
        f"every tenth group; {runs} timed searches per kind after 5 untimed. Baseline: every "
        "feature group listed with its features and matched in Python. ms.",
        "",
        rp.table(["store", "query", "results", "p50", "p99", "baseline p50", "faster"], rows),
        "",
        "Target:",
        "",
        f"- every query kind under {TARGET_MS:.0f} ms at p50 and p99 on both stores: "
        f"{rp.verdict(all(verdicts))}",
    ])
    print("\n" + text)
    if record:
        rp.record(text)


if __name__ == "__main__":
    main()
