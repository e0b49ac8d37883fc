"""Made golden.tfrecord once, with TensorFlow (not a dependency of the project):

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu
    /tmp/tf/bin/python tests/data/tfrecords/make_golden.py

It writes the rows of golden.json as tf.train.Examples (features in the columns' order, a null
left out) with TensorFlow's own TFRecordWriter, and parses them back with tf.io.parse_example,
checking the values. tests/unit/test_training_tfrecord.py checks that our writer gives these
bytes for these rows and that our reader reads them back."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
COLUMNS = json.loads((HERE / "golden.json").read_text())
ROWS = [[bytes.fromhex(v) if isinstance(v, str) else
         [bytes.fromhex(x) for x in v] if isinstance(v, list) and c[1] == "string" else v
         for v, c in zip(row, COLUMNS["columns"])] for row in COLUMNS["rows"]]


def feature(kind: str, values: list) -> tf.train.Feature:
    if kind == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if kind == "float32":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


with tf.io.TFRecordWriter(str(HERE / "golden.tfrecord")) as out:
    for row in ROWS:
        features = {name: feature(kind, v if is_list else [v])
                    for (name, kind, is_list), v in zip(COLUMNS["columns"], row) if v is not None}
        out.write(tf.train.Example(features=tf.train.Features(feature=features))
                  .SerializeToString())

dtypes = {"int64": tf.int64, "float32": tf.float32, "string": tf.string}
spec = {name: tf.io.VarLenFeature(dtypes[kind]) for name, kind, _ in COLUMNS["columns"]}
for record, row in zip(tf.data.TFRecordDataset(str(HERE / "golden.tfrecord")), ROWS):
    parsed = tf.io.parse_single_example(record, spec)
    for (name, kind, is_list), v in zip(COLUMNS["columns"], row):
        got = parsed[name].values.numpy().tolist()
        want = [] if v is None else (v if is_list else [v])
        if kind == "float32":
            want = np.array(want, np.float32).tolist()
        assert got == want, (name, got, want)
print("golden.tfrecord written and read back by TensorFlow", tf.__version__)
