"""Keyword search over the registry: names, descriptions, features, keywords and tags of feature
groups, views and training datasets. The metadata store finds the matches of each word through
its index of words (a word matches the words it is or begins); here they are ranked (an exact
name first, then by how many words matched and where) and grouped: a feature group, view or
training dataset by name with its versions, a feature by its group with the versions that have
it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..metadata.search_index import words as index_words

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.base import Hit

MAX_WORDS = 5
TYPES = {"fg": "feature_group", "fv": "feature_view", "td": "training_dataset",
         "fv.td": "training_dataset"}


def _key(hit: Hit) -> tuple[str, str, str]:
    """(result type, name, feature group of a feature) of what ``hit`` matched."""
    s = hit.subject
    if s.kind == "fg" and s.part:
        return "feature", s.part, s.name
    if s.kind == "fv.td":
        return "training_dataset", f"{s.name}_{s.version}", s.name
    return TYPES[s.kind], s.name, ""


def _version(hit: Hit) -> int:
    s = hit.subject
    return int(s.part) if s.kind == "fv.td" else s.version


def search(meta: MetadataStore, project: str, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """The best ``limit`` results for ``text`` (its words, at most five), best first: dicts
    with type (feature_group, feature, feature_view, training_dataset), name, feature_group (of a
    feature) or feature_view (of a view's training dataset), versions, matched (where),
    description (of the latest matching version) and score."""
    if not isinstance(text, str) or not text.split():
        raise InvalidInputError("cannot search", [f"nothing to search for: {text!r}"], write=False)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidInputError("cannot search", [f"limit must be a positive integer, got {limit!r}"],
                                write=False)
    words = list(dict.fromkeys(w.lower() for w in text.split()))[:MAX_WORDS]
    scores: dict[tuple[tuple[str, str, str], int], dict[str, int]] = defaultdict(dict)
    matched: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    latest: dict[tuple[str, str, str], Hit] = {}
    for word in words:
        for hit in (h for w in [word, *sorted(index_words(word) - {word})]
                    for h in meta.search(project, w, limit)):
            key, version = _key(hit), _version(hit)
            per_word = scores[(key, version)]
            per_word[word] = max(per_word.get(word, 0), hit.score)
            matched[key].add(hit.field)
            if key not in latest or version > _version(latest[key]):
                latest[key] = hit
    best: dict[tuple[str, str, str], int] = {}
    versions: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for (key, version), per_word in scores.items():
        versions[key].add(version)
        best[key] = max(best.get(key, 0), sum(per_word.values()))
    ranked = sorted(best, key=lambda k: (-best[k], list(TYPES.values()).index(k[0])
                                         if k[0] in TYPES.values() else 0, k[1], k[2]))
    shown = ranked[:limit]
    described = meta.descriptions([latest[k].subject for k in shown])
    out = []
    for key in shown:
        kind, name, owner = key
        result: dict[str, Any] = {"type": kind, "name": name}
        if kind == "feature":
            result["feature_group"] = owner
        elif owner:
            result["feature_view"] = owner
        result.update(versions=sorted(versions[key]), matched=sorted(matched[key]),
                      description=described.get(latest[key].subject, ""), score=best[key])
        out.append(result)
    return out
