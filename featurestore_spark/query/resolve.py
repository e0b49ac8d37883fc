"""Which feature group holds each feature asked for by name, from the metadata alone.

A feature is named in one of three ways:

- ``feature``: the one feature group (among the candidates) that has a feature of that name;
- ``featuregroup.feature``: that feature group (its pinned version, or its latest);
- ``featuregroup_<version>.feature``: that version, as the feature group's table is named in SQL
  (``teams_2.attendance``).

``versions`` pins feature groups to a version (``{"teams": 2}``); the others are read at their
latest version. A name that no candidate has, or that several have, is a problem that lists the
candidates, so that the caller can raise one error naming every problem.

Examples
--------
>>> found = resolve(store.feature_groups(), ["rating", "teams.attendance"])   # doctest: +SKIP
>>> [(f.group.name, f.feature) for f in found.features]                       # doctest: +SKIP
[('players', 'rating'), ('teams', 'attendance')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..metadata import FeatureGroup
from ..names import table_name


@dataclass(frozen=True)
class Found:
    """Where one feature asked for was found: exactly one owner when ``problem`` is None."""
    wanted: str                          # as asked: feature, group.feature or group_v.feature
    feature: str                         # the bare feature name
    owners: tuple[FeatureGroup, ...]     # the feature groups that have it (the candidates)
    problem: str | None = None

    @property
    def group(self) -> FeatureGroup:
        return self.owners[0]


@dataclass(frozen=True)
class Resolution:
    features: tuple[Found, ...]
    problems: tuple[str, ...]            # of the versions asked for and of the features

    def by_group(self) -> list[tuple[FeatureGroup, list[str]]]:
        """The resolved features per feature group, in the order the groups are first named."""
        chosen: dict[tuple[str, int], tuple[FeatureGroup, list[str]]] = {}
        for f in self.features:
            if f.problem is None:
                entry = chosen.setdefault((f.group.name, f.group.version), (f.group, []))
                if f.feature not in entry[1]:
                    entry[1].append(f.feature)
        return list(chosen.values())


def _where(owners: Sequence[FeatureGroup], feature: str) -> str:
    return ", ".join(f"{g.name}.{feature}" for g in owners)


def _nowhere(feature: str, scope: str, current: Mapping[str, FeatureGroup], searched: set[str],
             groups: Sequence[FeatureGroup]) -> str:
    """The problem of a bare ``feature`` that no feature group searched has, naming the other
    versions and feature groups that have it."""
    text = f"no {scope} has a feature named {feature!r}"
    others = [g for g in groups if feature in g.feature_names
              and not (current.get(g.name) is g and g.name in searched)]
    if any(current.get(g.name) is not g for g in others):
        text += " at the version used (the latest, or the one pinned)"
    if others:
        last = others[-1]
        text += (f"; {', '.join(f'{g.name} v{g.version}' for g in others)} has it: name it as "
                 f"featuregroup_<version>.feature, e.g. {table_name(last.name, last.version)}."
                 f"{feature}")
    return text


def resolve(groups: Sequence[FeatureGroup], features: Sequence[str],
            versions: Mapping[str, int] | None = None,
            search: Iterable[str] | None = None, scope: str | None = None) -> Resolution:
    """Find the feature group of each of ``features`` among ``groups`` (one project's feature
    groups, ordered by name and version, as the metadata store lists them).

    Parameters
    ----------
    groups : the feature groups to look in.
    features : ``feature``, ``featuregroup.feature`` or ``featuregroup_<version>.feature`` each.
    versions : feature group name -> version to use (default: each one's latest).
    search : the names of the feature groups a bare ``feature`` is looked for in (default: all).
    scope : what ``search`` is, for messages ("no <scope> has a feature named ...").
    """
    versions = dict(versions or {})
    current: dict[str, FeatureGroup] = {}         # the version used of each feature group
    by_table: dict[str, FeatureGroup] = {}        # name_version -> that version
    for g in groups:                              # ordered by name and version: the last is latest
        by_table[table_name(g.name, g.version)] = g
        if versions.get(g.name, g.version) == g.version:
            current[g.name] = g
    problems = [f"feature group {n} version {v} does not exist" for n, v in versions.items()
                if n not in current]
    if isinstance(features, str) or not features:
        return Resolution((), tuple(problems + ["give a non-empty list of feature names"]))
    searched = set(current) if search is None else set(search)
    scope = scope or ("feature group" if search is None else
                      f"feature group searched ({', '.join(sorted(searched)) or 'none'})")
    found = []
    for wanted in features:
        wanted = wanted.lower() if isinstance(wanted, str) else wanted   # names: case-insensitive
        prefix, _, feature = str(wanted).rpartition(".")
        if not prefix:
            owners = tuple(g for n, g in current.items() if n in searched
                           and feature in g.feature_names)
            if len(owners) == 1:
                problem = None
            elif owners:
                problem = (f"feature {wanted!r} is in {_where(owners, feature)}: name it as "
                           "featuregroup.feature")
            else:
                problem = _nowhere(feature, scope, current, searched, groups)
        else:
            named = [g for g in (current.get(prefix), by_table.get(prefix)) if g is not None]
            owners = tuple(g for g in named if feature in g.feature_names)
            if not named:
                problem = f"{wanted!r}: there is no feature group {prefix!r}"
            elif len(named) == 2:
                problem = (f"{wanted!r}: {prefix!r} names both feature group {prefix} and version "
                           f"{named[1].version} of {named[1].name}: write "
                           f"{prefix}_{named[0].version}.{feature} or "
                           f"{named[1].name}.{feature} with the version pinned")
            elif not owners:
                g = named[0]
                problem = (f"feature {wanted!r}: {g.name} v{g.version} has no feature "
                           f"{feature!r} (its features are {', '.join(g.feature_names)})")
            elif named[0] is not current.get(prefix) and named[0].name in versions \
                    and versions[named[0].name] != named[0].version:
                problem = (f"{wanted!r} names version {named[0].version} of {named[0].name}, but "
                           f"version {versions[named[0].name]} is asked for")
            else:
                problem = None
        found.append(Found(str(wanted), feature, owners, problem))
    problems += [f.problem for f in found if f.problem]
    return Resolution(tuple(found), tuple(problems))
