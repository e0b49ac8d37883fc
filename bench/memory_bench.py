"""The driver's memory during sync_online(full=True) at growing row counts, in a Spark session of
its own whose executors run in JVMs of their own (``local-cluster[2,1,1536]``), so that the
driver JVM's heap is the driver's alone (in ``local[*]`` it also runs the tasks). Run by
online_bench.py:

    python bench/memory_bench.py '{"rows": [1000000, 5000000], "partitions": 4}'

prints one JSON line: a list of sync_bench.SyncRun fields per row count.
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (mysql-connector's C extension first)

import json
import shutil
import sys
from dataclasses import asdict

import report as rp
import sync_bench as sb

PROJECT = "fsbench_mem"


def main(args: dict) -> list[dict]:
    from featurestore_spark.config import load_settings
    from featurestore_spark.feature_store import FeatureStore
    from featurestore_spark.session import get_spark

    home = rp.ROOT / ".cache" / "bench" / "memory_home"
    shutil.rmtree(home, ignore_errors=True)
    env = rp.settings_env(home, PROJECT, "tcp")
    env["FEATURESTORE_SPARK_MASTER"] = args.get("master", "local-cluster[2,1,1536]")
    settings = load_settings(rp.ROOT / "conf" / "featurestore.toml", env)
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    store = FeatureStore.connect(settings, spark)
    backend = store.online.backend
    try:
        runs = [{**asdict(r), "master": spark.sparkContext.master}
                for r in sb.memory_runs_in(store, args["rows"], args["partitions"])]
    finally:
        with backend.connection(PROJECT) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{PROJECT}_online`")
        store.close()
        spark.stop()
        shutil.rmtree(home, ignore_errors=True)
    return runs


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
