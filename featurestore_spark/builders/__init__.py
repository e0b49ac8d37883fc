"""Immutable builders: each setter returns a new builder; ``write()`` / ``read()`` check the whole
request and hand a plain frozen spec to the FeatureStore."""

from .featuregroup import (CreateFeaturegroup, DeleteFeaturegroup, GetFeature, GetFeaturegroup,
                           GetFeaturegroupChanges, GetFeaturegroupCommits,
                           GetLatestFeaturegroupVersion, InsertIntoFeaturegroup, QueryFeaturestore)
from .online import CheckOnlineFeaturegroup, GetFeatureVector, SyncOnlineFeaturegroup
from ..query.builder import GetFeatures  # noqa: E402 (it builds on featuregroup's Builder)

__all__ = ["CheckOnlineFeaturegroup", "CreateFeaturegroup", "GetFeatureVector",
           "SyncOnlineFeaturegroup", "DeleteFeaturegroup", "GetFeature", "GetFeaturegroup",
           "GetFeaturegroupChanges", "GetFeaturegroupCommits", "GetFeatures",
           "GetLatestFeaturegroupVersion",
           "InsertIntoFeaturegroup", "QueryFeaturestore"]
