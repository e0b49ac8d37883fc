"""FeatureStore: the ``Store`` facade with the handle factories of the Hopsworks client's
vocabulary (``featurestore_spark.handles``), and the default store of the Hops builders and the
hops-util-py functions."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import handles, views
from .connectors import Connectors, StorageConnector
from .store import Store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .config import Settings


class FeatureStore(Store):
    """Feature groups of one or more projects, over one SparkSession and one metadata store.

    Examples
    --------
    >>> fs = featurestore_spark.connect()                                       # doctest: +SKIP
    >>> fg = fs.get_or_create_feature_group("teams", primary_key=["team_id"])   # doctest: +SKIP
    >>> fg.insert(df)                                                           # doctest: +SKIP
    """

    # -- handles (hsfs vocabulary: featurestore_spark.handles) --------------------------------------
    def get_or_create_feature_group(self, name: str, version: int | None = None, *,
                                    project: str | None = None, **settings: Any) -> handles.FeatureGroup:
        """The handle of feature group ``name`` (the latest version when ``version`` is None), or
        of a new one (version 1 by default) that its first ``insert`` creates with ``settings``:
        description, primary_key, event_time, partition_key, online_enabled, statistics_config,
        expectation_suite, validation_ingestion_policy.

        Examples
        --------
        >>> fg = store.get_or_create_feature_group("teams", primary_key=["team_id"])  # doctest: +SKIP
        >>> fg.insert(df)                                                            # doctest: +SKIP
        """
        return handles.get_or_create(self, name, version, project, **settings)

    def create_feature_group(self, name: str, version: int | None = None, *,
                             project: str | None = None, **settings: Any) -> handles.FeatureGroup:
        """A handle of a new feature group version (the next one when ``version`` is None) that
        its first ``insert`` or ``save`` creates; settings as ``get_or_create_feature_group``."""
        return handles.new_feature_group(self, name, version, project, **settings)

    def get_feature_group(self, name: str, version: int | None = None, *,
                          project: str | None = None) -> handles.FeatureGroup:
        """The handle of a registered version (the latest when ``version`` is None)."""
        return handles.feature_group(self, name, version, project)

    def get_feature_groups(self, name: str, *, project: str | None = None) -> list[handles.FeatureGroup]:
        """Handles of every version of ``name``, oldest first."""
        return handles.feature_groups(self, name, project)

    # -- external feature groups (connectors.external, handles_external) ---------------------------
    def create_external_feature_group(self, name: str, storage_connector: Any, query: str | None = None,
                                      data_format: str | None = None, path: str = "",
                                      options: Any = None, version: int | None = None, *,
                                      project: str | None = None, **settings: Any) -> Any:
        """A handle of an external (on-demand) group read through ``storage_connector`` (a
        connector or its name): a JDBC ``query``, or files at ``path`` in ``data_format``;
        ``save()`` registers it. Settings: description, primary_key, event_time,
        online_enabled, statistics_config, dependencies.

        Examples
        --------
        >>> fg = fs.create_external_feature_group("sales", "warehouse_db",
        ...                                       query="SELECT * FROM sales",
        ...                                       primary_key=["order_id"])   # doctest: +SKIP
        >>> fg.save()                                                         # doctest: +SKIP
        """
        from .handles_external import create
        return create(self, name, storage_connector, query=query, data_format=data_format,
                      path=path, options=options, version=version, project=project, **settings)

    create_on_demand_feature_group = create_external_feature_group    # the older hsfs name

    def get_external_feature_group(self, name: str, version: int | None = None, *,
                                   project: str | None = None) -> Any:
        """The handle of a registered external group (the latest version when None)."""
        from .handles_external import ExternalFeatureGroup
        group = self.feature_group(name, version, project)
        if not group.external:
            from .errors import InvalidInputError
            raise InvalidInputError(f"cannot get external feature group {name!r}", [
                f"{name} v{group.version} is a feature group with commits, not an external "
                "one: get_feature_group returns it"], write=False)
        return ExternalFeatureGroup(self, group.name, group.version, group.project)

    def get_external_feature_groups(self, name: str, *, project: str | None = None) -> list[Any]:
        """Handles of every external version of ``name``, oldest first."""
        return [self.get_external_feature_group(g.name, g.version, project=g.project)
                for g in self.feature_groups(project) if g.name == name and g.external]

    # -- feature views and transformation functions (featurestore_spark.views) ----------------------
    def create_feature_view(self, name: str, query: Any, version: int | None = None, *,
                            project: str | None = None, description: str = "",
                            labels: Any = (), inference_helper_columns: Any = (),
                            transformation_functions: Any = ()) -> views.FeatureView:
        """A new feature view version of ``query`` (the next version when ``version`` is None).

        Examples
        --------
        >>> scaler = fs.get_transformation_function("min_max_scaler")            # doctest: +SKIP
        >>> fv = fs.create_feature_view("churn", query, labels=["churn"],
        ...                             transformation_functions=[scaler("tenure")])  # doctest: +SKIP
        """
        return views.create(self, views.FeatureViewSpec(
            name, query, project, version, description, labels, inference_helper_columns,
            transformation_functions))

    def get_or_create_feature_view(self, name: str, query: Any, version: int | None = None, *,
                                   project: str | None = None, **settings: Any) -> views.FeatureView:
        """The registered version (the latest when ``version`` is None), or a new one (version 1
        when ``version`` is None)."""
        try:
            return views.get(self, name, version, project)
        except views.FeatureViewNotFound:
            return self.create_feature_view(name, query, version or 1, project=project, **settings)

    def get_feature_view(self, name: str, version: int | None = None, *,
                         project: str | None = None) -> views.FeatureView:
        return views.get(self, name, version, project)

    def get_feature_views(self, name: str, *, project: str | None = None) -> list[views.FeatureView]:
        return views.get_all(self, name, project)

    def create_transformation_function(self, transformation_function: Any, version: int | None = None,
                                       *, project: str | None = None) -> Any:
        """Register a ``@udf`` function with its source (the next version when None)."""
        return views.create_transformation_function(self, transformation_function, version, project)

    def get_transformation_function(self, name: str, version: int | None = None, *,
                                    project: str | None = None) -> Any:
        """A built-in (min_max_scaler, standard_scaler, robust_scaler, label_encoder,
        one_hot_encoder, log_transform, equal_width_binner, quantile_binner) or a registered
        function; call it with feature names to bind it."""
        return views.transformation_function(self, name, version, project)

    # -- the registry ------------------------------------------------------------------------------
    def search(self, text: str, limit: int = 50, *, project: str | None = None) -> list[dict[str, Any]]:
        """Feature groups, features, views and training datasets whose names, descriptions,
        keywords or tags hold the words of ``text``, best first (see registry.search)."""
        from .registry.search import search
        return search(self.metadata, project or self.settings.project, text, limit)

    def stale(self, *, project: str | None = None) -> list[Any]:
        """Each declared dependency of each feature group version, with when it last changed and
        whether that is after the group's last commit (``stale.DependencyState``; Spark reads
        the Delta logs and file times)."""
        from .stale import stale
        return stale(self.spark, self.metadata, project or self.settings.project)

    # -- storage connectors (connectors.py) ---------------------------------------------------------
    @cached_property
    def connectors(self) -> Connectors:
        return Connectors(self.metadata, self.settings)

    def create_storage_connector(self, name: str, connector_type: str, *,
                                 project: str | None = None, **settings: Any) -> StorageConnector:
        """Keep a connector (``jdbc``, ``s3``, ``hdfs``, ``file``; settings as
        ``connectors.FIELDS`` lists; secrets by reference: ``password_env`` / ``password_file``,
        ``secret_key_env`` / ``secret_key_file``)."""
        return self.connectors.create(project or self.settings.project, name, connector_type,
                                      **settings)

    def get_storage_connector(self, name: str, *, project: str | None = None) -> StorageConnector:
        return self.connectors.get(project or self.settings.project, name)

    def get_storage_connectors(self, *, project: str | None = None) -> list[StorageConnector]:
        """The project's own connectors, then those created, by name."""
        return self.connectors.list(project or self.settings.project)

    def delete_storage_connector(self, name: str, *, project: str | None = None) -> None:
        self.connectors.delete(project or self.settings.project, name)

    def create_tag_schema(self, name: str, schema: Any, *, project: str | None = None) -> None:
        """Keep the JSON Schema that values of tag ``name`` must obey from now on."""
        from .registry.labels import check_schema
        check_schema(name, schema)
        self.metadata.put_tag_schema(project or self.settings.project, name, schema)

    def get_tag_schemas(self, *, project: str | None = None) -> dict[str, Any]:
        return self.metadata.tag_schemas(project or self.settings.project)


_default: FeatureStore | None = None


def connect(settings: Settings | None = None,
            spark: SparkSession | bool | None = None) -> FeatureStore:
    """Connect to the feature store the settings describe and make it the default one that
    ``Hops`` builders and ``featurestore`` functions use. ``spark=False`` opens only the metadata
    and online stores (a model server: no JVM); Spark starts with the first call that needs it.

    Examples
    --------
    >>> import featurestore_spark as fs
    >>> store = fs.connect()          # doctest: +SKIP
    >>> server = fs.connect(spark=False).feature_vector_server(["rating"])   # doctest: +SKIP
    """
    global _default
    _default = FeatureStore.connect(settings, spark)
    return _default


def default_store() -> FeatureStore:
    """The store of the last ``connect()``, connecting with the settings on first use (Spark
    then starts with the first call that needs it: a model server that only reads feature
    vectors through the functions runs no JVM)."""
    return _default if _default is not None else connect(spark=False)
