"""Feature views in the Hopsworks client's (hsfs) vocabulary: one versioned definition (a query,
its labels, inference helper columns and transformation functions) for training data, batch
scoring and online vectors.

A view is a metadata document (kind ``fv``): the query in the recorded form training datasets
use (``Query.to_dict``, not pinned: a view reads the latest data), labels, helpers and the bound
transformation functions. Each set of training data made from it gets a training dataset version
(a document ``fv.td``: its split plan, the commits it read and the transformations' statistics,
fitted on the training split only); ``create_*`` calls also write the rows as a training dataset
``<view>_<view version>`` of that version. Batch scoring and serving use the statistics of the
training dataset version they are initialised with, so the rows a model sees at inference are
transformed exactly as its training rows were.

Examples
--------
>>> scaler = fs.get_transformation_function("min_max_scaler")                  # doctest: +SKIP
>>> fv = fs.create_feature_view("churn", customers.select_all().join(subs.select(["plan"])),
...                             labels=["churn"], transformation_functions=[scaler("tenure")])
>>> X_train, X_test, y_train, y_test = fv.train_test_split(test_size=0.2, seed=42)  # doctest: +SKIP
>>> fv.init_serving(1); fv.get_feature_vector({"customer_id": 7})              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
import json
import logging
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from . import names
from .context import utc
from .dataframes import convert
from .errors import FeatureStoreError, FeatureViewNotFound, InvalidInputError
from .metadata.base import FEATURE_VIEW, FV_TRAINING, TRANSFORMATION, Document, Subject
from .registry.labels import Labelled, keyword_list, put_tag
from .spec import DATAFRAME_TYPES, identity_problems
from .training import splits as split_plans
from .transformations import BUILTINS, Bound, TransformationFunction
from .transformations import apply as tf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .connectors import StorageConnector
    from .query import Query
    from .store import Store

RETURN_TYPES = ("list", "dict", "pandas", "numpy")
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return list(names.features([value] if isinstance(value, str) else list(value)))


# -- transformation functions ------------------------------------------------------------------
def transformation_function(store: Store, name: str, version: int | None = None,
                            project: str | None = None) -> TransformationFunction:
    """A built-in by name, or a registered user-defined function (its latest version when
    ``version`` is None), made again from its kept source."""
    if name in BUILTINS:
        return TransformationFunction(name, 1, BUILTINS[name].output_type)
    from .transformations.functions import from_source
    docs = [d for d in store.metadata.list_documents(store.ctx.project(project), TRANSFORMATION, name)
            if version is None or d.version == version]
    if not docs:
        raise FeatureViewNotFound(
            f"no transformation function {name!r}" + (f" version {version}" if version else "")
            + f": the built-ins are {', '.join(BUILTINS)}; register others with "
              "fs.create_transformation_function(fn, version)")
    d = docs[-1]
    return from_source(name, d.version, d.body["source"], d.body["output_type"])


def create_transformation_function(store: Store, fn: TransformationFunction, version: int | None,
                                   project: str | None) -> TransformationFunction:
    """Register a user-defined function (made with ``@udf``) with its source, as ``version``
    (default: the next one)."""
    project = store.ctx.project(project)
    problems = []
    if not isinstance(fn, TransformationFunction) or fn.builtin:
        problems.append(f"a function made with @udf(type) is required, got {type(fn).__name__}")
    elif fn.source is None:
        problems.append(f"the source of {fn.name} is not available (define it in a file or "
                        "notebook cell, not in an interactive one-liner)")
    elif fn.name in BUILTINS:
        problems.append(f"{fn.name} is the name of a built-in")
    if problems:
        raise InvalidInputError("cannot register transformation function", problems)
    from .transformations.functions import from_source
    existing = [d.version for d in store.metadata.list_documents(project, TRANSFORMATION, fn.name)]
    version = version if version is not None else max(existing, default=0) + 1
    problems += identity_problems(fn.name, project, version, False, "transformation function")
    if not problems:
        try:        # what get_transformation_function will do with it: make it from its source
            from_source(fn.name, version, str(fn.source), fn.output_type)
        except Exception as e:  # noqa: BLE001  (any error of the user's source)
            problems.append(f"its source cannot be loaded on its own ({type(e).__name__}: {e}): "
                            "define it with @udf(type), importing what it uses inside it")
    if problems:
        raise InvalidInputError(f"cannot register transformation function {fn.name!r}", problems)
    made = TransformationFunction(fn.name, version, fn.output_type, fn.fn, fn.source)
    if not store.metadata.add_document(Document(project, TRANSFORMATION, fn.name, version, 0,
                                                made.to_dict(), _now())):
        raise InvalidInputError(f"cannot register transformation function {fn.name!r}", [
            f"version {version} exists already"])
    return made


def _bound_from_dict(store: Store, project: str, data: Mapping[str, Any]) -> Bound:
    fn = transformation_function(store, data["name"], data["version"], project)
    return Bound(fn, tuple(data["features"]), dict(data.get("params") or {}))


# -- feature views -----------------------------------------------------------------------------
class FeatureView(Labelled):
    """A handle of a feature view version (see the module's docstring)."""

    def __init__(self, store: Store, project: str, name: str, version: int,
                 body: Mapping[str, Any]) -> None:
        self._store, self._project, self.name, self.version = store, project, name, version
        self._body = json.loads(json.dumps(body))          # as the metadata store gives it back
        self.description: str = body.get("description", "")
        self.labels: list[str] = list(body.get("labels") or [])
        self.inference_helper_columns: list[str] = list(body.get("inference_helper_columns") or [])
        self._query_dict = body["query"]
        self.transformation_functions: list[Bound] = [
            _bound_from_dict(store, project, t) for t in body.get("transformations") or []]
        self._scoring: tuple[int | None, list[dict[str, Any]]] | None = None
        self._serving: tuple[int | None, list[dict[str, Any]], list[str], dict[str, int]] | None = None
        self._order: list[str] = []
        self._join_keys: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, version={self.version}, project={self._project!r})"

    @property
    def query(self) -> Query:
        from .query import Query
        return Query.from_dict(self._query_dict, self._store.ctx)

    @property
    def recorded_query(self) -> dict[str, Any]:
        """The query as the metadata keeps it (``Query.to_dict``'s form)."""
        return json.loads(json.dumps(self._query_dict))

    @property
    def features(self) -> list[str]:
        """The query's output columns (labels and helpers included)."""
        return self.query.columns

    @property
    def primary_key(self) -> list[str]:
        return list(self.query.root.group.primary_key) if self.query.root.group else []

    @property
    def event_time(self) -> str | None:
        group = self.query.root.group
        return group.event_time if group is not None else None

    @property
    def project(self) -> str:
        return self._project

    # -- labels (tags, keywords) -----------------------------------------------------------------
    def _subject(self, feature: str | None) -> Subject:
        if feature is not None:
            raise InvalidInputError(f"cannot label feature {feature!r} of feature view {self.name}",
                                    ["a view's features are labelled on their feature groups"])
        return Subject(self._project, FEATURE_VIEW, self.name, self.version)

    @property
    def _metadata(self) -> Any:
        return self._store.metadata

    def _td(self, training_dataset_version: int) -> Subject:
        """What labels training data version ``training_dataset_version``: once written, the
        training dataset ``<view>_<version>`` itself (one identity on every face: the
        hops-util-py functions, search, deletes); in memory only, the view's record of it."""
        docs = self._store.metadata.documents(self._project, FV_TRAINING, self.name, self.version,
                                              training_dataset_version)
        if docs and docs[0].body.get("materialized"):
            return Subject(self._project, "td", self._td_name, training_dataset_version)
        return Subject(self._project, FV_TRAINING, self.name, self.version,
                       str(training_dataset_version))

    def add_training_dataset_tag(self, training_dataset_version: int, name: str, value: Any) -> None:
        put_tag(self._store.metadata, self._td(training_dataset_version), name, value)

    def get_training_dataset_tags(self, training_dataset_version: int) -> dict[str, Any]:
        return self._store.metadata.tags(self._td(training_dataset_version))

    def delete_training_dataset_tag(self, training_dataset_version: int, name: str) -> None:
        if not self._store.metadata.delete_tag(self._td(training_dataset_version), name):
            raise KeyError(f"no tag {name!r} to delete")

    def add_training_dataset_keywords(self, training_dataset_version: int,
                                      keywords: Iterable[str]) -> None:
        self._store.metadata.add_keywords(self._td(training_dataset_version),
                                          keyword_list(keywords))

    def get_training_dataset_keywords(self, training_dataset_version: int) -> list[str]:
        return self._store.metadata.keywords(self._td(training_dataset_version))

    def delete(self) -> None:
        """Remove this version: its training datasets written from it, then its definition."""
        training = self._store.training
        for d in self._training_docs():
            if d.body.get("materialized"):
                try:
                    training.delete(self._td_name, d.number, self._project)
                except FeatureStoreError:
                    pass            # removed already: the view goes all the same
        self._store.metadata.delete_documents(self._project, FEATURE_VIEW, self.name, self.version)

    # -- rows ----------------------------------------------------------------------------------
    @property
    def _td_name(self) -> str:
        return f"{self.name}_{self.version}"

    def _training_docs(self) -> list[Document]:
        return self._store.metadata.documents(self._project, FV_TRAINING, self.name, self.version)

    def _window(self, df: DataFrame, start: Any, end: Any) -> DataFrame:
        if start is None and end is None:
            return df
        if self.event_time is None:
            raise InvalidInputError(f"cannot read feature view {self.name!r} by time", [
                "its query's first feature group has no event time"], write=False)
        from pyspark.sql import functions as F
        column = F.col(self.event_time)
        if start is not None:
            df = df.where(column >= F.lit(utc(start)))
        if end is not None:
            df = df.where(column < F.lit(utc(end)))
        return df

    def _x_columns(self, columns: Sequence[str], primary_key: bool, event_time: bool) -> list[str]:
        drop = set(self.labels) | set(self.inference_helper_columns)
        if not primary_key:
            drop |= set(self.primary_key)
        if not event_time and self.event_time:
            drop.add(self.event_time)
        return [c for c in columns if c not in drop]

    def _xy(self, df: DataFrame, stats: list[dict[str, Any]], primary_key: bool, event_time: bool,
            dataframe_type: str, outputs: tf.SparkOutputs | None = None
            ) -> tuple[Any, Any]:
        """X (transformed) and y (the labels, None without) of ``df``: made from one frame and,
        for pandas, numpy and python, brought to the driver once, so that their rows line up."""
        xcols = self._x_columns(df.columns, primary_key, event_time)
        both = tf.transform_frame(df.select(*xcols, *self.labels),
                                  self._bounds_in(df.columns, primary_key, event_time), stats,
                                  outputs)
        xnames = [c for c in both.columns if c not in self.labels]
        if dataframe_type in ("spark", "default"):     # y without the statistics' join
            return both.select(*xnames), (df.select(*self.labels) if self.labels else None)
        frame = convert(both, "pandas")
        x, y = frame[xnames], (frame[self.labels] if self.labels else None)
        if dataframe_type == "numpy":
            return x.to_numpy(), (y.to_numpy() if y is not None else None)
        if dataframe_type == "python":
            return x.to_dict("records"), (y.to_dict("records") if y is not None else None)
        return x, y

    def _bounds_in(self, columns: Sequence[str], primary_key: bool, event_time: bool) -> list[Bound]:
        kept = set(self._x_columns(columns, primary_key, event_time))
        missing = [f for b in self.transformation_functions for f in b.features if f not in kept]
        if missing:
            raise InvalidInputError(f"cannot transform feature view {self.name!r}", [
                f"{', '.join(missing)} transformed but left out of the features (primary_key / "
                "event_time=False)"], write=False)
        return self.transformation_functions

    # -- training data -------------------------------------------------------------------------
    def _plan(self, splits: Mapping[str, Any] | None, seed: Any) -> dict[str, Any]:
        column = None
        if splits and not all(isinstance(v, (int, float)) for v in splits.values()):
            column = self.event_time
        plan, problems = split_plans.plan(splits, seed, column)
        if problems:
            raise InvalidInputError(f"cannot split feature view {self.name!r}", problems, write=False)
        return plan

    def _new_training(self, plan: dict[str, Any], start: Any, end: Any, description: str,
                      data_format: str | None, write_options: Mapping[str, Any] | None,
                      storage_connector: StorageConnector | str | None = None, location: str = ""
                      ) -> tuple[int, list[tuple[str | None, DataFrame]], list[dict[str, Any]]]:
        """A new training dataset version: its rows per split (of the pinned query), its
        statistics fitted on the training split, and its document (and files when
        ``data_format`` is given: through ``storage_connector``, in ``location`` under it)."""
        if not isinstance(description, str):
            raise InvalidInputError("cannot make training data", [
                f"description must be a string, got {description!r}"], write=False)
        self._current()
        query = self.query.pinned()
        df = self._window(query.read(), start, end)
        if (problems := split_plans.frame_problems(df, plan)):
            raise InvalidInputError(f"cannot split feature view {self.name!r}", problems, write=False)
        parts = split_plans.split_frames(df, plan)
        train = parts[0][1] if plan["kind"] == "none" else dict(parts).get("train", parts[0][1])
        stats = tf.fit(train, self._bounds_in(df.columns, True, True),
                       f"the training rows of feature view {self.name}")
        numbers = [d.number for d in self._training_docs()]
        written = [d.version for d in self._store.training.list(self._project)
                   if d.name == self._td_name]
        version = max(numbers + written, default=0) + 1
        if data_format is not None:
            from .training import TrainingDatasetSpec
            ranges = tuple((s["name"], s["fraction"] if plan["kind"] == "random"
                            else (s["start"], s["end"])) for s in plan["splits"])
            self._store.training.create(TrainingDatasetSpec(
                self._td_name, df, self._project, version, description, data_format, ranges,
                plan.get("seed"), plan.get("column"),
                location or (write_options or {}).get("path"),
                storage_connector=storage_connector))
        body = {"splits": plan, "query": query.to_dict(), "statistics": stats,
                "materialized": data_format is not None, "description": description,
                "start": str(start) if start is not None else None,
                "end": str(end) if end is not None else None}
        try:
            added = self._store.metadata.add_document(Document(
                self._project, FV_TRAINING, self.name, self.version, version, body, _now()))
        except BaseException:
            added = False
            raise
        finally:
            if not added and data_format is not None:       # no files without their record
                self._store.training.delete(self._td_name, version, self._project)
        if not added:
            raise FeatureStoreError(f"training dataset version {version} of feature view "
                                    f"{self.name} was made meanwhile: try again")
        return version, parts, stats

    def _current(self) -> None:
        """Refuse to add to a view version deleted (or made again) since this handle was made."""
        docs = self._store.metadata.documents(self._project, FEATURE_VIEW, self.name, self.version)
        if not docs or docs[0].body != self._body:
            raise FeatureViewNotFound(f"feature view {self.name} v{self.version} was deleted or "
                                      "made again since this handle was made: get_feature_view")

    def _split_out(self, parts: Sequence[tuple[str | None, DataFrame]], stats: list[dict[str, Any]],
                   order: Sequence[str], primary_key: bool, event_time: bool,
                   dataframe_type: str) -> tuple[Any, ...]:
        self._check_type(dataframe_type)
        by_name = dict(parts)
        outputs = tf.spark_columns(self.transformation_functions, stats)
        xs, ys = zip(*(self._xy(by_name[s], stats, primary_key, event_time, dataframe_type, outputs)
                       for s in order))
        return (*xs, *ys)

    @staticmethod
    def _check_type(dataframe_type: str) -> None:
        if dataframe_type not in (*DATAFRAME_TYPES, "default"):
            raise InvalidInputError("cannot make training data", [
                f"dataframe type {dataframe_type!r} is not one of {', '.join(DATAFRAME_TYPES)}"],
                write=False)

    def training_data(self, start_time: Any = None, end_time: Any = None, description: str = "",
                      primary_key: bool = True, event_time: bool = True,
                      dataframe_type: str = "spark") -> tuple[Any, Any]:
        """``(X, y)`` of every row (in the ``[start_time, end_time)`` window), transformed with
        statistics of these rows; a new training dataset version records them."""
        self._check_type(dataframe_type)
        _, parts, stats = self._new_training(self._plan(None, None), start_time, end_time,
                                             description, None, None)
        return self._xy(parts[0][1], stats, primary_key, event_time, dataframe_type)

    def train_test_split(self, test_size: float | None = None, train_start: Any = None,
                         train_end: Any = None, test_start: Any = None, test_end: Any = None,
                         seed: int | None = None, description: str = "", primary_key: bool = True,
                         event_time: bool = True, dataframe_type: str = "spark") -> tuple[Any, ...]:
        """``X_train, X_test, y_train, y_test``: a random split (``test_size``, ``seed``) or
        by event-time ranges, transformed with the training split's statistics."""
        plan = self._plan(_two(test_size, train_start, train_end, test_start, test_end), seed)
        _, parts, stats = self._new_training(plan, None, None, description, None, None)
        x_train, x_test, y_train, y_test = self._split_out(
            parts, stats, ("train", "test"), primary_key, event_time, dataframe_type)
        return x_train, x_test, y_train, y_test

    def train_validation_test_split(self, validation_size: float | None = None,
                                    test_size: float | None = None, seed: int | None = None,
                                    description: str = "", primary_key: bool = True,
                                    event_time: bool = True, dataframe_type: str = "spark",
                                    **ranges: Any) -> tuple[Any, ...]:
        """``X_train, X_val, X_test, y_train, y_val, y_test`` (random by sizes, or by ranges
        ``train_start`` ... ``test_end``)."""
        plan = self._plan(_three(validation_size, test_size, ranges), seed)
        _, parts, stats = self._new_training(plan, None, None, description, None, None)
        return self._split_out(parts, stats, ("train", "validation", "test"), primary_key,
                               event_time, dataframe_type)

    def create_training_data(self, start_time: Any = None, end_time: Any = None,
                             description: str = "", data_format: str = "parquet",
                             write_options: Mapping[str, Any] | None = None,
                             storage_connector: StorageConnector | str | None = None,
                             location: str = "") -> tuple[int, None]:
        """Write the rows as training dataset ``<view>_<version>``; returns ``(version, None)``
        (no job: the write is done when it returns). ``storage_connector`` (s3, hdfs, file; the
        object or its name): the files go there, to ``location`` under it (default
        ``<view>_<version>_<training data version>``); the split variants take them too."""
        version, _, _ = self._new_training(self._plan(None, None), start_time, end_time,
                                           description, data_format, write_options,
                                           storage_connector, location)
        return version, None

    def create_train_test_split(self, test_size: float | None = None, train_start: Any = None,
                                train_end: Any = None, test_start: Any = None,
                                test_end: Any = None, seed: int | None = None,
                                description: str = "", data_format: str = "parquet",
                                write_options: Mapping[str, Any] | None = None,
                                storage_connector: StorageConnector | str | None = None,
                                location: str = "") -> tuple[int, None]:
        plan = self._plan(_two(test_size, train_start, train_end, test_start, test_end), seed)
        version, _, _ = self._new_training(plan, None, None, description, data_format,
                                           write_options, storage_connector, location)
        return version, None

    def create_train_validation_test_split(self, validation_size: float | None = None,
                                           test_size: float | None = None, seed: int | None = None,
                                           description: str = "", data_format: str = "parquet",
                                           write_options: Mapping[str, Any] | None = None,
                                           storage_connector: StorageConnector | str | None = None,
                                           location: str = "",
                                           **ranges: Any) -> tuple[int, None]:
        plan = self._plan(_three(validation_size, test_size, ranges), seed)
        version, _, _ = self._new_training(plan, None, None, description, data_format,
                                           write_options, storage_connector, location)
        return version, None

    def _training(self, version: int) -> Document:
        docs = self._store.metadata.documents(self._project, FV_TRAINING, self.name, self.version,
                                              version)
        if not docs:
            raise FeatureViewNotFound(f"feature view {self.name} v{self.version} has no training "
                                      f"dataset version {version!r}")
        return docs[0]

    def _materialized(self, version: int, order: Sequence[str], primary_key: bool,
                      event_time: bool, dataframe_type: str) -> tuple[Any, ...]:
        doc = self._training(version)
        if not doc.body.get("materialized"):
            raise InvalidInputError(f"cannot read training dataset {version} of {self.name!r}", [
                "it was made in memory (train_test_split); create_train_test_split writes one"],
                write=False)
        read = self._store.training.read
        parts = [(s, read(self._td_name, version, s or None, "spark", self._project)) for s in order]
        return self._split_out(parts, doc.body["statistics"], order, primary_key, event_time,
                               dataframe_type)

    def get_training_data(self, training_dataset_version: int, primary_key: bool = True,
                          event_time: bool = True, dataframe_type: str = "spark") -> tuple[Any, ...]:
        return self._materialized(training_dataset_version, ("",), primary_key, event_time,
                                  dataframe_type)

    def get_train_test_split(self, training_dataset_version: int, primary_key: bool = True,
                             event_time: bool = True, dataframe_type: str = "spark") -> tuple[Any, ...]:
        x_train, x_test, y_train, y_test = self._materialized(
            training_dataset_version, ("train", "test"), primary_key, event_time, dataframe_type)
        return x_train, x_test, y_train, y_test

    def get_train_validation_test_split(self, training_dataset_version: int,
                                        primary_key: bool = True, event_time: bool = True,
                                        dataframe_type: str = "spark") -> tuple[Any, ...]:
        return self._materialized(training_dataset_version, ("train", "validation", "test"),
                                  primary_key, event_time, dataframe_type)

    # -- batch scoring -------------------------------------------------------------------------
    def _statistics(self, training_dataset_version: int | None, what: str
                    ) -> tuple[int | None, list[dict[str, Any]]]:
        """The statistics of a training dataset version (None: the latest; a view without
        transformations needs none)."""
        if training_dataset_version is None:
            training_dataset_version = self.latest_training_dataset_version()
            if training_dataset_version is None:
                if self.transformation_functions:
                    raise InvalidInputError(f"cannot {what} feature view {self.name!r}", [
                        "its transformations need the statistics of a training dataset "
                        "version: make training data first (train_test_split, "
                        "create_train_test_split, ...)"], write=False)
                return None, []
            log.info("feature view %s v%d: the statistics of training data v%d (the latest)",
                     self.name, self.version, training_dataset_version)
        stats = self._training(training_dataset_version).body["statistics"]
        if len(stats) != len(self.transformation_functions):
            raise FeatureStoreError(f"training data v{training_dataset_version} of {self.name} "
                                    f"v{self.version} holds statistics of {len(stats)} "
                                    f"transformations, the view has "
                                    f"{len(self.transformation_functions)}")
        return training_dataset_version, stats

    def init_batch_scoring(self, training_dataset_version: int | None = None) -> None:
        """Transform batch data with the statistics of this training dataset version (None: the
        latest)."""
        self._scoring = self._statistics(training_dataset_version, "score")

    def get_batch_data(self, start_time: Any = None, end_time: Any = None,
                       primary_key: bool = True, event_time: bool = True,
                       dataframe_type: str = "spark") -> Any:
        """The features (no labels, no helpers) of the latest data, in the event-time window,
        transformed with the statistics ``init_batch_scoring`` chose (the latest by default)."""
        self._check_type(dataframe_type)
        if self._scoring is None:
            self.init_batch_scoring(None)
        assert self._scoring is not None
        df = self._window(self.query.read(), start_time, end_time)
        x, _ = self._xy(df, self._scoring[1], primary_key, event_time, dataframe_type)
        return x

    # -- serving -------------------------------------------------------------------------------
    def latest_training_dataset_version(self) -> int | None:
        """The newest training data version made from this view (None before the first)."""
        docs = self._training_docs()
        return docs[-1].number if docs else None

    @property
    def serving_statistics(self) -> list[dict[str, Any]]:
        """The transformations' statistics ``init_serving`` chose."""
        if self._serving is None:
            self.init_serving(None)
        assert self._serving is not None
        return self._serving[1]

    @property
    def serving_columns(self) -> list[str]:
        """The columns of a vector before its transformations, in order."""
        self.serving_statistics                     # noqa: B018  (initialised by default)
        return list(self._order)

    @property
    def serving_keys(self) -> list[str]:
        """The names an entry of ``get_feature_vector`` gives: the primary key of the query's
        first feature group, and the columns its joined groups are joined on."""
        self.serving_statistics                     # noqa: B018  (initialised by default)
        return list(dict.fromkeys([*self.primary_key, *(left for left, _ in self._join_keys)]))

    def check_skew(self, sample: int = 100, training_dataset_version: int | None = None,
                   seed: int = 0) -> Any:
        """Compare ``sample`` keys' transformed vectors online with the offline path's rows at
        the online tables' commits; a ``skew.SkewReport`` (``ok``, ``differences``)."""
        from .skew import check
        # a handle of its own: this one's serving and scoring settings stay as they are
        return check(FeatureView(self._store, self._project, self.name, self.version, self._body),
                     sample, training_dataset_version, seed)

    def init_serving(self, training_dataset_version: int | None = None, primary_key: bool = True,
                     event_time: bool = True) -> None:
        """Serve vectors from the online store, transformed with the statistics of this
        training dataset version (None: the latest; a view without transformations needs
        none). Every feature group of the query must be online."""
        training_dataset_version, stats = self._statistics(training_dataset_version, "serve")
        query = self.query
        wanted = set(self._x_columns(query.columns, primary_key, event_time))
        self._bounds_in(list(wanted), True, True)
        features, versions, outputs = [], {}, []
        problems = []
        for part in query.parts:
            group = part.group
            if group is None:
                problems.append("the query starts from labels, which the online store has not")
                continue
            if not group.online:
                problems.append(f"feature group {group.name} v{group.version} is not online")
            versions[group.name] = group.version
            for f in part.features:
                if f in wanted and f not in outputs:
                    features.append(f"{group.name}.{f}")
                    outputs.append(f)
        for join in query.joins:
            right = join.right.group
            if join.prefix:
                problems.append(f"{join.right.alias} is joined with prefix {join.prefix!r}: "
                                "serving names features as their feature groups do")
            if right is not None and set(join.right_keys) != set(right.primary_key):
                problems.append(f"{right.name} is joined on {', '.join(join.right_keys)}, not its "
                                f"primary key ({', '.join(right.primary_key)}): it cannot be "
                                "looked up online")
        if problems:
            raise InvalidInputError(f"cannot serve feature view {self.name!r}", problems,
                                    write=False)
        self._join_keys = [(left, right) for join in query.joins
                           for (_, left), right in zip(join.left_keys, join.right_keys)]
        self._order = [c for c in query.columns if c in wanted]
        self._serving = (training_dataset_version, stats, features, versions)

    def _entries(self, entry: Any) -> dict[str, Any]:
        """The online lookup key of an entry: the root's key columns, plus the joined groups'
        keys taken from the columns they are joined on."""
        key = {str(names.feature(k)): v for k, v in entry.items()} if isinstance(entry, Mapping) else entry
        if not isinstance(key, dict):
            return key
        for left, right in self._join_keys:
            if right not in key and left in key:
                key[right] = key[left]
        return key

    def _vectors(self, entries: list[Any], passed: list[Mapping[str, Any] | None],
                 allow_missing: bool) -> list[dict[str, Any]]:
        if self._serving is None:
            self.init_serving(None)
        assert self._serving is not None
        _, stats, features, versions = self._serving
        if len(passed) != len(entries):
            raise InvalidInputError("cannot look up feature vectors", [
                f"{len(passed)} passed_features for {len(entries)} entries: give one (or None) "
                "per entry"], write=False)
        unknown = sorted({str(names.feature(k)) for extra in passed if extra for k in extra}
                         - set(self._order))
        if unknown:
            raise InvalidInputError("cannot look up feature vectors", [
                f"passed_features names {', '.join(unknown)}, not features of the vector "
                f"({', '.join(self._order)})"], write=False)
        server = self._store.vectors.cached_server(features, self._project, versions)
        found = server.get_batch([self._entries(e) for e in entries],
                                 missing="null" if allow_missing else "error")
        out = []
        for vector, extra in zip(found, passed):
            values = {c: vector.get(c) for c in self._order}
            if extra:
                values.update({str(names.feature(k)): tf.plain(v) for k, v in extra.items()})
            out.append(tf.transform_vector(values, self.transformation_functions, stats))
        return out

    def get_feature_vector(self, entry: Mapping[str, Any], passed_features: Mapping[str, Any] | None = None,
                           return_type: str = "list", allow_missing: bool = False) -> Any:
        """One transformed vector by its key (``{"customer_id": 7}``): a list (default), dict,
        one-row pandas DataFrame or numpy array."""
        shaped = _shape(self._vectors([entry], [passed_features], allow_missing), return_type)
        return shaped if return_type == "pandas" else shaped[0]

    def get_feature_vectors(self, entry: Sequence[Mapping[str, Any]],
                            passed_features: Sequence[Mapping[str, Any]] | None = None,
                            return_type: str = "list", allow_missing: bool = False) -> Any:
        """Transformed vectors of many keys, one online query per feature group."""
        passed: list[Mapping[str, Any] | None] = (list(passed_features) if passed_features is not None
                                                    else [None] * len(entry))
        return _shape(self._vectors(list(entry), passed, allow_missing), return_type)


