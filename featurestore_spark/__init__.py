"""featurestore_spark: a Spark-native feature store on Delta Lake.

Examples
--------
>>> import featurestore_spark as fs
>>> store = fs.connect()                                                       # doctest: +SKIP
>>> fs.Hops.createFeaturegroup("teams").setDataframe(df).setPrimaryKey("team_id").write()  # doctest: +SKIP
"""

from . import featurestore
from .errors import (CommitNotFound, ConcurrentWriteError, ConfigurationError, FeatureGroupExists,
                     FeatureGroupNotFound, FeatureStoreError, InvalidInputError,
                     SchemaMismatchError)
from .feature_store import FeatureStore, connect
from .hops import Hops

__all__ = ["CommitNotFound", "ConcurrentWriteError", "ConfigurationError", "FeatureGroupExists",
           "FeatureGroupNotFound", "FeatureStore", "FeatureStoreError", "Hops",
           "InvalidInputError", "SchemaMismatchError", "connect", "featurestore"]
