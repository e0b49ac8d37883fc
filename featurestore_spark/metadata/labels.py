"""The registry's labels (tags, keywords, tag schemas) and search, on the SQL metadata store:
every statement built from ``schema``'s tables, the same for SQLite and MySQL; a label is written
in a transaction that checks its subject exists, and is removed with it."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from sqlalchemy import delete, select, tuple_

from . import search_index
from ..errors import FeatureGroupNotFound, FeatureViewNotFound, TrainingDatasetNotFound
from .base import Hit, Subject
from .schema import SUBJECT
from .schema import documents as D
from .schema import feature_groups as FG
from .schema import features as F
from .schema import keywords as K
from .schema import tag_schemas as S
from .schema import tags as T
from .schema import training_datasets as TD

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Table
    from sqlalchemy.engine import Connection

LABELS = (T, K)


def _where(table: Table, s: Subject) -> list[ColumnElement[bool]]:
    return [table.c[k] == getattr(s, k) for k in SUBJECT]


def _reindex(conn: Connection, s: Subject) -> None:
    search_index.reindex(conn, s.project, s.kind, s.name, s.version)


def delete_labels(conn: Connection, kind_prefix: str, project: str, name: str,
                  version: int) -> None:
    """Remove the labels of what documents of ``kind_prefix`` belong to ("fg." a feature group
    and its features, "td." a training dataset, "fv" a view and its training data)."""
    for table in LABELS:
        conn.execute(delete(table).where(
            table.c.project == project, table.c.kind.in_(search_index.kinds(kind_prefix.rstrip("."))),
            table.c.name == name, table.c.version == version))


class LabelsSql:
    """Mixed into SqlMetadataStore (which gives ``_transaction`` and ``_rows``)."""

    _transaction: Any
    _rows: Any
    _engine: Any

    def _exists(self, conn: Connection, s: Subject) -> bool:
        """Whether ``s`` is registered, its row locked until the transaction ends (MySQL: a
        delete or another label of it waits, and this transaction's later reads are current)."""
        if s.kind == "fg":
            fg_id = conn.execute(select(FG.c.id).where(
                FG.c.project == s.project, FG.c.name == s.name, FG.c.version == s.version)
                .with_for_update()).scalar()
            if fg_id is None or not s.part:
                return fg_id is not None
            return conn.execute(select(F.c.name).where(
                F.c.feature_group_id == fg_id, F.c.name == s.part)).first() is not None
        if s.kind == "td":
            return conn.execute(select(TD.c.id).where(
                TD.c.project == s.project, TD.c.name == s.name, TD.c.version == s.version)
                .with_for_update()).first() is not None
        number = 0 if s.kind == "fv" else int(s.part) if s.part.isdigit() else -1
        return conn.execute(select(D.c.number).where(
            D.c.project == s.project, D.c.kind == s.kind, D.c.name == s.name,
            D.c.version == s.version, D.c.number == number).with_for_update()).first() is not None

    @contextmanager
    def _labelling(self, s: Subject) -> Iterator[Connection]:
        """A write transaction on a registered subject (LookupError, nothing written, if not)."""
        with self._transaction() as conn:
            if not self._exists(conn, s):
                error, what = {"fg": (FeatureGroupNotFound, "feature group"),
                               "td": (TrainingDatasetNotFound, "training dataset"),
                               "fv": (FeatureViewNotFound, "feature view"),
                               "fv.td": (TrainingDatasetNotFound, "feature view")}[s.kind]
                part = (f" has no feature {s.part!r}" if s.kind == "fg" and s.part else
                        f" has no training dataset version {s.part}" if s.part else
                        " is not registered")
                raise error(f"{what} {s.name} v{s.version}{part} in feature store {s.project}: "
                            "nothing labelled")
            yield conn

    def put_tag(self, subject: Subject, tag: str, value: Any) -> None:
        with self._labelling(subject) as conn:
            conn.execute(delete(T).where(*_where(T, subject), T.c.tag == tag))
            conn.execute(T.insert().values(**{k: getattr(subject, k) for k in SUBJECT}, tag=tag,
                                           value=json.dumps(value, allow_nan=False)))
            _reindex(conn, subject)

    def tags(self, subject: Subject) -> dict[str, Any]:
        rows = self._rows(select(T.c.tag, T.c.value).where(*_where(T, subject)).order_by(T.c.tag))
        return {tag: json.loads(value) for tag, value in rows}

    def delete_tag(self, subject: Subject, tag: str) -> bool:
        with self._transaction() as conn:
            gone = conn.execute(delete(T).where(*_where(T, subject), T.c.tag == tag)).rowcount > 0
            _reindex(conn, subject)
            return gone

    def add_keywords(self, subject: Subject, keywords: Sequence[str]) -> None:
        with self._labelling(subject) as conn:
            have = set(conn.execute(select(K.c.keyword).where(*_where(K, subject))).scalars())
            new = [k for k in dict.fromkeys(keywords) if k not in have]
            if new:
                conn.execute(K.insert(), [{**{k: getattr(subject, k) for k in SUBJECT},
                                           "keyword": word} for word in new])
                _reindex(conn, subject)

    def keywords(self, subject: Subject) -> list[str]:
        return [r[0] for r in self._rows(select(K.c.keyword).where(*_where(K, subject))
                                         .order_by(K.c.keyword))]

    def delete_keyword(self, subject: Subject, keyword: str) -> bool:
        with self._transaction() as conn:
            gone = conn.execute(delete(K).where(*_where(K, subject),
                                                K.c.keyword == keyword)).rowcount > 0
            _reindex(conn, subject)
            return gone

    def put_tag_schema(self, project: str, tag: str, schema: Mapping[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(delete(S).where(S.c.project == project, S.c.tag == tag))
            conn.execute(S.insert().values(project=project, tag=tag, schema=json.dumps(schema)))

    def tag_schemas(self, project: str) -> dict[str, dict[str, Any]]:
        return {tag: json.loads(schema) for tag, schema in self._rows(
            select(S.c.tag, S.c.schema).where(S.c.project == project).order_by(S.c.tag))}

    # -- search ----------------------------------------------------------------------------------
    def search(self, project: str, term: str, limit: int) -> list[Hit]:
        with self._engine.connect() as conn:
            rows = search_index.find(conn, project, term, limit * 10)
        word = term.lower()[:search_index.TERM_LENGTH]
        best: dict[tuple[str, str, int, str, str], int] = {}
        for t, kind, name, version, part, field in rows:
            if part and field in ("name", "description"):
                field = "feature" if field == "name" else "feature description"
            what = field if field in SCORES else field.split(" ", 1)[0]
            whole = field.split(" ", 1)[1] if what in ("keyword", "tag") else part or name
            scores = SCORES[what]
            score = scores[2] if t != word else scores[0] if whole.lower() == word else scores[1]
            key = (kind, name, version, part, field)
            if score > best.get(key, 0):
                best[key] = score
        return [Hit(Subject(project, k, n, v, p), f, score)
                for (k, n, v, p, f), score in best.items()]

    def descriptions(self, subjects: Sequence[Subject]) -> dict[Subject, str]:
        """The descriptions of registered subjects (a feature's, for a feature): one query per
        kind of subject."""
        out: dict[Subject, str] = {}
        by_kind: dict[str, list[Subject]] = {}
        for s in subjects:
            by_kind.setdefault("feature" if s.kind == "fg" and s.part else s.kind, []).append(s)
        with self._engine.connect() as conn:
            for kind, group in by_kind.items():
                project = group[0].project
                keys = [(s.name, s.version) for s in group]
                if kind == "feature":
                    q = (select(FG.c.name, FG.c.version, F.c.name.label("part"), F.c.description)
                         .join(FG, FG.c.id == F.c.feature_group_id)
                         .where(FG.c.project == project, tuple_(FG.c.name, FG.c.version).in_(keys),
                                F.c.name.in_({s.part for s in group})))
                    rows = [(Subject(project, "fg", n, v, p), d) for n, v, p, d in conn.execute(q)]
                elif kind in ("fg", "td"):
                    t = FG if kind == "fg" else TD
                    rows = [(Subject(project, kind, n, v), d) for n, v, d in conn.execute(
                        select(t.c.name, t.c.version, t.c.description).where(
                            t.c.project == project, tuple_(t.c.name, t.c.version).in_(keys)))]
                elif kind == "fv":
                    rows = [(Subject(project, "fv", n, v), json.loads(b).get("description", ""))
                            for n, v, b in conn.execute(select(D.c.name, D.c.version, D.c.body).where(
                                D.c.project == project, D.c.kind == "fv", D.c.number == 0,
                                tuple_(D.c.name, D.c.version).in_(keys)))]
                else:
                    rows = []
                wanted = set(group)
                out.update((s, str(d)) for s, d in rows if s in wanted and d)
        return out


# (the whole name or keyword, one of its words, the start of a word) for each field
SCORES = {"name": (100, 60, 40), "feature": (90, 55, 35), "keyword": (80, 50, 30),
          "tag": (70, 45, 25), "description": (20, 20, 12), "feature description": (15, 15, 10)}