def _shape(vectors: list[dict[str, Any]], return_type: str) -> Any:
    if return_type not in RETURN_TYPES:
        raise InvalidInputError("cannot return feature vectors", [
            f"return type {return_type!r} is not one of {', '.join(RETURN_TYPES)}"], write=False)
    if return_type == "dict":
        return vectors
    if return_type == "list":
        return [list(v.values()) for v in vectors]
    import pandas as pd
    frame = pd.DataFrame.from_records(vectors, columns=list(vectors[0]) if vectors else None)
    return frame.to_numpy() if return_type == "numpy" else frame


def _two(test_size: Any, train_start: Any, train_end: Any, test_start: Any,
         test_end: Any) -> dict[str, Any]:
    if test_size is not None:
        return {"train": 1 - test_size, "test": test_size}
    return {"train": (train_start, train_end), "test": (test_start, test_end)}


def _three(validation_size: Any, test_size: Any, ranges: Mapping[str, Any]) -> dict[str, Any]:
    if validation_size is not None or test_size is not None:
        v, t = validation_size or 0, test_size or 0
        return {"train": 1 - v - t, "validation": v, "test": t}
    return {s: (ranges.get(f"{s}_start"), ranges.get(f"{s}_end"))
            for s in ("train", "validation", "test")}


# -- making and finding views --------------------------------------------------------------------
def _body(store: Store, query: Any, description: str, labels: list[str], helpers: list[str],
          transformations: Sequence[Any]) -> tuple[dict[str, Any], list[str]]:
    from .query import Query
    problems: list[str] = []
    if not isinstance(query, Query):
        return {}, [f"query must be a Query (fg.select_all(), ...join(...)), got {type(query).__name__}"]
    if query.root.group is None:
        problems.append("the query must start from a feature group, not from labels")
    if not isinstance(description, str):
        problems.append(f"description must be a string, got {description!r}")
    columns = query.columns
    problems += [f"label {c!r} is not a feature of the query ({', '.join(columns)})"
                 for c in labels if c not in columns]
    problems += [f"inference helper column {c!r} is not a feature of the query" for c in helpers
                 if c not in columns]
    bounds = [t for t in transformations if isinstance(t, Bound)]
    problems += [f"transformation_functions takes functions bound to features (e.g. "
                 f"min_max_scaler('age')), got {t!r}" for t in transformations
                 if not isinstance(t, Bound)]
    types: dict[str, str] = {}
    for part in query.parts:
        for f in part.features:
            types.setdefault(f, part.type_of(f))
    problems += tf.problems(bounds, {c: t for c, t in types.items() if c in columns and c not in labels},
                            "query without its labels", helpers)
    problems += [f"{b.function.name} is not registered: fs.create_transformation_function(...) "
                 "first" for b in bounds if not b.function.builtin and b.function.source is None]
    body = {"description": description, "query": query.to_dict(), "labels": labels,
            "inference_helper_columns": helpers,
            "transformations": [b.to_dict() for b in bounds]}
    return body, problems


