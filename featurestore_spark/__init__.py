"""featurestore_spark: a Spark-native feature store on Delta Lake.

Examples
--------
>>> import featurestore_spark as fs
>>> store = fs.connect()                                                       # doctest: +SKIP
>>> fs.Hops.createFeaturegroup("teams").setDataframe(df).setPrimaryKey("team_id").write()  # doctest: +SKIP
"""

try:  # mysql-connector's C extension loads only before the system's OpenSSL (hashlib and ssl load
    import _mysql_connector  # noqa: F401  it); once installed, featurestore_spark_preload.py
except ImportError:          # loads it as Python starts; else lookups log the fallback, once
    pass

from . import featurestore
from .errors import (CommitNotFound, ConcurrentWriteError, ConfigurationError, DataValidationError,
                     FeatureGroupExists,
                     FeatureGroupNotFound, FeatureStoreError, FeatureVectorNotFound,
                     FeatureViewNotFound,
                     IncompleteDeleteError, InvalidInputError, MetadataStoreError,
                     OnlineStoreError, SchemaMismatchError, StorageError, TrainingDatasetExists,
                     TrainingDatasetNotFound)
from .feature_store import FeatureStore, connect
from .handles import FeatureGroup
from .hops import Hops
from .query import Query
from .statistics import StatisticsConfig
from .transformations import udf
from .views import FeatureView

__all__ = ["CommitNotFound", "ConcurrentWriteError", "ConfigurationError", "DataValidationError",
           "FeatureGroup", "FeatureGroupExists",
           "FeatureGroupNotFound", "FeatureStore", "FeatureStoreError", "FeatureVectorNotFound",
           "FeatureView", "FeatureViewNotFound",
           "Hops", "IncompleteDeleteError", "InvalidInputError", "MetadataStoreError",
           "OnlineStoreError", "Query", "SchemaMismatchError", "StatisticsConfig", "StorageError",
           "TrainingDatasetExists", "TrainingDatasetNotFound", "connect", "featurestore", "udf"]
