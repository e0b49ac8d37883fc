"""Train/serve skew of a feature view: for sampled keys, the transformed vectors the online store
serves against the transformed rows the offline path computes for the same keys, at the commits
the online tables were synced to (so that data written since is no difference)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

EXAMPLES = 5


@dataclass
class SkewReport:
    view: str
    version: int
    training_dataset_version: int | None
    sampled: int
    commits: dict[str, int | None]
    missing_online: list[Any] = field(default_factory=list)
    # per output column: keys that differ, with the offline and online values
    differences: dict[str, list[tuple[Any, Any, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing_online and not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {"view": self.view, "version": self.version,
                "training_dataset_version": self.training_dataset_version,
                "sampled": self.sampled, "commits": self.commits, "ok": self.ok,
                "missing_online": self.missing_online[:EXAMPLES],
                "missing_online_count": len(self.missing_online),
                "features": {name: {"differing": len(d), "share": len(d) / max(self.sampled, 1),
                                    "examples": [{"key": k, "offline": off, "online": on}
                                                 for k, off, on in d[:EXAMPLES]]}
                             for name, d in self.differences.items()}}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def check(fv: Any, sample: int = 100, training_dataset_version: int | None = None,
          seed: int = 0) -> SkewReport:
    """Compare ``sample`` keys (drawn with ``seed``) online and offline; see the module."""
    from pyspark.sql import functions as F

    from .errors import InvalidInputError
    from .transformations import apply as tf
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise InvalidInputError("cannot check skew", [f"sample must be a positive integer, got "
                                                      f"{sample!r}"], write=False)
    version = training_dataset_version or fv.latest_training_dataset_version()
    fv.init_serving(version)
    stats = fv.serving_statistics
    query = fv.query
    commits = {p.group.name: p.group.online_commit for p in query.parts if p.group is not None}
    at = replace(query, root=replace(query.root, as_of=commits[query.root.group.name]),
                 joins=tuple(replace(j, right=replace(j.right, as_of=commits[j.right.group.name]))
                             for j in query.joins))
    keys, needed = fv.primary_key, fv.serving_keys
    df = at.read()
    if fv.event_time is not None and fv.event_time in df.columns:   # online: the latest per key
        from .offline.checks import latest_per_key
        df = latest_per_key(df, keys, fv.event_time)
    if (missing := [k for k in needed if k not in df.columns]):
        raise InvalidInputError(f"cannot check skew of feature view {fv.name!r}", [
            f"its query leaves out {', '.join(missing)}, which online lookups are keyed by"],
            write=False)
    chosen = df.select(*keys).distinct().orderBy(F.rand(seed)).limit(sample)
    picked = df.join(chosen, keys, "left_semi")
    # at most ``sample`` rows come to the driver: the keys to look up, and the offline vectors
    entries = {tuple(r[k] for k in keys): r.asDict() for r in picked.select(*needed).collect()}
    offline_rows = tf.transform_frame(picked.select(*fv.serving_columns),
                                      fv.transformation_functions, stats).collect()
    offline = {tuple(r[k] for k in keys): r.asDict() for r in offline_rows}
    online = fv.get_feature_vectors([entries[k] for k in offline], return_type="dict",
                                    allow_missing=True)
    report = SkewReport(fv.name, fv.version, version, len(offline), commits)
    for key, vector in zip(offline, online):
        expected = offline[key]
        shown = key[0] if len(key) == 1 else list(key)
        if all(vector.get(k) is None for k in keys if k in vector) and keys[0] in vector:
            report.missing_online.append(shown)
            continue
        for name, value in expected.items():
            if not _same(value, vector.get(name)):
                report.differences.setdefault(name, []).append((shown, value, vector.get(name)))
    return report
