"""``Hops``: the fluent entry points of io.hops.util.Hops, each returning an immutable builder.

Examples
--------
>>> from featurestore_spark import Hops
>>> (Hops.createFeaturegroup("teams").setDataframe(df).setPrimaryKey("team_id")
...      .setDescription("team features").write())                        # doctest: +SKIP
>>> Hops.getFeaturegroup("teams").setAsOf(0).read().show()                # doctest: +SKIP
"""

from __future__ import annotations

from .builders import (CheckOnlineFeaturegroup, CreateFeaturegroup, GetFeatureVector,
                       SyncOnlineFeaturegroup, DeleteFeaturegroup, GetFeature, GetFeaturegroup,
                       GetFeaturegroupChanges, GetFeaturegroupCommits, GetFeatures,
                       GetLatestFeaturegroupVersion, InsertIntoFeaturegroup, QueryFeaturestore)
from .builders.connectors import CreateStorageConnector, GetStorageConnector
from .builders.streaming import InsertIntoFeaturegroupStream
from .builders.views import CreateFeatureView, GetFeatureView
from .spec import CreateSpec, InsertSpec, ReadSpec
from .streaming import StreamSpec
from .views import FeatureViewSpec
from .training.builders import (CreateTrainingDataset, DeleteTrainingDataset,
                                GetLatestTrainingDatasetVersion, GetTrainingDataset,
                                GetTrainingDatasetPath, GetTrainingDatasetTfRecordSchema,
                                RecreateTrainingDataset)
from .training.spec import TrainingDatasetSpec


class Hops:
    @staticmethod
    def createFeaturegroup(name: str) -> CreateFeaturegroup:
        return CreateFeaturegroup(spec=CreateSpec(name))

    @staticmethod
    def insertIntoFeaturegroup(name: str) -> InsertIntoFeaturegroup:
        return InsertIntoFeaturegroup(spec=InsertSpec(name))

    @staticmethod
    def insertIntoFeaturegroupStream(name: str) -> InsertIntoFeaturegroupStream:
        return InsertIntoFeaturegroupStream(spec=StreamSpec(name, None))

    @staticmethod
    def getFeaturegroup(name: str) -> GetFeaturegroup:
        return GetFeaturegroup(spec=ReadSpec(name))

    @staticmethod
    def getFeature(feature: str) -> GetFeature:
        return GetFeature(feature=feature)

    @staticmethod
    def queryFeaturestore(query: str) -> QueryFeaturestore:
        return QueryFeaturestore(query=query)

    @staticmethod
    def getLatestFeaturegroupVersion(name: str) -> GetLatestFeaturegroupVersion:
        return GetLatestFeaturegroupVersion(name=name)

    @staticmethod
    def getFeaturegroupCommits(name: str) -> GetFeaturegroupCommits:
        return GetFeaturegroupCommits(name=name)

    @staticmethod
    def getFeaturegroupChanges(name: str) -> GetFeaturegroupChanges:
        return GetFeaturegroupChanges(name=name)

    @staticmethod
    def deleteFeaturegroup(name: str) -> DeleteFeaturegroup:
        return DeleteFeaturegroup(name=name)

    @staticmethod
    def syncOnlineFeaturegroup(name: str) -> SyncOnlineFeaturegroup:
        return SyncOnlineFeaturegroup(name=name)

    @staticmethod
    def checkOnlineFeaturegroup(name: str) -> CheckOnlineFeaturegroup:
        return CheckOnlineFeaturegroup(name=name)

    @staticmethod
    def getFeatureVector(features: str | list[str]) -> GetFeatureVector:
        from .builders.featuregroup import columns
        return GetFeatureVector(features=columns(features))

    @staticmethod
    def getFeatures(features: str | list[str]) -> GetFeatures:
        """Features by name (``feature``, ``featuregroup.feature``), from the feature groups
        that have them, joined on their keys: ``Hops.getFeatures(["rating", "attendance"])
        .setJoinKey("team_id").read()``."""
        from .builders.featuregroup import columns
        return GetFeatures(features=columns(features))

    # -- feature views -----------------------------------------------------------------------------
    @staticmethod
    def createFeatureView(name: str) -> CreateFeatureView:
        """``Hops.createFeatureView("churn").setQuery(q).setLabels("churn")
        .setTransformationFunctions(scaler("tenure")).write()``"""
        return CreateFeatureView(spec=FeatureViewSpec(name))

    @staticmethod
    def getFeatureView(name: str) -> GetFeatureView:
        return GetFeatureView(name=name)

    # -- storage connectors -----------------------------------------------------------------------
    @staticmethod
    def createStorageConnector(name: str) -> CreateStorageConnector:
        """``Hops.createStorageConnector("sales_db").setType("jdbc").setUrl(url).setUser(u)
        .setPasswordEnv("SALES_DB_PASSWORD").write()`` (see ``featurestore_spark.connectors``)"""
        return CreateStorageConnector(name=name)

    @staticmethod
    def getStorageConnector(name: str) -> GetStorageConnector:
        return GetStorageConnector(name=name)

    # -- training datasets ------------------------------------------------------------------------
    @staticmethod
    def createTrainingDataset(name: str) -> CreateTrainingDataset:
        """``Hops.createTrainingDataset("td").setDataframe(df)`` (or ``.setQuery(q)``)
        ``.setDataFormat("parquet").setSplits({"train": 0.8, "test": 0.2}).setSeed(1).write()``"""
        return CreateTrainingDataset(spec=TrainingDatasetSpec(name))

    @staticmethod
    def getTrainingDataset(name: str) -> GetTrainingDataset:
        return GetTrainingDataset(name=name)

    @staticmethod
    def getTrainingDatasetPath(name: str) -> GetTrainingDatasetPath:
        return GetTrainingDatasetPath(name=name)

    @staticmethod
    def getTrainingDatasetTfRecordSchema(name: str) -> GetTrainingDatasetTfRecordSchema:
        return GetTrainingDatasetTfRecordSchema(name=name)

    @staticmethod
    def getLatestTrainingDatasetVersion(name: str) -> GetLatestTrainingDatasetVersion:
        return GetLatestTrainingDatasetVersion(name=name)

    @staticmethod
    def recreateTrainingDataset(name: str) -> RecreateTrainingDataset:
        return RecreateTrainingDataset(name=name)

    @staticmethod
    def deleteTrainingDataset(name: str) -> DeleteTrainingDataset:
        return DeleteTrainingDataset(name=name)
