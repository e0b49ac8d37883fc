"""featurestore_spark: a Spark-native feature store on Delta Lake.

Examples
--------
>>> import featurestore_spark as fs
>>> store = fs.connect()                                                       # doctest: +SKIP
>>> fs.Hops.createFeaturegroup("teams").setDataframe(df).setPrimaryKey("team_id").write()  # doctest: +SKIP
"""

try:  # mysql-connector's C extension loads only before Python's ssl module (see ENVIRONMENT)
    import _mysql_connector  # noqa: F401
except ImportError:          # it then falls back to pure Python, about 1.5x slower per lookup
    pass

from . import featurestore
from .errors import (CommitNotFound, ConcurrentWriteError, ConfigurationError, DataValidationError,
                     FeatureGroupExists,
                     FeatureGroupNotFound, FeatureStoreError, FeatureVectorNotFound,
                     InvalidInputError, MetadataStoreError, OnlineStoreError,
                     SchemaMismatchError, TrainingDatasetExists, TrainingDatasetNotFound)
from .feature_store import FeatureStore, connect
from .hops import Hops
from .query import Query
from .statistics import StatisticsConfig

__all__ = ["CommitNotFound", "ConcurrentWriteError", "ConfigurationError", "DataValidationError",
           "FeatureGroupExists",
           "FeatureGroupNotFound", "FeatureStore", "FeatureStoreError", "FeatureVectorNotFound",
           "Hops", "InvalidInputError", "MetadataStoreError", "OnlineStoreError", "Query",
           "SchemaMismatchError", "StatisticsConfig", "TrainingDatasetExists", "TrainingDatasetNotFound", "connect",
           "featurestore"]
