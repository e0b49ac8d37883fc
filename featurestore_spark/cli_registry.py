"""The CLI's registry command: ``search TEXT`` (metadata only, no Spark)."""

from __future__ import annotations

import argparse
from typing import Any

from .metadata import MetadataStore
from .registry.search import search
from .text import table


def cmd_search(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    found = search(meta, project, " ".join(args.text), args.limit)
    if args.json:
        return found
    if not found:
        return f"nothing in project {project} matches {' '.join(args.text)!r}"
    return table(["type", "name", "in", "versions", "matched", "description"],
                 [(r["type"].replace("_", " "), r["name"],
                   r.get("feature_group") or r.get("feature_view") or "",
                   ", ".join(map(str, r["versions"])), ", ".join(r["matched"]),
                   r["description"][:60]) for r in found])


def cmd_ui(meta: MetadataStore, project: str, args: argparse.Namespace) -> str:
    from dataclasses import replace

    from .config import load_settings
    from .feature_store import FeatureStore
    from .registry.web import serve
    meta.close()
    settings = load_settings(args.conf)
    store = FeatureStore.connect(replace(settings, project=project), spark=False)
    try:
        serve(store, args.host or settings.registry.host, args.port or settings.registry.port,
              settings.registry.token or None)
    finally:
        store.close()
    return "registry stopped"


def cmd_stale(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    from dataclasses import asdict

    from .config import load_settings
    from .feature_store import FeatureStore
    states = FeatureStore.connect(load_settings(args.conf)).stale(project=project)
    args.exit_code = 1 if any(s.stale for s in states) else 0
    if args.json:
        return [asdict(s) for s in states]
    if not states:
        return f"no feature group of project {project} declares dependencies"
    stale = sorted({(s.name, s.version) for s in states if s.stale})
    head = (f"{len(stale)} stale feature group version(s): "
            + ", ".join(f"{n} v{v}" for n, v in stale) if stale else "every feature group is fresh")
    return head + "\n" + table(
        ["feature group", "version", "last commit (UTC)", "dependency", "changed (UTC)", "by", "stale"],
        [(s.name, s.version, f"{s.last_commit} at {s.last_commit_at.isoformat(timespec='seconds')}",
          s.dependency, s.changed_at.isoformat(timespec="seconds") if s.changed_at else "-", s.how,
          "yes" if s.stale else "") for s in states])


def cmd_connectors(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    from .config import load_settings
    from .connectors import Connectors
    found = [c.describe() for c in Connectors(meta, load_settings(args.conf)).list(project)]
    if args.json:
        return found
    def where(c: dict[str, Any]) -> str:
        return c.get("url") or (f"s3a://{c['bucket']}/{c.get('path', '')}" if c.get("bucket")
                                else c.get("path", ""))
    def secret(c: dict[str, Any]) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items()
                         if k.endswith(("_env", "_file")))
    return table(["name", "type", "where", "user", "secrets from", "description"],
                 [(c["name"], c["type"], where(c), c.get("user") or c.get("access_key", ""),
                   secret(c), c.get("description", "") + (" (the project's own)" if c["builtin"]
                                                           else "")) for c in found])


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("search", help="feature groups, features, views and training datasets by "
                       "name, description, keyword or tag (no Spark)")
    s.add_argument("text", nargs="+", help="words to look for (any case)")
    s.add_argument("--limit", type=int, default=50, help="results at most (default 50)")
    s.add_argument("--project", help="default: the configured project")
    s.add_argument("--json", action="store_true", help="JSON for scripts")
    s.set_defaults(func=cmd_search)
    u = sub.add_parser("ui", help="the web registry: search, pages of feature groups, views and "
                       "training datasets, statistics charts, provenance, edits with a token")
    u.add_argument("--host", help="address to listen on (default: [registry] host, 127.0.0.1)")
    u.add_argument("--port", type=int, help="port (default: [registry] port, 8080)")
    u.add_argument("--project", help="default: the configured project")
    u.set_defaults(func=cmd_ui, json=False)
    c = sub.add_parser("connectors", help="the project's storage connectors (no Spark; secrets "
                       "shown by reference only)")
    c.add_argument("--project", help="default: the configured project")
    c.add_argument("--json", action="store_true", help="JSON for scripts")
    c.set_defaults(func=cmd_connectors)
    s = sub.add_parser("stale", help="feature groups whose declared dependencies changed after "
                       "their last commit (Spark; exit 1 when one is stale)")
    s.add_argument("--project", help="default: the configured project")
    s.add_argument("--json", action="store_true", help="JSON for scripts")
    s.set_defaults(func=cmd_stale)
