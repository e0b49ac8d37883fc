"""Typed settings: defaults, then ``conf/featurestore.toml`` (or ``$FEATURESTORE_CONF``), then env.

Environment variables: ``FEATURESTORE_HOME``, ``FEATURESTORE_PROJECT`` and
``FEATURESTORE_<SECTION>_<KEY>`` for every key of a section, e.g. ``FEATURESTORE_SPARK_MASTER``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigurationError
from .names import name_problem

DEFAULT_CONF = Path("conf") / "featurestore.toml"
# in-memory: the session's catalog, filled from the metadata store on connect();
# hive: Spark's Hive metastore (Derby under home, or the one hive-site.xml / spark conf names).
METASTORES = ("in-memory", "hive")


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"
    app_name: str = "featurestore_spark"
    jars_dir: str = ".cache/jars"
    defaults_file: str = "conf/spark-defaults.conf"
    log4j_file: str = "conf/log4j2.properties"


BACKENDS = ("sqlite", "mysql")


@dataclass(frozen=True)
class MetadataSettings:
    backend: str = "sqlite"
    path: str = "metadata.db"
    database: str = "featurestore"      # mysql: the database that holds the metadata tables
    lock_timeout_seconds: float = 60.0  # how long a write waits for another writer's lock


@dataclass(frozen=True)
class OnlineSettings:
    backend: str = "sqlite"
    path: str = "online"                # sqlite: a folder of <project>.db files, relative to home
    batch_size: int = 20000             # rows per batch an executor writes
    pool_size: int = 4                  # connections kept open for lookups
    plan_check_seconds: float = 1.0     # how often a lookup checks its plan against the metadata


@dataclass(frozen=True)
class MysqlSettings:
    """The MySQL / MariaDB server of the mysql backends (metadata and online)."""
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "featurestore"
    password: str = field(default="", repr=False)   # never printed; prefer FEATURESTORE_MYSQL_PASSWORD
    unix_socket: str = ""               # set: connect through this socket instead of TCP

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for ``mysql.connector.connect`` (include the password: never log)."""
        args: dict[str, Any] = {"user": self.user, "password": self.password}
        if self.unix_socket:
            args["unix_socket"] = self.unix_socket
        else:
            args.update(host=self.host, port=self.port)
        return args

    def describe(self) -> str:
        """Where the server is, for messages: never the password."""
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user}@{where}"


@dataclass(frozen=True)
class OfflineSettings:
    warehouse: str = "warehouse"
    metastore: str = "in-memory"
    write_retries: int = 2


@dataclass(frozen=True)
class TrainingSettings:
    path: str = "training_datasets"    # relative to home, or any Hadoop path (hdfs://, s3a://)


@dataclass(frozen=True)
class StatisticsSettings:
    on_write: bool = True    # statistics of every commit and training dataset, as they are written
                             # (each feature group's own settings may turn them off)


@dataclass(frozen=True)
class RegistrySettings:
    host: str = "127.0.0.1"           # featurestore ui listens here (anything else: a warning)
    port: int = 8080
    token: str = field(default="", repr=False)   # edits need it; empty: a new one per start


@dataclass(frozen=True)
class Settings:
    home: str = ".featurestore"
    project: str = "demo"
    spark: SparkSettings = field(default_factory=SparkSettings)
    metadata: MetadataSettings = field(default_factory=MetadataSettings)
    offline: OfflineSettings = field(default_factory=OfflineSettings)
    online: OnlineSettings = field(default_factory=OnlineSettings)
    mysql: MysqlSettings = field(default_factory=MysqlSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    def under_home(self, path: str) -> Path:
        """``path`` if absolute, else relative to the home folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.home_path / p

    @property
    def metadata_path(self) -> Path:
        return self.under_home(self.metadata.path)

    @property
    def warehouse(self) -> str:
        """The offline warehouse: a Hadoop URI (``s3a://``, ``hdfs://``, ``file://``, ...) as it
        is, else a local folder relative to home."""
        return hadoop_location(self.offline.warehouse, self.home_path)

    @property
    def online_path(self) -> Path:
        return self.under_home(self.online.path)

    @property
    def training_path(self) -> str:
        """The training datasets' folder: a Hadoop URI as it is, else a local folder relative to
        home."""
        return hadoop_location(self.training.path, self.home_path)

    def streams_path(self, project: str, name: str, version: int) -> str:
        """A feature group version's streams folder (``streaming``): its default checkpoints and
        its dead-letter table, removed with the group."""
        return hadoop_location("streams", self.home_path).rstrip("/") + f"/{project}/{name}_{version}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def hadoop_location(path: str, home: Path) -> str:
    """``path`` as Hadoop reads it: a URI with a scheme (``s3a://b/x``, ``hdfs://nn/x``,
    ``file:///x``) unchanged but for a trailing slash; a plain path absolute, relative to ``home``.

    Examples
    --------
    >>> hadoop_location("s3a://bucket/wh/", Path("/h"))
    's3a://bucket/wh'
    >>> hadoop_location("wh", Path("/h"))
    '/h/wh'
    """
    if _SCHEME.match(path):
        stripped = path.rstrip("/")
        return stripped if not stripped.endswith(":") else path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else home / p)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in ("home", "project")}


def _coerce(value: Any, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, (int, float)):
        kind = type(default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"setting {key} must be {'an integer' if kind is int else 'a number'}"
                                     f", got {value!r}") from None
        if not math.isfinite(number) or number < 0:
            raise ConfigurationError(f"setting {key} must be a finite number, 0 or more, got "
                                     f"{value!r}")
        return number
    return str(value)


def _section(cls: type, name: str, values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown setting(s) in [{name}]: {', '.join(unknown)}")
    kwargs = {}
    for key, f in known.items():
        default = f.default
        value = env.get(f"FEATURESTORE_{name.upper()}_{key.upper()}", values.get(key, default))
        kwargs[key] = _coerce(value, default, f"{name}.{key}")
    return cls(**kwargs)


def load_settings(path: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (or ``$FEATURESTORE_CONF``, or ``conf/featurestore.toml`` if
    present), then apply environment overrides.

    Examples
    --------
    >>> load_settings(env={"FEATURESTORE_PROJECT": "football"}).project
    'football'
    """
    env = os.environ if env is None else env
    chosen = path or env.get("FEATURESTORE_CONF")
    data: dict[str, Any] = {}
    if chosen or DEFAULT_CONF.is_file():
        file = Path(chosen or DEFAULT_CONF)
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"settings file {file} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"settings file {file} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(_SECTIONS) - {"home", "project"})
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(unknown)}")
    sections = {name: _section(cls, name, data.get(name, {}), env) for name, cls in
                ((n, globals()[t] if isinstance(t, str) else t) for n, t in _SECTIONS.items())}
    settings = Settings(home=env.get("FEATURESTORE_HOME", data.get("home", Settings.home)),
                        project=env.get("FEATURESTORE_PROJECT", data.get("project", Settings.project)),
                        **sections)
    problem = name_problem("project", settings.project)
    if problem:
        raise ConfigurationError(problem)
    if settings.offline.metastore not in METASTORES:
        raise ConfigurationError(f"metastore {settings.offline.metastore!r} is not one of "
                                 f"{', '.join(METASTORES)}")
    if (problem := name_problem("metadata database", settings.metadata.database)):
        raise ConfigurationError(problem)
    for kind in ("metadata", "online"):
        backend = getattr(settings, kind).backend
        if backend not in BACKENDS:
            raise ConfigurationError(f"{kind} backend {backend!r} is not one of {', '.join(BACKENDS)}")
    return settings
