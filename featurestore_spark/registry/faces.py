"""Tags and keywords by name, for the hops-util-py functions and the Hops builders: the labelled
version is the one given, or the latest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .. import names
from ..errors import InvalidInputError
from ..metadata.base import Subject
from .labels import keyword_list, put_tag, tag_problems

if TYPE_CHECKING:
    from ..store import Store


def subject(store: Store, kind: str, name: str, project: str | None, version: int | None,
            feature: str | None = None) -> Subject:
    """The subject of feature group (``kind`` "fg", or one of its features) or training dataset
    ("td") ``name``: ``version``, or the latest registered (a lookup error when there is none)."""
    project = project or store.settings.project
    meta = store.metadata
    if version is None:
        version = (meta.get_feature_group(project, name) if kind == "fg"
                   else meta.get_training_dataset(project, name)).version
    return Subject(project, kind, name, version,
                   str(names.feature(feature)) if feature is not None else "")


def check(store: Store, project: str, tags: Mapping[str, Any], keywords: Iterable[str]) -> None:
    """Refuse labels that cannot be kept (InvalidInputError), before what they label is made."""
    keyword_list(list(keywords))
    problems = [p for t, v in tags.items() for p in tag_problems(store.metadata, project, t, v)]
    if problems:
        raise InvalidInputError("cannot label what is to be created", problems)


def label(store: Store, s: Subject, tags: Mapping[str, Any], keywords: Iterable[str]) -> None:
    """Keep ``tags`` and ``keywords`` on ``s`` (checked again: a schema may have changed)."""
    check(store, s.project, tags, keywords)
    for t, v in tags.items():
        put_tag(store.metadata, s, t, v)
    if words := keyword_list(list(keywords)):
        store.metadata.add_keywords(s, words)
