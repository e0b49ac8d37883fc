"""Delta commits the metadata store does not know, found and registered.

The metadata store is the source of truth, and a write registers its Delta commit right after
making it. Some commits still go unregistered: a writer killed between the two steps, the RESTORE
that undoes a commit whose registration failed (when the metadata store itself failed, that
RESTORE cannot be registered either), or a change made outside the feature store (``DELETE FROM``
or ``OPTIMIZE`` through Spark SQL, another Delta client). Commit ids are Delta versions: a later
commit registered over such a gap would leave reads, history and time travel skipping data.

So before each write, and with ``featurestore check --repair``, the commits of the Delta log the
metadata lacks (after the last registered one, or in a gap before it) are registered, oldest
first, each named for what made it: the write
mode of one of ours (its tag says which), ``undo`` for our RESTOREs, ``external <Delta
operation>`` for the rest; each is logged with a warning. A commit younger than
``IN_FLIGHT_SECONDS`` is left to its writer, which may be registering it right now.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import FeatureStoreError
from ..metadata import Commit, FeatureGroup, MetadataStore
from . import checks
from .delta import DeltaCommit, DeltaEngine

log = logging.getLogger(__name__)

IN_FLIGHT_SECONDS = 60     # a writer registers its commit within seconds of making it


@dataclass(frozen=True)
class Unregistered:
    commit: Commit          # as it is (or would be) registered
    origin: str             # who made it, in words
    in_flight: bool         # too young to be registered by anyone but its writer


def describe(c: DeltaCommit) -> tuple[str, str]:
    """The operation to register a Delta commit under, and who made it, in words."""
    if c.mode == "undo":
        return "undo", "a RESTORE that undid a write whose registration failed"
    if c.mode is not None:
        mode = c.mode if c.mode != "?" else {"MERGE": "upsert", "WRITE": "append"}.get(
            c.operation, c.operation.lower())
        article = "an" if mode[:1] in ("a", "e", "i", "o", "u") else "a"
        return mode, (f"{article} {mode} of this feature store that was never registered (its "
                      "writer stopped between the Delta commit and the metadata)")
    return f"external {c.operation}", f"a {c.operation} made outside the feature store"


def unregistered(offline: DeltaEngine, metadata: MetadataStore, group: FeatureGroup,
                 now: datetime | None = None) -> list[Unregistered]:
    """The commits of ``group``'s Delta log that the metadata store does not have, oldest first:
    after the last registered one, and any gap before it (a commit skipped while in flight whose
    writer never registered it)."""
    known = {c.commit_id for c in metadata.commits(group.project, group.name, group.version)}
    first_gap = next(i for i in itertools.count() if i not in known)
    now = now or datetime.now(timezone.utc)
    found = []
    for c in offline.commits_after(group, first_gap - 1):
        if c.result.version in known:
            continue
        operation, origin = describe(c)
        r = c.result
        commit = Commit(r.version, r.committed_at, operation, r.rows_inserted, r.rows_updated,
                        r.rows_deleted, c.user or "unknown")
        young = (now - r.committed_at).total_seconds() < IN_FLIGHT_SECONDS
        found.append(Unregistered(commit, origin, young))
    return found


def reconcile(offline: DeltaEngine, metadata: MetadataStore, group: FeatureGroup
              ) -> list[Commit]:
    """Register the commits of ``group``'s Delta log that the metadata store does not have (up
    to the first one still in flight); returns them. A schema changed outside the feature store
    in a way a write could not have made (a column dropped or retyped) is an error that says so."""
    found = unregistered(offline, metadata, group)
    settled = []
    for u in found:
        if u.in_flight:
            break
        settled.append(u)
    if not settled:
        return []
    last = settled[-1].commit.commit_id
    newest = max(c.commit_id for c in metadata.commits(group.project, group.name, group.version))
    schema: list[str] = []
    features = group.features      # gaps only: the registered features are newer
    if last > newest:
        schema, features = checks.schema_problems(group, offline.read(group, last), evolve=True)
    if schema:
        ids = ", ".join(str(u.commit.commit_id) for u in settled)
        raise FeatureStoreError(
            f"the Delta table of {group.name} v{group.version} ({group.location}) was changed "
            f"outside the feature store by commit(s) {ids} and no longer matches its features: "
            f"{'; '.join(schema)}. Restore the table to "
            f"commit {settled[0].commit.commit_id - 1} (RESTORE TABLE ... TO VERSION AS OF), or "
            "delete the feature group")
    evolved = group.with_features(features)
    for u in settled:
        log.warning("%s v%d: Delta commit %d (%s) was not registered: registering it now as "
                    "%r (+%d ~%d -%d rows)", group.name, group.version, u.commit.commit_id,
                    u.origin, u.commit.operation, u.commit.rows_inserted, u.commit.rows_updated,
                    u.commit.rows_deleted)
        metadata.add_commit(evolved, u.commit)
    return [u.commit for u in settled]
