"""The words search finds, kept in ``search_terms`` (an index of (project, term) that SQLite and
MySQL both use for equality and prefix ranges: no LIKE scan over every feature): the lowercased
words and whole names of feature groups, features, training datasets and views, of their
descriptions, keywords and tags. Each write that changes what a subject says reindexes it in
its own transaction; a store indexed by an older ``INDEX_VERSION`` (or none) is indexed whole
when opened."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from sqlalchemy import delete, or_, select

from .schema import documents as D
from .schema import feature_groups as FG
from .schema import features as F
from .schema import keywords as K
from .schema import search_terms as ST
from .schema import tags as T
from .schema import training_datasets as TD

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

INDEX_VERSION = 1          # change it with what is indexed: stores are indexed again on open
MARK = ("", "registry.index", "search_terms", 0)     # (project, kind, name, version) of the mark
WORD = re.compile(r"[^\W_]+")
TERM_LENGTH = 63
MAX_TAG_WORDS = 200


def kinds(kind: str) -> tuple[str, ...]:
    """The subject kinds of one thing: a view's training data go with the view."""
    return ("fv", "fv.td") if kind in ("fv", "fv.td") else (kind,)


def words(text: str) -> set[str]:
    """The lowercased words of ``text`` (letters and digits; ``_`` separates), cut to 63."""
    return {w[:TERM_LENGTH] for w in WORD.findall(text.lower())}


def _name_terms(name: str) -> set[str]:
    return words(name) | {name.lower()[:TERM_LENGTH]}


def _values(value: Any) -> Iterator[str]:
    """The strings and numbers inside a tag's JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _values(v)
    elif value is not None:
        yield str(value)


def _label_terms(conn: Connection, project: str, kind: str, name: str,
                 version: int) -> Iterator[tuple[str, str, str, str]]:
    """(kind, part, field, term) of the keywords and tags of a subject and its parts."""
    for table in (K, T):
        rows = conn.execute(select(table).where(
            table.c.project == project, table.c.kind.in_(kinds(kind)), table.c.name == name,
            table.c.version == version)).all()
        for r in rows:
            if table is K:
                for term in _name_terms(r.keyword):
                    yield r.kind, r.part, f"keyword {r.keyword}", term
            else:
                said = sorted(words(" ".join(_values(json.loads(r.value)))))[:MAX_TAG_WORDS]
                for term in _name_terms(r.tag) | set(said):
                    yield r.kind, r.part, f"tag {r.tag}", term


def _subject_terms(conn: Connection, project: str, kind: str, name: str,
                   version: int) -> Iterator[tuple[str, str, str, str]]:
    """(kind, part, field, term) of everything said about a registered subject (nothing when
    it is not registered)."""
    if kind == "fg":
        row = conn.execute(select(FG.c.id, FG.c.description).where(
            FG.c.project == project, FG.c.name == name, FG.c.version == version)).first()
        if row is None:
            return
        yield from (("fg", "", "name", t) for t in _name_terms(name))
        yield from (("fg", "", "description", t) for t in words(row.description))
        for f in conn.execute(select(F.c.name, F.c.description)
                              .where(F.c.feature_group_id == row.id)).all():
            yield from (("fg", f.name, "name", t) for t in _name_terms(f.name))
            yield from (("fg", f.name, "description", t) for t in words(f.description))
    elif kind == "td":
        desc = conn.execute(select(TD.c.description).where(
            TD.c.project == project, TD.c.name == name, TD.c.version == version)).scalar()
        if desc is None:
            return
        yield from (("td", "", "name", t) for t in _name_terms(name))
        yield from (("td", "", "description", t) for t in words(desc))
    else:
        body = conn.execute(select(D.c.body).where(
            D.c.project == project, D.c.kind == "fv", D.c.name == name, D.c.version == version,
            D.c.number == 0)).scalar()
        if body is None:
            return
        yield from (("fv", "", "name", t) for t in _name_terms(name))
        yield from (("fv", "", "description", t)
                    for t in words(str(json.loads(body).get("description", ""))))
    yield from _label_terms(conn, project, kind, name, version)


def reindex(conn: Connection, project: str, kind: str, name: str, version: int) -> None:
    """Index again what is said about a feature group ("fg", with its features), training
    dataset ("td") or view ("fv", with its training data): none of it when it is gone."""
    kind = {"fv.td": "fv"}.get(kind, kind)
    conn.execute(delete(ST).where(ST.c.project == project, ST.c.name == name,
                                  ST.c.version == version, ST.c.kind.in_(kinds(kind))))
    rows = {(k, part, field, term) for k, part, field, term
            in _subject_terms(conn, project, kind, name, version)}
    if rows:
        conn.execute(ST.insert(), [{"project": project, "term": term, "kind": k, "name": name,
                                    "version": version, "part": part, "field": field}
                                   for k, part, field, term in rows])


def _subjects(conn: Connection) -> Iterable[tuple[str, str, str, int]]:
    yield from (("fg", *r) for r in conn.execute(select(FG.c.project, FG.c.name, FG.c.version)))
    yield from (("td", *r) for r in conn.execute(select(TD.c.project, TD.c.name, TD.c.version)))
    yield from (("fv", *r) for r in conn.execute(select(D.c.project, D.c.name, D.c.version)
                                                 .where(D.c.kind == "fv", D.c.number == 0)))


def ensure(conn: Connection) -> None:
    """Index the whole store when it was indexed by another INDEX_VERSION (or never)."""
    project, kind, name, version = MARK
    mark = conn.execute(select(D.c.body).where(D.c.project == project, D.c.kind == kind,
                                               D.c.name == name, D.c.version == version)).scalar()
    if mark is not None and json.loads(mark).get("index_version") == INDEX_VERSION:
        return
    conn.execute(delete(ST))
    for k, p, n, v in list(_subjects(conn)):
        reindex(conn, p, k, n, v)
    conn.execute(delete(D).where(D.c.project == project, D.c.kind == kind))
    conn.execute(D.insert().values(project=project, kind=kind, name=name, version=version,
                                   number=0, created_at="", body=json.dumps(
                                       {"index_version": INDEX_VERSION})))


def find(conn: Connection, project: str, word: str, cap: int) -> list[Any]:
    """Index rows of ``word``: the names it is whole, its exact term, then terms it begins (each
    at most ``cap`` rows, cut before they are scored; all ranges of the (project, term) key)."""
    word = word.lower()[:TERM_LENGTH]
    after = word[:-1] + chr(ord(word[-1]) + 1)
    columns = (ST.c.term, ST.c.kind, ST.c.name, ST.c.version, ST.c.part, ST.c.field)
    whole = conn.execute(select(*columns).where(
        ST.c.project == project, ST.c.term == word, ST.c.field == "name",
        or_(ST.c.name == word, ST.c.part == word)).limit(cap)).all()
    exact = conn.execute(select(*columns).where(ST.c.project == project, ST.c.term == word)
                         .limit(cap)).all()
    longer = conn.execute(select(*columns).where(ST.c.project == project, ST.c.term > word,
                                                 ST.c.term < after).limit(cap)).all()
    return list(whole) + list(exact) + list(longer)
