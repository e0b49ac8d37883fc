"""Builders of feature view operations, in the camelCase of io.hops.util.Hops.

Examples
--------
>>> (Hops.createFeatureView("churn").setQuery(q).setLabels("churn")
...      .setTransformationFunctions(scaler("tenure")).write())                 # doctest: +SKIP
>>> Hops.getFeatureView("churn").setVersion(1).read()                          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .. import views
from .featuregroup import LabelSetters, NamedBuilder, columns


@dataclass(frozen=True)
class CreateFeatureView(LabelSetters):
    """``Hops.createFeatureView("churn").setQuery(q).setLabels("churn").write()``"""

    def setQuery(self, query: Any) -> CreateFeatureView:
        return self._with(query=query)

    def setDescription(self, description: str) -> CreateFeatureView:
        return self._with(description=description)

    def setLabels(self, *cols: str | Iterable[str]) -> CreateFeatureView:
        return self._with(labels=tuple(c for arg in cols for c in columns(arg)))

    def setInferenceHelperColumns(self, *cols: str | Iterable[str]) -> CreateFeatureView:
        return self._with(inference_helper_columns=tuple(c for arg in cols for c in columns(arg)))

    def setTransformationFunctions(self, *functions: Any) -> CreateFeatureView:
        """Functions bound to features: ``setTransformationFunctions(scaler("age"), ...)`` or a
        list of them."""
        flat = [f for arg in functions for f in (arg if isinstance(arg, (list, tuple)) else [arg])]
        return self._with(transformation_functions=tuple(flat))

    def write(self) -> views.FeatureView:
        """Register the feature view version; returns its handle."""
        self._check_labels()
        view = views.create(self._fs(), self.spec)
        self._label("fv", view.project, view.name, view.version)
        return view


@dataclass(frozen=True)
class GetFeatureView(NamedBuilder):
    """``Hops.getFeatureView("churn").setVersion(1).read()``: the handle (latest version by
    default)."""

    def read(self) -> views.FeatureView:
        return views.get(self._fs(), self.name, self.version, self.project)
