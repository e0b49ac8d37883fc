"""A model server's process: feature vectors from ``connect(spark=False)``, with no JVM."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import ROOT

SERVER = r"""
import json, os, time
started = time.perf_counter()
import featurestore_spark as fs
from featurestore_spark import featurestore
store = fs.connect(spark=False)
connected = time.perf_counter() - started
vector = store.feature_vector(["x", "name"], 1)
batch = featurestore.get_online_feature_vectors(["x"], [2, 1, 3])       # the default store
server = store.feature_vector_server(["x"])
again = server.get_batch([1, 2])
view = store.get_feature_view("tv")            # a feature view, transformed as in training
view.init_serving(1)
transformed = view.get_feature_vector({"id": 2}, return_type="dict")
java = []          # the processes this one started: a JVM would be one (py4j launches it)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        continue
    if int(fields[1]) == os.getpid():
        java.append(comm)
print(json.dumps({"vector": vector, "batch": batch, "again": again, "children": java,
                  "transformed": transformed,
                  "started": store.spark_started, "connect_seconds": connected,
                  "seconds": time.perf_counter() - started}))
"""


def test_vectors_without_a_jvm(online_store, online_env, spark):
    fg = online_store.get_or_create_feature_group("t", primary_key=["id"], online_enabled=True)
    fg.insert(spark.createDataFrame([(1, 1.5, "a"), (2, 2.5, "b")], "id int, x double, name string"))
    scaler = online_store.get_transformation_function("min_max_scaler")
    online_store.create_feature_view("tv", fg.select_all(),
                                     transformation_functions=[scaler("x")]).training_data()
    env = {**os.environ, **online_env}
    done = subprocess.run([sys.executable, "-c", SERVER], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["vector"] == {"x": 1.5, "name": "a"}
    assert out["batch"] == [{"x": 2.5}, {"x": 1.5}, {"x": None}]
    assert out["again"] == [{"x": 1.5}, {"x": 2.5}]
    assert out["transformed"] == {"id": 2, "min_max_scaler_x_": 1.0, "name": "b"}
    assert out["started"] is False and out["children"] == [], out
    print(f"serving process: connected in {out['connect_seconds']:.2f} s, three lookups done "
          f"{out['seconds']:.2f} s after start")
