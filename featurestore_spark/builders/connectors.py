"""``Hops.createStorageConnector(name)`` and ``Hops.getStorageConnector(name)``, in the camelCase
of io.hops.util.Hops.

Examples
--------
>>> (Hops.createStorageConnector("sales_db").setType("jdbc")
...      .setUrl("jdbc:mysql://db:3306/sales?permitMysqlScheme").setUser("reader")
...      .setPasswordEnv("SALES_DB_PASSWORD").write())                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..connectors import StorageConnector
from .featuregroup import Builder, project_of


@dataclass(frozen=True)
class CreateStorageConnector(Builder):
    name: str = ""
    connector_type: str = ""
    project: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def _set(self, **values: Any) -> CreateStorageConnector:
        return replace(self, fields={**self.fields, **values})

    def setFeaturestore(self, featurestore: str) -> CreateStorageConnector:
        return replace(self, project=project_of(featurestore))

    def setType(self, connector_type: str) -> CreateStorageConnector:
        """``jdbc``, ``s3``, ``hdfs`` or ``file``."""
        return replace(self, connector_type=connector_type)

    def setDescription(self, description: str) -> CreateStorageConnector:
        return self._set(description=description)

    def setUrl(self, url: str) -> CreateStorageConnector:
        return self._set(url=url)

    def setUser(self, user: str) -> CreateStorageConnector:
        return self._set(user=user)

    def setDriver(self, driver: str) -> CreateStorageConnector:
        return self._set(driver=driver)

    def setPasswordEnv(self, variable: str) -> CreateStorageConnector:
        """The environment variable that holds the password (read when it is used)."""
        return self._set(password_env=variable)

    def setPasswordFile(self, path: str) -> CreateStorageConnector:
        """A file that holds the password (read when it is used)."""
        return self._set(password_file=path)

    def setBucket(self, bucket: str) -> CreateStorageConnector:
        return self._set(bucket=bucket)

    def setPath(self, path: str) -> CreateStorageConnector:
        return self._set(path=path)

    def setEndpoint(self, endpoint: str) -> CreateStorageConnector:
        return self._set(endpoint=endpoint)

    def setRegion(self, region: str) -> CreateStorageConnector:
        return self._set(region=region)

    def setAccessKey(self, access_key: str) -> CreateStorageConnector:
        return self._set(access_key=access_key)

    def setSecretKeyEnv(self, variable: str) -> CreateStorageConnector:
        return self._set(secret_key_env=variable)

    def setSecretKeyFile(self, path: str) -> CreateStorageConnector:
        return self._set(secret_key_file=path)

    def setOptions(self, options: Mapping[str, str]) -> CreateStorageConnector:
        """Spark data source options of every read and write through it."""
        return self._set(options=dict(options))

    def write(self) -> StorageConnector:
        return self._fs().create_storage_connector(self.name, self.connector_type,
                                                   project=self.project, **self.fields)


@dataclass(frozen=True)
class GetStorageConnector(Builder):
    name: str = ""
    project: str | None = None

    def setFeaturestore(self, featurestore: str) -> GetStorageConnector:
        return replace(self, project=project_of(featurestore))

    def read(self) -> StorageConnector:
        return self._fs().get_storage_connector(self.name, project=self.project)