@dataclass(frozen=True)
class FeatureViewSpec:
    """What the three faces hand to ``create``: a feature view version to register."""
    name: str
    query: Any = field(default=None, compare=False, repr=False)
    project: str | None = None                 # None: the configured project
    version: int | None = None                 # None: the next version
    description: str = ""
    labels: tuple[str, ...] = ()
    inference_helper_columns: tuple[str, ...] = ()
    transformation_functions: tuple[Any, ...] = ()

    def __post_init__(self) -> None:            # feature names as stored: see names.feature
        object.__setattr__(self, "labels", tuple(_names(self.labels)))
        object.__setattr__(self, "inference_helper_columns",
                           tuple(_names(self.inference_helper_columns)))
        object.__setattr__(self, "transformation_functions",
                           tuple(self.transformation_functions or ()))


def create(store: Store, spec: FeatureViewSpec) -> FeatureView:
    """Register a feature view version (the next one when ``spec.version`` is None)."""
    name = spec.name
    project = store.ctx.project(spec.project)
    existing = [d.version for d in store.metadata.list_documents(project, FEATURE_VIEW, name)]
    version = spec.version if spec.version is not None else max(existing, default=0) + 1
    problems = identity_problems(name, project, version, False, "feature view")
    if version in existing:
        problems.append(f"version {version} exists already: get_feature_view returns it")
    body, more = _body(store, spec.query, spec.description, list(spec.labels),
                       list(spec.inference_helper_columns), list(spec.transformation_functions))
    problems += more
    for b in (t for t in spec.transformation_functions if isinstance(t, Bound)):
        if not b.function.builtin:       # registered under its name and version?
            try:
                kept = transformation_function(store, b.function.name, b.function.version, project)
            except FeatureViewNotFound as e:
                problems.append(str(e))
                continue
            if kept.source != b.function.source:
                problems.append(f"{b.function.name} v{b.function.version} differs from the "
                                "version registered under that number: register it as a new "
                                "version, or bind get_transformation_function(name, version)")
    if problems:
        raise InvalidInputError(f"cannot create feature view {name!r}", problems)
    if not store.metadata.add_document(Document(project, FEATURE_VIEW, name, version, 0, body, _now())):
        raise InvalidInputError(f"cannot create feature view {name!r}", [
            f"version {version} exists already: get_feature_view returns it"])
    return FeatureView(store, project, name, version, body)


def get(store: Store, name: str, version: int | None = None,
        project: str | None = None) -> FeatureView:
    project = store.ctx.project(project)
    docs = [d for d in store.metadata.list_documents(project, FEATURE_VIEW, name)
            if version is None or d.version == version]
    if not docs:
        raise FeatureViewNotFound(f"no feature view {name!r}" + (
            f" version {version}" if version is not None else "") + f" in project {project}")
    d = docs[-1]
    return FeatureView(store, project, name, d.version, d.body)


def get_all(store: Store, name: str, project: str | None = None) -> list[FeatureView]:
    project = store.ctx.project(project)
    return [FeatureView(store, project, d.name, d.version, d.body)
            for d in store.metadata.list_documents(project, FEATURE_VIEW, name)]
