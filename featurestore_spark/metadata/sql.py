"""The metadata store over a DB-API connection; SQLite and MySQL differ only in their Dialect."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..errors import (FeatureGroupExists, FeatureGroupNotFound, InvalidInputError, TrainingDatasetExists,
                      TrainingDatasetNotFound)
from .base import Commit, Document, Feature, FeatureGroup, MetadataStore, TrainingDataset
from .migrations import MIGRATIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dialect:
    placeholder: str                  # "?" or "%s"
    types: dict[str, str]             # the {id}, {key}, {text} tokens of migrations
    begin: str                        # the statement that opens a write transaction
    integrity_error: type[Exception]  # raised on a UNIQUE / PRIMARY KEY violation


def to_text(t: datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts as text in time order."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_text(s: str) -> datetime:
    return datetime.fromisoformat(s)


class SqlMetadataStore(MetadataStore):
    def __init__(self, connect: Callable[[], Any], dialect: Dialect) -> None:
        self._connect = connect
        self._dialect = dialect
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(self._dialect.begin)
            try:
                yield cur
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            self._release(conn)

    def _release(self, conn: Any) -> None:
        """Done with a connection of ``self._connect()``: close it (a backend may keep it)."""
        conn.close()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self._dialect.placeholder)

    def _query(self, statement: str, params: tuple = ()) -> list[tuple]:
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(self._sql(statement), params)
            return list(cur.fetchall())
        finally:
            self._release(conn)

    def _migrate(self) -> None:
        with self._transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at VARCHAR(64) NOT NULL)")
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            current = cur.fetchone()[0]
            for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                log.info("applying metadata migration %d", number)
                for statement in statements:
                    cur.execute(statement.format(**self._dialect.types))
                cur.execute(self._sql("INSERT INTO schema_migrations VALUES (?, ?)"),
                            (number, to_text(datetime.now(timezone.utc))))

    def schema_version(self) -> int:
        return self._query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0]

    # -- the generation number (migration 5) ------------------------------------------------------
    _GENERATION = "SELECT generation FROM metadata_generation WHERE id = 1"

    def generation(self) -> int:
        return self._query(self._GENERATION)[0][0]

    def _bump(self, cur: Any) -> None:
        """Change the generation in ``cur``'s transaction (last in it: the row lock it takes
        on MySQL is held for the shortest time, and always after the others)."""
        cur.execute("UPDATE metadata_generation SET generation = generation + 1 WHERE id = 1")

    # -- feature groups ---------------------------------------------------------------------------
    _FG_COLUMNS = ("id, project, name, version, description, primary_key, partition_by, event_time, "
                   "location, created_at, creator, online, online_commit")

    def _insert_commit(self, cur: Any, fg_id: int, c: Commit) -> None:
        """Insert ``c``; a commit registered already with the same Delta timestamp (by a reconcile
        that ran while its writer was between the Delta commit and this) is left as it is."""
        cur.execute(self._sql("SELECT committed_at FROM commits WHERE feature_group_id = ? AND "
                              "commit_id = ?"), (fg_id, c.commit_id))
        row = cur.fetchone()
        if row is not None and row[0] == to_text(c.committed_at):
            return
        cur.execute(self._sql("INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                    (fg_id, c.commit_id, to_text(c.committed_at), c.operation, c.rows_inserted,
                     c.rows_updated, c.rows_deleted, c.creator))

    def _features_differ(self, cur: Any, fg_id: int, features: tuple[Feature, ...]) -> bool:
        cur.execute(self._sql("SELECT name, type, description FROM features "
                              "WHERE feature_group_id = ? ORDER BY position"), (fg_id,))
        return [tuple(r) for r in cur.fetchall()] != [(f.name, f.type, f.description)
                                                      for f in features]

    def _replace_features(self, cur: Any, fg_id: int, features: tuple[Feature, ...]) -> None:
        cur.execute(self._sql("DELETE FROM features WHERE feature_group_id = ?"), (fg_id,))
        for position, f in enumerate(features):
            cur.execute(self._sql("INSERT INTO features VALUES (?, ?, ?, ?, ?)"),
                        (fg_id, position, f.name, f.type, f.description))

    def _id(self, cur: Any, project: str, name: str, version: int) -> int:
        cur.execute(self._sql("SELECT id FROM feature_groups WHERE project = ? AND name = ? "
                              "AND version = ?"), (project, name, version))
        row = cur.fetchone()
        if row is None:
            raise FeatureGroupNotFound(f"feature group {name} version {version} is not registered "
                                       f"in feature store {project}")
        return row[0]

    def create_feature_group(self, group: FeatureGroup, first_commit: Commit,
                             documents: Sequence[Document] = ()) -> None:
        try:
            with self._transaction() as cur:
                cur.execute(self._sql(
                    "INSERT INTO feature_groups (project, name, version, description, primary_key, "
                    "partition_by, event_time, location, created_at, creator, online, online_commit) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (group.project, group.name, group.version, group.description,
                     json.dumps(group.primary_key), json.dumps(group.partition_by),
                     group.event_time, group.location, to_text(group.created_at), group.creator,
                     int(group.online), group.online_commit))
                fg_id = self._id(cur, group.project, group.name, group.version)
                self._replace_features(cur, fg_id, group.features)
                self._insert_commit(cur, fg_id, first_commit)
                for d in documents:
                    self._put_document(cur, d)
                self._bump(cur)
        except self._dialect.integrity_error:
            raise FeatureGroupExists(f"feature group {group.name} version {group.version} exists "
                                     f"already in feature store {group.project}") from None

    def _load(self, rows: list[tuple]) -> list[FeatureGroup]:
        groups = []
        for (fg_id, project, name, version, description, pk, parts, event_time, location,
             created_at, creator, online, online_commit) in rows:
            pk_cols, part_cols = tuple(json.loads(pk)), tuple(json.loads(parts))
            feats = self._query("SELECT name, type, description FROM features "
                                "WHERE feature_group_id = ? ORDER BY position", (fg_id,))
            groups.append(FeatureGroup(
                project=project, name=name, version=version, description=description,
                features=tuple(Feature(n, t, d, n in pk_cols, n in part_cols) for n, t, d in feats),
                primary_key=pk_cols, partition_by=part_cols, event_time=event_time,
                location=location, created_at=from_text(created_at), creator=creator,
                online=bool(online), online_commit=online_commit))
        return groups

    def get_feature_group(self, project: str, name: str, version: int | None = None) -> FeatureGroup:
        if version is None:
            rows = self._query(f"SELECT {self._FG_COLUMNS} FROM feature_groups WHERE project = ? "
                               "AND name = ? ORDER BY version DESC LIMIT 1", (project, name))
        else:
            rows = self._query(f"SELECT {self._FG_COLUMNS} FROM feature_groups WHERE project = ? "
                               "AND name = ? AND version = ?", (project, name, version))
        if not rows:
            which = "" if version is None else f" version {version}"
            raise FeatureGroupNotFound(f"feature group {name}{which} does not exist in feature "
                                       f"store {project}")
        return self._load(rows)[0]

    def list_feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        where, params = ("WHERE project = ? ", (project,)) if project else ("", ())
        return self._load(self._query(f"SELECT {self._FG_COLUMNS} FROM feature_groups {where}"
                                      "ORDER BY project, name, version", params))

    def add_commit(self, group: FeatureGroup, commit: Commit,
                   documents: Sequence[Document] = ()) -> None:
        with self._transaction() as cur:
            fg_id = self._id(cur, group.project, group.name, group.version)
            evolved = self._features_differ(cur, fg_id, group.features)
            if evolved:
                self._replace_features(cur, fg_id, group.features)
            self._insert_commit(cur, fg_id, commit)
            for d in documents:
                self._put_document(cur, d)
            if evolved:
                self._bump(cur)

    def update_descriptions(self, project: str, name: str, version: int,
                            description: str | None = None,
                            features: Mapping[str, str] | None = None) -> None:
        with self._transaction() as cur:
            fg_id = self._id(cur, project, name, version)
            cur.execute(self._sql("SELECT name FROM features WHERE feature_group_id = ?"), (fg_id,))
            known = {r[0] for r in cur.fetchall()}
            unknown = sorted(set(features or {}) - known)
            if unknown:
                raise InvalidInputError(f"cannot describe the features of {name} v{version}", [
                    f"it has no feature {f!r} (its features: {', '.join(sorted(known))})"
                    for f in unknown], write=False)
            if description is not None:
                cur.execute(self._sql("UPDATE feature_groups SET description = ? WHERE id = ?"),
                            (description, fg_id))
            for feature, text in (features or {}).items():
                cur.execute(self._sql("UPDATE features SET description = ? WHERE "
                                      "feature_group_id = ? AND name = ?"), (text, fg_id, feature))
            self._bump(cur)

    def set_online(self, group: FeatureGroup, online: bool, online_commit: int | None) -> None:
        with self._transaction() as cur:
            fg_id = self._id(cur, group.project, group.name, group.version)
            cur.execute(self._sql("SELECT online FROM feature_groups WHERE id = ?"), (fg_id,))
            was_online = bool(cur.fetchone()[0])
            cur.execute(self._sql("UPDATE feature_groups SET online = ?, online_commit = ? "
                                  "WHERE id = ?"), (int(online), online_commit, fg_id))
            if was_online != online:
                self._bump(cur)

    def commits(self, project: str, name: str, version: int) -> list[Commit]:
        rows = self._query(
            "SELECT c.commit_id, c.committed_at, c.operation, c.rows_inserted, c.rows_updated, "
            "c.rows_deleted, c.creator FROM commits c JOIN feature_groups g "
            "ON g.id = c.feature_group_id WHERE g.project = ? AND g.name = ? AND g.version = ? "
            "ORDER BY c.commit_id", (project, name, version))
        return [Commit(r[0], from_text(r[1]), *r[2:]) for r in rows]

    def delete_feature_group(self, project: str, name: str, version: int) -> None:
        with self._transaction() as cur:
            fg_id = self._id(cur, project, name, version)
            for table in ("commits", "features"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE feature_group_id = ?"), (fg_id,))
            cur.execute(self._sql("DELETE FROM feature_groups WHERE id = ?"), (fg_id,))
            self._delete_documents(cur, "fg.", project, name, version)
            self._bump(cur)

    # -- training datasets ------------------------------------------------------------------------
    _TD_COLUMNS = ("project, name, version, description, data_format, location, features, splits, "
                   "source, created_at, creator")

    def create_training_dataset(self, dataset: TrainingDataset) -> None:
        d = dataset
        try:
            with self._transaction() as cur:
                cur.execute(self._sql(f"INSERT INTO training_datasets ({self._TD_COLUMNS}) "
                                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            (d.project, d.name, d.version, d.description, d.data_format,
                             d.location, json.dumps([[f.name, f.type] for f in d.features]),
                             json.dumps(d.splits), json.dumps(d.source), to_text(d.created_at),
                             d.creator))
        except self._dialect.integrity_error:
            raise TrainingDatasetExists(f"training dataset {d.name} version {d.version} exists "
                                        f"already in feature store {d.project}") from None

    @staticmethod
    def _training_dataset(row: tuple) -> TrainingDataset:
        (project, name, version, description, data_format, location, features, splits, source,
         created_at, creator) = row
        return TrainingDataset(
            project=project, name=name, version=version, description=description,
            data_format=data_format, location=location,
            features=tuple(Feature(n, t) for n, t in json.loads(features)),
            splits=json.loads(splits), source=json.loads(source),
            created_at=from_text(created_at), creator=creator)

    def get_training_dataset(self, project: str, name: str,
                             version: int | None = None) -> TrainingDataset:
        select = f"SELECT {self._TD_COLUMNS} FROM training_datasets WHERE project = ? AND name = ? "
        if version is None:
            rows = self._query(select + "ORDER BY version DESC LIMIT 1", (project, name))
        else:
            rows = self._query(select + "AND version = ?", (project, name, version))
        if not rows:
            which = "" if version is None else f" version {version}"
            raise TrainingDatasetNotFound(f"training dataset {name}{which} does not exist in "
                                          f"feature store {project}")
        return self._training_dataset(rows[0])

    def list_training_datasets(self, project: str | None = None) -> list[TrainingDataset]:
        where, params = ("WHERE project = ? ", (project,)) if project else ("", ())
        rows = self._query(f"SELECT {self._TD_COLUMNS} FROM training_datasets {where}"
                           "ORDER BY project, name, version", params)
        return [self._training_dataset(r) for r in rows]

    def delete_training_dataset(self, project: str, name: str, version: int) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM training_datasets WHERE project = ? AND name = ? "
                                  "AND version = ?"), (project, name, version))
            if cur.rowcount == 0:
                raise TrainingDatasetNotFound(f"training dataset {name} version {version} is not "
                                              f"registered in feature store {project}")
            self._delete_documents(cur, "td.", project, name, version)

    # -- documents ----------------------------------------------------------------------------------
    def _put_document(self, cur: Any, d: Document) -> None:
        key = (d.project, d.kind, d.name, d.version, d.number)
        cur.execute(self._sql("DELETE FROM documents WHERE project = ? AND kind = ? AND name = ? "
                              "AND version = ? AND number = ?"), key)
        cur.execute(self._sql("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)"),
                    (*key, to_text(d.created_at), json.dumps(d.body, allow_nan=False)))

    def _delete_documents(self, cur: Any, prefix: str, project: str, name: str, version: int) -> None:
        cur.execute(self._sql("DELETE FROM documents WHERE project = ? AND kind LIKE ? AND name = ? "
                              "AND version = ?"), (project, prefix + "%", name, version))

    def put_document(self, document: Document) -> None:
        with self._transaction() as cur:
            self._put_document(cur, document)

    def documents(self, project: str, kind: str, name: str, version: int,
                  number: int | None = None) -> list[Document]:
        params: tuple[str | int, ...]
        where, params = "project = ? AND kind = ? AND name = ? AND version = ?", (
            project, kind, name, version)
        if number is not None:
            where, params = where + " AND number = ?", params + (number,)
        rows = self._query(f"SELECT number, created_at, body FROM documents WHERE {where} "
                           "ORDER BY number", params)
        return [Document(project, kind, name, version, n, json.loads(body), from_text(at))
                for n, at, body in rows]
