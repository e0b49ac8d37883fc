"""The metadata store on SQLAlchemy Core: one implementation, one schema (``schema``) and one set
of migrations (``revisions``, Alembic) for SQLite and MySQL/MariaDB, which differ only in how
their engine is made (``sqlite``, ``mysql``)."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import (FeatureGroupExists, FeatureGroupNotFound, InvalidInputError,
                      MetadataStoreError, TrainingDatasetExists, TrainingDatasetNotFound)
from . import search_index, upgrade
from .base import Commit, Document, Feature, FeatureGroup, MetadataStore, TrainingDataset
from .labels import LabelsSql, delete_labels
from .schema import commits as C
from .schema import documents as D
from .schema import feature_groups as FG
from .schema import features as F
from .schema import metadata_generation as G
from .schema import training_datasets as TD

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
WRITE = "featurestore_write"      # execution option of write transactions (SQLite: BEGIN IMMEDIATE)
GENERATION = "SELECT generation FROM metadata_generation WHERE id = 1"   # the same on both


def to_text(t: datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts as text in time order."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_text(s: str) -> datetime:
    return datetime.fromisoformat(s)


class SqlMetadataStore(LabelsSql, MetadataStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader: Any = None                  # a DB-API connection kept for generation()
        self._reader_lock = threading.Lock()
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction (committed at the end, rolled back on an error); the database's
        own failures (a lock waited for too long, a lost connection) are MetadataStoreErrors."""
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{WRITE: True})
                with conn.begin():
                    yield conn
        except OperationalError as e:
            raise MetadataStoreError(f"could not write the metadata store {self.describe()}: "
                                     f"{self.failure(e.orig)}") from None

    def describe(self) -> str:
        """Where the metadata is, for messages (never a password)."""
        return str(self._engine.url)

    def failure(self, error: Any) -> str:
        """What went wrong, for a message (the MySQL store leaves the password out)."""
        return str(error)

    def _rows(self, statement: Any) -> list[Any]:
        with self._engine.connect() as conn:      # given back rolled back: no snapshot kept
            return list(conn.execute(statement).all())

    def _migrate(self) -> None:
        with self._transaction() as conn:
            upgrade.upgrade(conn)
            search_index.ensure(conn)

    def schema_version(self) -> str | None:
        """The Alembic revision the store is at."""
        with self._engine.connect() as conn:
            return upgrade.current(conn)

    def _reader_connection(self) -> Any:
        """A DB-API connection for generation() in autocommit, kept (opening one costs many
        times the query), out of the engine's pool."""
        raw = self._engine.raw_connection()
        driver = raw.driver_connection
        raw.detach()                   # ours now: the pool neither reuses nor resets it
        self._autocommit(driver)
        return driver

    def _autocommit(self, driver_connection: Any) -> None:
        """Put a driver connection in autocommit (each dialect says how)."""

    # -- the generation number ------------------------------------------------------------------
    def generation(self) -> int:
        with self._reader_lock:
            if self._reader is None:
                self._reader = self._reader_connection()
            cur = self._reader.cursor()
            cur.execute(GENERATION)
            return cur.fetchall()[0][0]        # fetchall: the statement runs to its end

    @staticmethod
    def _bump(conn: Connection) -> None:
        """Change the generation in ``conn``'s transaction (last in it: the row lock it takes
        on MySQL is held for the shortest time, and always after the others)."""
        conn.execute(update(G).where(G.c.id == 1).values(generation=G.c.generation + 1))

    def close(self) -> None:
        """Close the kept and idle connections (the store stays usable: it opens new ones)."""
        with self._reader_lock:
            if self._reader is not None:
                try:
                    self._reader.close()
                except Exception:     # noqa: BLE001 - broken already
                    pass
                self._reader = None
        self._engine.dispose()

    # -- feature groups ---------------------------------------------------------------------------
    @staticmethod
    def _insert_commit(conn: Connection, fg_id: int, c: Commit) -> None:
        """Insert ``c``; a commit registered already with the same Delta timestamp (by a reconcile
        that ran while its writer was between the Delta commit and this) is left as it is."""
        stored = conn.execute(select(C.c.committed_at).where(
            C.c.feature_group_id == fg_id, C.c.commit_id == c.commit_id)).scalar()
        if stored is not None and stored == to_text(c.committed_at):
            return
        conn.execute(C.insert().values(
            feature_group_id=fg_id, commit_id=c.commit_id, committed_at=to_text(c.committed_at),
            operation=c.operation, rows_inserted=c.rows_inserted, rows_updated=c.rows_updated,
            rows_deleted=c.rows_deleted, creator=c.creator, job=c.job[:255]))

    @staticmethod
    def _features_differ(conn: Connection, fg_id: int, features: tuple[Feature, ...]) -> bool:
        stored = conn.execute(select(F.c.name, F.c.type, F.c.description)
                              .where(F.c.feature_group_id == fg_id).order_by(F.c.position)).all()
        return [tuple(r) for r in stored] != [(f.name, f.type, f.description) for f in features]

    @staticmethod
    def _replace_features(conn: Connection, fg_id: int, features: tuple[Feature, ...]) -> None:
        conn.execute(delete(F).where(F.c.feature_group_id == fg_id))
        if features:
            conn.execute(F.insert(), [{"feature_group_id": fg_id, "position": position,
                                       "name": f.name, "type": f.type,
                                       "description": f.description}
                                      for position, f in enumerate(features)])

    @staticmethod
    def _id(conn: Connection, project: str, name: str, version: int) -> int:
        """The version's id, its row locked until the transaction ends: writers of one feature
        group take turns (MySQL), and what they read after it is current (the search index)."""
        fg_id = conn.execute(select(FG.c.id).where(FG.c.project == project, FG.c.name == name,
                                                   FG.c.version == version)
                             .with_for_update()).scalar()
        if fg_id is None:
            raise FeatureGroupNotFound(f"feature group {name} version {version} is not registered "
                                       f"in feature store {project}")
        return fg_id

    def create_feature_group(self, group: FeatureGroup, first_commit: Commit | None,
                             documents: Sequence[Document] = ()) -> None:
        try:
            with self._transaction() as conn:
                key = conn.execute(FG.insert().values(
                    project=group.project, name=group.name, version=group.version,
                    description=group.description, primary_key=json.dumps(group.primary_key),
                    partition_by=json.dumps(group.partition_by), event_time=group.event_time,
                    location=group.location, created_at=to_text(group.created_at),
                    creator=group.creator, online=int(group.online),
                    online_commit=group.online_commit,
                    dependencies=json.dumps(group.dependencies) if group.dependencies else None,
                    source=None if group.source is None else json.dumps(group.source)
                    )).inserted_primary_key
                assert key is not None
                fg_id = key[0]
                self._replace_features(conn, fg_id, group.features)
                if first_commit is not None:
                    self._insert_commit(conn, fg_id, first_commit)
                for d in documents:
                    self._put_document(conn, d)
                search_index.reindex(conn, group.project, "fg", group.name, group.version)
                self._bump(conn)
        except IntegrityError:
            raise FeatureGroupExists(f"feature group {group.name} version {group.version} exists "
                                     f"already in feature store {group.project}") from None

    def _load(self, rows: list[Any]) -> list[FeatureGroup]:
        """Feature groups from rows of FG, their features in one query."""
        by_group: dict[int, list[Any]] = defaultdict(list)
        if rows:
            for r in self._rows(select(F.c.feature_group_id, F.c.name, F.c.type, F.c.description)
                                .where(F.c.feature_group_id.in_([r.id for r in rows]))
                                .order_by(F.c.feature_group_id, F.c.position)):
                by_group[r.feature_group_id].append(r)
        groups = []
        for r in rows:
            pk_cols, part_cols = tuple(json.loads(r.primary_key)), tuple(json.loads(r.partition_by))
            groups.append(FeatureGroup(
                project=r.project, name=r.name, version=r.version, description=r.description,
                features=tuple(Feature(f.name, f.type, f.description, f.name in pk_cols,
                                       f.name in part_cols) for f in by_group[r.id]),
                primary_key=pk_cols, partition_by=part_cols, event_time=r.event_time,
                location=r.location, created_at=from_text(r.created_at), creator=r.creator,
                online=bool(r.online), online_commit=r.online_commit,
                dependencies=tuple(json.loads(r.dependencies)) if r.dependencies else (),
                source=None if r.source is None else json.loads(r.source)))
        return groups

    def feature_group_versions(self, project: str, name: str) -> list[int]:
        return [r.version for r in self._rows(select(FG.c.version).where(
            FG.c.project == project, FG.c.name == name).order_by(FG.c.version))]

    def get_feature_group(self, project: str, name: str, version: int | None = None) -> FeatureGroup:
        query = select(FG).where(FG.c.project == project, FG.c.name == name)
        if version is None:
            query = query.order_by(FG.c.version.desc()).limit(1)
        else:
            query = query.where(FG.c.version == version)
        rows = self._rows(query)
        if not rows:
            which = "" if version is None else f" version {version}"
            raise FeatureGroupNotFound(f"feature group {name}{which} does not exist in feature "
                                       f"store {project}")
        return self._load(rows)[0]

    def list_feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        query = select(FG).order_by(FG.c.project, FG.c.name, FG.c.version)
        if project:
            query = query.where(FG.c.project == project)
        return self._load(self._rows(query))

    def add_commit(self, group: FeatureGroup, commit: Commit,
                   documents: Sequence[Document] = ()) -> None:
        with self._transaction() as conn:
            fg_id = self._id(conn, group.project, group.name, group.version)
            evolved = self._features_differ(conn, fg_id, group.features)
            if evolved:
                self._replace_features(conn, fg_id, group.features)
            self._insert_commit(conn, fg_id, commit)
            for d in documents:
                self._put_document(conn, d)
            if evolved:
                search_index.reindex(conn, group.project, "fg", group.name, group.version)
                self._bump(conn)

    def update_descriptions(self, project: str, name: str, version: int,
                            description: str | None = None,
                            features: Mapping[str, str] | None = None) -> None:
        with self._transaction() as conn:
            fg_id = self._id(conn, project, name, version)
            known = set(conn.execute(select(F.c.name).where(F.c.feature_group_id == fg_id)).scalars())
            unknown = sorted(set(features or {}) - known)
            if unknown:
                raise InvalidInputError(f"cannot describe the features of {name} v{version}", [
                    f"it has no feature {f!r} (its features: {', '.join(sorted(known))})"
                    for f in unknown], write=False)
            if description is not None:
                conn.execute(update(FG).where(FG.c.id == fg_id).values(description=description))
            for feature, text in (features or {}).items():
                conn.execute(update(F).where(F.c.feature_group_id == fg_id, F.c.name == feature)
                             .values(description=text))
            search_index.reindex(conn, project, "fg", name, version)
            self._bump(conn)

    def set_online(self, group: FeatureGroup, online: bool, online_commit: int | None) -> None:
        with self._transaction() as conn:
            fg_id = self._id(conn, group.project, group.name, group.version)
            was_online = bool(conn.execute(select(FG.c.online).where(FG.c.id == fg_id)).scalar())
            conn.execute(update(FG).where(FG.c.id == fg_id)
                         .values(online=int(online), online_commit=online_commit))
            if was_online != online:
                self._bump(conn)

    def commits(self, project: str, name: str, version: int) -> list[Commit]:
        rows = self._rows(
            select(C.c.commit_id, C.c.committed_at, C.c.operation, C.c.rows_inserted,
                   C.c.rows_updated, C.c.rows_deleted, C.c.creator, C.c.job)
            .join(FG, FG.c.id == C.c.feature_group_id)
            .where(FG.c.project == project, FG.c.name == name, FG.c.version == version)
            .order_by(C.c.commit_id))
        return [Commit(r[0], from_text(r[1]), *r[2:]) for r in rows]

    def delete_feature_group(self, project: str, name: str, version: int) -> None:
        with self._transaction() as conn:
            fg_id = self._id(conn, project, name, version)
            for table in (C, F):
                conn.execute(delete(table).where(table.c.feature_group_id == fg_id))
            conn.execute(delete(FG).where(FG.c.id == fg_id))
            self._delete_documents(conn, "fg.", project, name, version)
            delete_labels(conn, "fg.", project, name, version)
            search_index.reindex(conn, project, "fg", name, version)
            self._bump(conn)

    # -- training datasets ------------------------------------------------------------------------
    def create_training_dataset(self, dataset: TrainingDataset) -> None:
        d = dataset
        try:
            with self._transaction() as conn:
                conn.execute(TD.insert().values(
                    project=d.project, name=d.name, version=d.version, description=d.description,
                    data_format=d.data_format, location=d.location,
                    features=json.dumps([[f.name, f.type] for f in d.features]),
                    splits=json.dumps(d.splits), source=json.dumps(d.source),
                    created_at=to_text(d.created_at), creator=d.creator))
                search_index.reindex(conn, d.project, "td", d.name, d.version)
        except IntegrityError:
            raise TrainingDatasetExists(f"training dataset {d.name} version {d.version} exists "
                                        f"already in feature store {d.project}") from None

    @staticmethod
    def _training_dataset(r: Any) -> TrainingDataset:
        return TrainingDataset(
            project=r.project, name=r.name, version=r.version, description=r.description,
            data_format=r.data_format, location=r.location,
            features=tuple(Feature(n, t) for n, t in json.loads(r.features)),
            splits=json.loads(r.splits), source=json.loads(r.source),
            created_at=from_text(r.created_at), creator=r.creator)

    def get_training_dataset(self, project: str, name: str,
                             version: int | None = None) -> TrainingDataset:
        query = select(TD).where(TD.c.project == project, TD.c.name == name)
        if version is None:
            query = query.order_by(TD.c.version.desc()).limit(1)
        else:
            query = query.where(TD.c.version == version)
        rows = self._rows(query)
        if not rows:
            which = "" if version is None else f" version {version}"
            raise TrainingDatasetNotFound(f"training dataset {name}{which} does not exist in "
                                          f"feature store {project}")
        return self._training_dataset(rows[0])

    def list_training_datasets(self, project: str | None = None) -> list[TrainingDataset]:
        query = select(TD).order_by(TD.c.project, TD.c.name, TD.c.version)
        if project:
            query = query.where(TD.c.project == project)
        return [self._training_dataset(r) for r in self._rows(query)]

    def delete_training_dataset(self, project: str, name: str, version: int) -> None:
        with self._transaction() as conn:
            deleted = conn.execute(delete(TD).where(TD.c.project == project, TD.c.name == name,
                                                    TD.c.version == version)).rowcount
            if deleted == 0:
                raise TrainingDatasetNotFound(f"training dataset {name} version {version} is not "
                                              f"registered in feature store {project}")
            self._delete_documents(conn, "td.", project, name, version)
            delete_labels(conn, "td.", project, name, version)
            search_index.reindex(conn, project, "td", name, version)

    # -- documents ----------------------------------------------------------------------------------
    @staticmethod
    def _put_document(conn: Connection, d: Document) -> None:
        key = {"project": d.project, "kind": d.kind, "name": d.name, "version": d.version,
               "number": d.number}
        conn.execute(delete(D).where(*(D.c[k] == v for k, v in key.items())))
        conn.execute(D.insert().values(**key, created_at=to_text(d.created_at),
                                       body=json.dumps(d.body, allow_nan=False)))

    @staticmethod
    def _delete_documents(conn: Connection, prefix: str, project: str, name: str,
                          version: int) -> None:
        conn.execute(delete(D).where(D.c.project == project, D.c.kind.startswith(prefix),
                                     D.c.name == name, D.c.version == version))

    def put_document(self, document: Document) -> None:
        with self._transaction() as conn:
            self._put_document(conn, document)
            if document.kind == "fv":
                search_index.reindex(conn, document.project, "fv", document.name, document.version)

    def add_document(self, document: Document) -> bool:
        d = document
        try:
            with self._transaction() as conn:
                conn.execute(D.insert().values(
                    project=d.project, kind=d.kind, name=d.name, version=d.version,
                    number=d.number, created_at=to_text(d.created_at),
                    body=json.dumps(d.body, allow_nan=False)))
                if d.kind == "fv":
                    search_index.reindex(conn, d.project, "fv", d.name, d.version)
        except IntegrityError:
            return False
        return True

    def list_documents(self, project: str, kind: str, name: str | None = None) -> list[Document]:
        query = select(D.c.name, D.c.version, D.c.number, D.c.created_at, D.c.body).where(
            D.c.project == project, D.c.kind == kind)
        if name is not None:
            query = query.where(D.c.name == name)
        rows = self._rows(query.order_by(D.c.name, D.c.version, D.c.number))
        return [Document(project, kind, n, v, number, json.loads(body), from_text(at))
                for n, v, number, at, body in rows]

    def delete_documents(self, project: str, kind_prefix: str, name: str, version: int) -> None:
        with self._transaction() as conn:
            self._delete_documents(conn, kind_prefix, project, name, version)
            if kind_prefix == "fv":             # a view: its labels and its training data's
                delete_labels(conn, kind_prefix, project, name, version)
                search_index.reindex(conn, project, "fv", name, version)

    def documents(self, project: str, kind: str, name: str, version: int,
                  number: int | None = None) -> list[Document]:
        query = select(D.c.number, D.c.created_at, D.c.body).where(
            D.c.project == project, D.c.kind == kind, D.c.name == name, D.c.version == version)
        if number is not None:
            query = query.where(D.c.number == number)
        rows = self._rows(query.order_by(D.c.number))
        return [Document(project, kind, name, version, n, json.loads(body), from_text(at))
                for n, at, body in rows]

