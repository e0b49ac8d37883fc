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
