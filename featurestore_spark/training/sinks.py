"""Where a training dataset's files go: the feature store's training folder (default), a folder
of the user's (``path``), or a storage connector (s3, hdfs, file: its *sink*), with ``path`` as
the dataset's folder under it (default ``<name>_<version>``).

A dataset written through a connector records the connector's name in its source
(``{"storage_connector": "<name>", ...}``, no secret); its location is the connector's Hadoop
path of its folder (``s3a://bucket/prefix/matches_1``). Reading it back, making it again (to the
same connector by default) and deleting it look the connector up by that name, in any process,
and reach the files with the connector's Hadoop settings (``hadoop_options()``: s3a's per-bucket
endpoint and keys, the secret read when used): options of each Spark read and write, and of the
Hadoop FileSystem calls of :mod:`..paths`; never session-wide, never kept, never logged.

Examples
--------
>>> fs.create_storage_connector("lake", "s3", bucket="ml-lake", path="training", ...)  # doctest: +SKIP
>>> featurestore.create_training_dataset(df, "matches", data_format="parquet", sink="lake")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..connectors import SINK, StorageConnector, StorageConnectorNotFound
from ..errors import FeatureStoreError, InvalidInputError

if TYPE_CHECKING:
    from ..connectors import Connectors
    from ..metadata import TrainingDataset


def resolve(connectors: Connectors, project: str,
            given: Any) -> tuple[StorageConnector | None, list[str]]:
    """The kept connector ``given`` names (a StorageConnector or its name), and what is wrong
    with it as a training dataset's sink."""
    if given is None:
        return None, []
    name = given.name if isinstance(given, StorageConnector) else given
    if not isinstance(name, str):          # TrainingDatasetSpec.problems says so
        return None, []
    try:
        connector = connectors.get(project, name)
    except StorageConnectorNotFound:
        known = ", ".join(c.name for c in connectors.list(project) if c.type != "jdbc")
        return None, [f"no storage connector {name!r} in project {project} (create it first: "
                      f"create_storage_connector; the project's file connectors: {known})"]
    if isinstance(given, StorageConnector) and given != connector:
        return None, [f"storage connector {name!r} is not the one kept under that name in project "
                      f"{project}: use fs.get_storage_connector({name!r})"]
    if connector.type == "jdbc":
        return None, [f"storage connector {name!r} is JDBC: a training dataset is files, written "
                      "to an s3, hdfs or file connector"]
    return connector, []


def location(connector: StorageConnector, path: str | None, name: str,
             version: int) -> tuple[str, list[str]]:
    """The folder of a dataset under ``connector``: ``path`` under it, or ``<name>_<version>``."""
    sub_path = path.strip() if isinstance(path, str) and path.strip() else f"{name}_{version}"
    try:
        return connector.location(sub_path), []
    except InvalidInputError as e:
        return "", [f"path {sub_path!r} of storage connector {connector.name!r}: {p}"
                    for p in e.problems]


def options(connector: StorageConnector | None) -> tuple[dict[str, str], list[str]]:
    """The Hadoop settings of the files under ``connector`` (secrets read now), and why they
    cannot be had (a secret's variable not set, its file unreadable)."""
    if connector is None:
        return {}, []
    try:
        return connector.hadoop_options(), []
    except InvalidInputError as e:
        return {}, list(e.problems)


def recorded_name(td: TrainingDataset) -> str | None:
    """The name of the connector ``td`` was written through (None: not through one)."""
    return td.source.get(SINK) or None


def recorded(connectors: Connectors, td: TrainingDataset) -> StorageConnector | None:
    """The connector ``td`` was written through (None: the feature store's own folder)."""
    name = recorded_name(td)
    if name is None:
        return None
    try:
        return connectors.get(td.project, name)
    except StorageConnectorNotFound:
        raise FeatureStoreError(
            f"training dataset {td.name} v{td.version} was written through storage connector "
            f"{name!r}, which project {td.project} no longer has: create it again (the same "
            f"place and settings) to reach {td.location}") from None


def recorded_options(connectors: Connectors, td: TrainingDataset) -> dict[str, str]:
    """The Hadoop settings of ``td``'s files (none for the feature store's own folder)."""
    connector = recorded(connectors, td)
    found, problems = options(connector)
    if problems:
        raise InvalidInputError(f"cannot reach training dataset {td.name!r} v{td.version}",
                                problems, write=False)
    return found


def unreachable(connector: StorageConnector | None, where: str, error: Exception) -> str:
    """A problem saying that ``where`` cannot be reached, the file system's reason redacted."""
    from ..online.sql import jdbc_reason        # the innermost Java cause, as it was said
    reason = jdbc_reason(error)
    if connector is None:
        return f"{where} cannot be reached: {reason}"
    return (f"{where} cannot be reached through storage connector {connector.name!r}: "
            f"{connector.redact(reason)} (check its endpoint, region and keys)")


def record(connector: StorageConnector | None) -> dict[str, Any]:
    """What a dataset's source records of its sink."""
    return {SINK: connector.name} if connector is not None else {}
