"""Training datasets: files of one data format (tfrecords, parquet, csv, tsv, avro, orc) written
by Spark's executors, split randomly or by time, registered with their schema, splits and
source, and made again from a recorded query with the same rows.

``spec`` is the request, ``splits`` the split plans, ``formats`` and ``tfrecord`` the writers and
readers, ``lineage`` the recorded source, ``sinks`` where the files go (the feature store's
folder or a storage connector), ``service`` the operations (``store.training``) and
``builders`` the ``Hops`` builders.
"""

from .service import TrainingDatasets
from .spec import TrainingDatasetSpec
from .tfrecord import tensorflow_feature_spec, tf_record_schema

__all__ = ["TrainingDatasetSpec", "TrainingDatasets", "tensorflow_feature_spec", "tf_record_schema"]
