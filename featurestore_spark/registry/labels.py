"""Tags (a name and a JSON value, checked against the project's tag schema when one is kept) and
keywords, on feature groups, their features, feature views and training datasets: checked here,
kept by the metadata store in a transaction that checks that the labelled thing exists."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .. import names
from ..errors import InvalidInputError
from ..metadata.base import Subject

if TYPE_CHECKING:
    from ..metadata import MetadataStore

MAX_TAG_BYTES = 65_536        # a tag's JSON value
KEYWORD_LENGTH = 63


def tag_problems(meta: MetadataStore, project: str, tag: object, value: object) -> list[str]:
    """Why ``tag``: ``value`` cannot be kept (empty when it can)."""
    if (problem := names.name_problem("tag", tag)) is not None:
        return [problem]
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        return [f"the value of tag {tag!r} is not JSON ({e})"]
    if len(text.encode()) > MAX_TAG_BYTES:
        return [f"the value of tag {tag!r} is {len(text.encode()):,} bytes of JSON "
                f"(at most {MAX_TAG_BYTES:,})"]
    schema = meta.tag_schemas(project).get(str(tag))
    if schema is None:
        return []
    import jsonschema
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"tag {tag!r} does not obey its schema: {e.message}"
            + (f" (at {'/'.join(map(str, e.absolute_path))})" if e.absolute_path else "")
            for e in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))]


def keyword_list(keywords: object) -> list[str]:
    """Keywords as kept (stripped), or InvalidInputError saying which are not keywords."""
    if isinstance(keywords, str) or not isinstance(keywords, (list, tuple, set)):
        raise InvalidInputError("cannot add keywords", [
            f"keywords must be a list of strings, got {keywords!r}"])
    out, problems = [], []
    for k in keywords:
        word = k.strip() if isinstance(k, str) else k
        if not isinstance(word, str) or not word or len(word) > KEYWORD_LENGTH or any(
                not c.isprintable() for c in word):
            problems.append(f"{k!r} is not a keyword: 1-{KEYWORD_LENGTH} printable characters")
        else:
            out.append(word)
    if problems:
        raise InvalidInputError("cannot add keywords", problems)
    return out


def check_schema(tag: object, schema: object) -> None:
    """Refuse a tag schema that is not a JSON Schema (InvalidInputError)."""
    problem = names.name_problem("tag", tag)
    if problem is None:
        import jsonschema
        try:
            if not isinstance(schema, Mapping):
                raise jsonschema.SchemaError(f"a JSON Schema is an object, got {schema!r}")
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as e:
            problem = f"the schema of tag {tag!r} is not a JSON Schema: {e.message}"
    if problem is not None:
        raise InvalidInputError("cannot keep the tag schema", [problem])


class Labelled:
    """Tags and keywords of a handle (feature group or view): the hsfs methods, each also for one
    feature (``feature=``, of a feature group). Subclasses give ``_subject(feature)`` (a
    registered version, or a lookup error) and ``_metadata``."""

    def _subject(self, feature: str | None) -> Subject:
        raise NotImplementedError

    @property
    def _metadata(self) -> MetadataStore:
        raise NotImplementedError

    def add_tag(self, name: str, value: Any, feature: str | None = None) -> None:
        """Attach tag ``name`` with a JSON value (replacing one of that name)."""
        put_tag(self._metadata, self._subject(feature), name, value)

    def get_tag(self, name: str, feature: str | None = None) -> Any:
        """The value of tag ``name`` (KeyError when there is none)."""
        tags = self._metadata.tags(self._subject(feature))
        if name not in tags:
            raise KeyError(f"no tag {name!r} (tags: {', '.join(tags) or 'none'})")
        return tags[name]

    def get_tags(self, feature: str | None = None) -> dict[str, Any]:
        return self._metadata.tags(self._subject(feature))

    def delete_tag(self, name: str, feature: str | None = None) -> None:
        if not self._metadata.delete_tag(self._subject(feature), name):
            raise KeyError(f"no tag {name!r} to delete")

    def add_keywords(self, keywords: Iterable[str], feature: str | None = None) -> None:
        self._metadata.add_keywords(self._subject(feature), keyword_list(keywords))

    def get_keywords(self, feature: str | None = None) -> list[str]:
        return self._metadata.keywords(self._subject(feature))

    def delete_keyword(self, keyword: str, feature: str | None = None) -> None:
        if not self._metadata.delete_keyword(self._subject(feature), keyword):
            raise KeyError(f"no keyword {keyword!r} to delete")


class DatasetLabels(Labelled):
    """Tags and keywords of a registered training dataset version (a lookup error otherwise)."""

    def __init__(self, meta: MetadataStore, project: str, name: str, version: int) -> None:
        meta.get_training_dataset(project, name, version)
        self._meta, self._s = meta, Subject(project, "td", name, version)

    def _subject(self, feature: str | None) -> Subject:
        if feature is not None:
            raise InvalidInputError(f"cannot label feature {feature!r} of training dataset "
                                    f"{self._s.name}", ["a training dataset is labelled as a whole"])
        return self._s

    @property
    def _metadata(self) -> MetadataStore:
        return self._meta


def put_tag(meta: MetadataStore, subject: Subject, tag: object, value: object) -> None:
    """Check and keep one tag (InvalidInputError with nothing written when it is refused)."""
    if (problems := tag_problems(meta, subject.project, tag, value)):
        raise InvalidInputError(f"cannot tag {subject.name} v{subject.version}", problems)
    meta.put_tag(subject, str(tag), value)
