"""Storage connectors: where data outside the feature store lives and how Spark reaches it, kept
in the metadata store by name per project (documents of kind ``sc``).

- ``jdbc``: a URL, a user, a driver class, options; the password by reference only.
- ``s3``: a bucket, a path in it, an endpoint, a region, an access key id; the secret key by
  reference only. Read and written through Hadoop's ``s3a`` with per-bucket settings passed as
  options of each read or write (nothing set session-wide).
- ``hdfs`` / ``file``: a Hadoop path (``hdfs://nn/data``, ``file:///data``, ``/data``).

Secrets are never stored: a connector names an environment variable (``password_env`` /
``secret_key_env``) or a file (``password_file`` / ``secret_key_file``) that holds one, read
when the connector is used, on the driver. Nothing prints them: ``describe()`` shows the
reference. Every project also has the connectors Hopsworks creates for it, made from the settings
(not stored): ``<project>_featurestore`` (its Delta warehouse), ``<project>_training_datasets``
(the training datasets' folder) and, with a MySQL online store, ``<project>_onlinefeaturestore``.
A training dataset can be written through an s3, hdfs or file connector (``training.sinks``): it
records the connector's name, which then cannot be deleted while such a dataset exists.

Examples
--------
>>> fs.create_storage_connector("warehouse_db", "jdbc", url="jdbc:mariadb://db:3306/sales",
...                             user="reader", password_env="SALES_DB_PASSWORD")  # doctest: +SKIP
>>> fs.get_storage_connector("warehouse_db").read(spark, query="SELECT * FROM orders")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import FeatureStoreError, InvalidInputError
from ..names import name_problem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..config import Settings
    from ..metadata import MetadataStore

KIND = "sc"                      # the metadata documents of connectors
TYPES = ("jdbc", "s3", "hdfs", "file")
FIELDS = {"jdbc": ("url", "user", "driver", "options", "password_env", "password_file"),
          "s3": ("bucket", "path", "endpoint", "region", "access_key", "secret_key_env",
                 "secret_key_file", "options"),
          "hdfs": ("path", "options"), "file": ("path", "options")}
REQUIRED = {"jdbc": ("url",), "s3": ("bucket",), "hdfs": ("path",), "file": ("path",)}
SECRETS = ("password", "secret_key")
# option names that would carry a secret (kept in clear) or override the connector's own settings
SECRET_OPTION = re.compile(r"(?i)password|secret|token|credential|^(url|user|driver)$")
URL_SECRET = re.compile(r"(?i)(password|pwd)=|//[^/@:?]+:[^/@?]*@|/[^/@:?]+/[^/@?]+@")
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
SINK = "storage_connector"       # a training dataset's source names the connector it went to


class StorageConnectorNotFound(FeatureStoreError, LookupError):
    """No connector of that name in the project."""


@dataclass(frozen=True)
class StorageConnector:
    """One connector (see the module's docstring); ``options`` are the Spark data source options
    every read or write through it gets."""
    name: str
    type: str
    description: str = ""
    url: str = ""
    user: str = ""
    driver: str = ""
    bucket: str = ""
    path: str = ""
    endpoint: str = ""
    region: str = ""
    access_key: str = ""
    password_env: str = ""
    password_file: str = ""
    secret_key_env: str = ""
    secret_key_file: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False          # one of the project's own, made from the settings
    # the password of a built-in connector, from the settings (never kept, shown or compared)
    settings_secret: str = field(default="", repr=False, compare=False)

    # -- where and how ------------------------------------------------------------------------------
    def location(self, sub_path: str = "") -> str:
        """A Hadoop path of ``sub_path`` under the connector (s3, hdfs, file)."""
        if self.type == "jdbc":
            raise InvalidInputError(f"storage connector {self.name!r} is JDBC", [
                "a JDBC connector reads queries or tables, not paths"], write=False)
        if "://" in sub_path or ".." in sub_path.split("/"):
            raise InvalidInputError(f"cannot use storage connector {self.name!r}", [
                f"{sub_path!r} is not a path under it (no URI, no ..)"], write=False)
        base = (f"s3a://{self.bucket}/{self.path.strip('/')}".rstrip("/") if self.type == "s3"
                else self.path.rstrip("/"))
        return f"{base}/{sub_path.lstrip('/')}" if sub_path else base

    def spark_options(self) -> dict[str, str]:
        """The options of a Spark read or write through this connector, secrets resolved now
        (never log them)."""
        options = dict(self.options)
        if self.type == "jdbc":
            options.update({"url": self.url, **({"user": self.user} if self.user else {}),
                            **({"driver": self.driver} if self.driver else {})})
            if (password := self._secret("password")) is not None:
                options["password"] = password
        elif self.type == "s3":
            prefix = f"fs.s3a.bucket.{self.bucket}."
            for key, value in (("endpoint", self.endpoint), ("endpoint.region", self.region),
                               ("access.key", self.access_key),
                               ("secret.key", self._secret("secret_key"))):
                if value:
                    options[prefix + key] = value
            if self.access_key:        # its keys, whatever provider the session names
                options[prefix + "aws.credentials.provider"] = \
                    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            if self.endpoint.startswith("http://"):
                options[prefix + "connection.ssl.enabled"] = "false"
            if self.endpoint:
                options.setdefault(prefix + "path.style.access", "true")
        return options

    def hadoop_options(self) -> dict[str, str]:
        """The Hadoop file system settings of :meth:`spark_options` (``fs.*``: s3a's per-bucket
        endpoint and keys, secrets resolved now; never log them): what the files of a training
        dataset written through this connector are reached with. Its other options (a CSV
        header, say) are for its reads of outside data, not for a training dataset's format."""
        if self.type == "jdbc":
            return {}
        return {k: v for k, v in self.spark_options().items() if k.startswith("fs.")}

    def _secret(self, which: str) -> str | None:
        env, path = getattr(self, f"{which}_env"), getattr(self, f"{which}_file")
        if env:
            if env not in os.environ:
                raise InvalidInputError(f"cannot use storage connector {self.name!r}", [
                    f"its {which.replace('_', ' ')} is read from environment variable {env}, "
                    "which is not set"], write=False)
            return os.environ[env]
        if path:
            try:
                return Path(path).expanduser().read_text().strip()
            except OSError as e:
                raise InvalidInputError(f"cannot use storage connector {self.name!r}", [
                    f"its {which.replace('_', ' ')} file {path} cannot be read: "
                    f"{e.strerror}"], write=False) from None
        return self.settings_secret or None if which == "password" else None

    def redact(self, text: str) -> str:
        """``text`` without this connector's secrets (an error of the server, say)."""
        for which in SECRETS:
            try:
                secret = self._secret(which)
            except InvalidInputError:
                secret = None
            if secret:
                text = text.replace(secret, "***")
        return text

    def read(self, spark: SparkSession | None = None, query: str | None = None,
             table: str | None = None, path: str = "", data_format: str = "parquet",
             options: Mapping[str, str] | None = None) -> DataFrame:
        """Rows through this connector (on ``spark``, default the active session): a JDBC
        ``query`` or ``table``, or the files of ``path`` (under the connector) in ``data_format``
        (``delta`` included); ``options`` add to the connector's own (which win: an option
        cannot point the connector's credentials at another place)."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession

        from ..online.sql import jdbc_reason
        spark = spark or SparkSession.active()
        reader = spark.read.options(**{**(options or {}), **self.spark_options()})
        if self.type == "jdbc" and (query is None) == (table is None):
            raise InvalidInputError(f"cannot read through {self.name!r}", [
                "a JDBC read takes a query or a table"], write=False)
        where = (f"{self.url} ({'query' if query is not None else table})" if self.type == "jdbc"
                 else self.location(path))
        try:          # Spark resolves the schema now: a refused login or a missing path fails here
            if self.type == "jdbc":
                return reader.format("jdbc").option(
                    "query" if query is not None else "dbtable", query or table).load()
            return reader.format(data_format).load(self.location(path))
        except (Py4JError, PySparkException) as e:
            raise FeatureStoreError(f"cannot read {where} through storage connector "
                                    f"{self.name!r}: {self.redact(jdbc_reason(e))}") from None

    # -- what is kept and shown ---------------------------------------------------------------------
    def body(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()
                if k not in ("name", "builtin", "settings_secret") and v not in ("", {}, None)}

    def describe(self) -> dict[str, Any]:
        """What the CLI and the registry show: every field, secrets by reference only."""
        return {"name": self.name, **self.body(), "builtin": self.builtin}


def problems_of(name: Any, connector_type: Any, fields: Mapping[str, Any]) -> list[str]:
    """What is wrong with a connector to create (every problem at once)."""
    problems = [p for p in (name_problem("storage connector", name),) if p]
    if connector_type not in TYPES:
        return problems + [f"connector type {connector_type!r} is not one of {', '.join(TYPES)}"]
    allowed = FIELDS[connector_type] + ("description",)
    for secret in SECRETS:
        if secret in fields:
            problems.append(f"{secret} is never stored: give {secret}_env= (an environment "
                            f"variable holding it) or {secret}_file= (a file holding it)")
    problems += [f"{k!r} is not a setting of a {connector_type} connector (its settings: "
                 f"{', '.join(allowed)})" for k in fields if k not in allowed and k not in SECRETS]
    problems += [f"a {connector_type} connector needs {k}" for k in REQUIRED[connector_type]
                 if not fields.get(k)]
    problems += [f"{k} must be a string, got {v!r}" for k, v in fields.items()
                 if k in allowed and k != "options" and not isinstance(v, str)]
    options = fields.get("options", {})
    if not isinstance(options, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        problems.append(f"options must be a dict of strings, got a {type(options).__name__} "
                        "holding others")
    elif (secret_keys := sorted(k for k in options if SECRET_OPTION.search(k))):
        problems.append(f"options {', '.join(map(repr, secret_keys))} would keep a secret in clear "
                        "or replace the connector's own settings: use the connector's settings "
                        "(secrets by *_env or *_file)")
    for secret in SECRETS:
        if fields.get(f"{secret}_env") and fields.get(f"{secret}_file"):
            problems.append(f"give {secret}_env or {secret}_file, not both")
    url = fields.get("url", "")
    if isinstance(url, str) and URL_SECRET.search(url):
        problems.append("the URL holds a password: give password_env= or password_file= instead")
    elif connector_type == "jdbc" and isinstance(url, str) and url and not url.startswith("jdbc:"):
        problems.append(f"a JDBC URL starts with jdbc:, got {url!r}")
    for secret in SECRETS:
        path = fields.get(f"{secret}_file")
        if isinstance(path, str) and path and not Path(path).expanduser().is_absolute():
            problems.append(f"{secret}_file must be an absolute path, got {path!r}")
    if connector_type == "s3":
        bucket = fields.get("bucket")
        if isinstance(bucket, str) and bucket and not BUCKET.fullmatch(bucket):
            problems.append(f"bucket {bucket!r} is not a bucket name (3-63 lowercase letters, "
                            "digits, dots or dashes: no s3:// and no path)")
        if bool(fields.get("access_key")) != bool(fields.get("secret_key_env")
                                                  or fields.get("secret_key_file")):
            problems.append("an s3 connector with keys needs both access_key and a secret key "
                            "(secret_key_env or secret_key_file); without both it uses the "
                            "session's credentials")
    return problems


def _s3_access(c: StorageConnector) -> tuple[str, ...]:
    return (c.endpoint, c.region, c.access_key, c.secret_key_env, c.secret_key_file)


def builtin(settings: Settings, project: str) -> list[StorageConnector]:
    """The project's own connectors, as Hopsworks creates them (from the settings)."""
    from ..names import database_name

    def kind(path: str) -> str:                # hdfs: any Hadoop path that is not a local one
        return "file" if path.startswith(("/", "file:")) else "hdfs"
    warehouse = f"{settings.warehouse.rstrip('/')}/{database_name(project)}.db"
    training = f"{settings.training_path.rstrip('/')}/{project}"
    own = [StorageConnector(f"{project}_featurestore", kind(warehouse),
                            "the feature store's Delta warehouse", path=warehouse, builtin=True),
           StorageConnector(f"{project}_training_datasets", kind(training),
                            "the training datasets' folder", path=training, builtin=True)]
    if settings.online.backend == "mysql":
        from ..online.mysql import database
        m = settings.mysql
        own.append(StorageConnector(
            f"{project}_onlinefeaturestore", "jdbc", "the online feature store (MySQL)",
            url=f"jdbc:mysql://{m.host}:{m.port}/{database(project)}?permitMysqlScheme",
            user=m.user, driver="org.mariadb.jdbc.Driver", builtin=True,
            settings_secret=m.password))
    return own


class Connectors:
    """The connectors of a store's projects (``FeatureStore.create_storage_connector`` ...)."""

    def __init__(self, metadata: MetadataStore, settings: Settings) -> None:
        self.metadata, self.settings = metadata, settings

    def create(self, project: str, name: str, connector_type: str,
               **fields: Any) -> StorageConnector:
        from ..metadata import Document
        what = f"cannot create storage connector {name!r}"
        if (problems := problems_of(name, connector_type, fields)):
            raise InvalidInputError(what, problems)
        existing = self.list(project)
        if any(c.name == name and c.builtin for c in existing):
            raise InvalidInputError(what, [f"{name} is one of the project's own connectors"])
        connector = StorageConnector(name, connector_type, **fields)
        if (clash := next((c for c in existing if c.type == "s3" == connector_type
                           and c.bucket == connector.bucket and _s3_access(c) !=
                           _s3_access(connector)), None)) is not None:
            # Hadoop keeps one file system per bucket and process, made with the settings of
            # its first use: a second set of settings for that bucket would be ignored
            raise InvalidInputError(what, [
                f"connector {clash.name!r} reaches bucket {connector.bucket!r} with another "
                "endpoint, region or keys: one process reaches a bucket one way (use that "
                "connector, or delete it first)"])
        if not self.metadata.add_document(Document(project, KIND, name, 1, 0, connector.body(),
                                                   datetime.now(timezone.utc))):
            raise InvalidInputError(what, [f"a storage connector {name!r} exists already in "
                                           f"project {project}: delete it first"])
        return connector

    def get(self, project: str, name: str) -> StorageConnector:
        """The connector ``name`` (any case: Hopsworks spells ``<project>_Training_Datasets``)."""
        name = name.lower() if isinstance(name, str) else name
        for c in self.list(project):
            if c.name == name:
                return c
        raise StorageConnectorNotFound(f"no storage connector {name!r} in project {project}")

    def list(self, project: str) -> list[StorageConnector]:
        stored = [StorageConnector(d.name, **d.body)
                  for d in self.metadata.list_documents(project, KIND)]
        return builtin(self.settings, project) + sorted(stored, key=lambda c: c.name)

    def delete(self, project: str, name: str) -> None:
        connector = self.get(project, name)
        if connector.builtin:
            raise InvalidInputError(f"cannot delete storage connector {name!r}", [
                "it is one of the project's own connectors"])
        # training datasets written through it record its name (training.sinks): reaching
        # their files needs it
        written = [f"training dataset {d.name} v{d.version}" for d in
                   self.metadata.list_training_datasets(project)
                   if d.source.get(SINK) == connector.name]
        read = [f"external feature group {g.name} v{g.version}" for g in
                self.metadata.list_feature_groups(project)
                if (g.source or {}).get("connector") == connector.name]
        if written or read:
            raise InvalidInputError(f"cannot delete storage connector {name!r}", [
                f"{', '.join(written + read)} reach their data through it: delete them first"])
        self.metadata.delete_documents(project, KIND, name, 1)
