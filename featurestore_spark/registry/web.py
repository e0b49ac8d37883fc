"""The registry's web UI (``featurestore ui``): Starlette with server-rendered Jinja2 templates
(autoescaped), charts drawn by ``statistics.visualize`` as SVG, no JavaScript.

Pages read the metadata store only; the one page that reads feature data (a preview of the first
rows) starts Spark when it is asked for. Edits (descriptions, keywords, tags) are POSTed forms
that go through the same checks as the API, and need the token printed at start-up: a visit to
``/?token=...`` keeps it in a same-site cookie; scripts send it as ``X-Featurestore-Token``.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import (FeatureGroupNotFound, FeatureStoreError, FeatureViewNotFound,
                      InvalidInputError, TrainingDatasetNotFound)
from ..metadata.base import Subject
from . import pages
from .labels import keyword_list, put_tag
from .search import search

if TYPE_CHECKING:
    from ..feature_store import FeatureStore

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE, HEADER = "featurestore_token", "x-featurestore-token"
PREVIEW_ROWS = 20
KINDS = {"fg": "feature group", "fv": "feature view", "td": "training dataset"}
NOT_FOUND = (FeatureGroupNotFound, FeatureViewNotFound, TrainingDatasetNotFound)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def app(store: FeatureStore, token: str) -> Starlette:
    """The registry of ``store``'s project; edits need ``token``."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))   # autoescapes .html
    templates.env.filters["json"] = lambda v: json.dumps(v, sort_keys=True)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, {
            "project": store.settings.project, "kinds": KINDS,
            "can_edit": _has_token(request, token), **context}, status_code=status)

    def page(make: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool
            try:       # the metadata calls block: off the event loop
                return await run_in_threadpool(make, request)
            except NOT_FOUND as e:
                return render(request, "error.html", 404, title="Not found", message=str(e))
            except FeatureStoreError as e:
                return render(request, "error.html", 400, title="Refused", message=str(e))
        return endpoint

    def edit(change: Callable[[Request, dict[str, str]], str]
             ) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes metadata: refused without the token; back to the page after."""
        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool
            form = {k: str(v) for k, v in (await request.form()).items()}
            if not _has_token(request, token, form.get("token")):
                return render(request, "error.html", 403, title="Edit refused", message=(
                    "edits need the registry's token: open the address `featurestore ui` "
                    "printed (it ends in ?token=...), or send the X-Featurestore-Token header"))
            try:
                where = await run_in_threadpool(change, request, form)
            except NOT_FOUND as e:
                return render(request, "error.html", 404, title="Not found", message=str(e))
            except (FeatureStoreError, KeyError) as e:
                return render(request, "error.html", 400, title="Edit refused",
                              message=e.args[0] if isinstance(e, KeyError) else str(e))
            return RedirectResponse(where, status_code=303)
        return endpoint

    # -- pages ----------------------------------------------------------------------------------
    def home(request: Request) -> Response:
        if "token" in request.query_params:            # keep it in a cookie, out of the address
            response = RedirectResponse(request.url.path, status_code=303)
            if hmac.compare_digest(request.query_params["token"], token):
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return render(request, "home.html", **pages.home(store))

    def search_page(request: Request) -> Response:
        text = request.query_params.get("q", "").strip()
        results = [pages.result_links(r) for r in
                   (search(store.metadata, store.settings.project, text) if text else [])]
        return render(request, "search.html", q=text, results=results)

    def group_page(request: Request) -> Response:
        info = pages.group(store, request.path_params["name"], _version(request))
        g = info["group"]
        commit = _int(request.query_params.get("commit"))
        stats = pages.statistics(store, g, commit)
        old, new = (_int(request.query_params.get(k)) for k in ("from", "to"))
        drift = store.quality.compare(g, old, new) if old is not None and new is not None else None
        return render(request, "group.html", stats=stats, drift=drift, compare=(old, new), **info)

    def preview(request: Request) -> Response:
        name, version = request.path_params["name"], _version(request)
        g = store.metadata.get_feature_group(store.settings.project, name, version)
        df = store.get_feature_group(g.name, g.version).read().limit(PREVIEW_ROWS)
        return render(request, "preview.html", group=g, columns=df.columns,
                      rows=[list(r) for r in df.collect()])          # PREVIEW_ROWS at most

    def chart(request: Request) -> Response:
        from ..statistics import visualize
        g = store.metadata.get_feature_group(store.settings.project, request.path_params["name"],
                                             _version(request))
        stats = store.quality.statistics(g, _int(request.query_params.get("commit")))
        kind, feature = request.path_params["kind"], request.query_params.get("feature", "")
        figures = {"histogram": lambda: visualize.histogram_figure(stats, feature),
                   "correlations": lambda: visualize.correlation_figure(stats),
                   "clusters": lambda: visualize.cluster_figure(stats)}
        if kind not in figures:
            raise HTTPException(404, f"no chart {kind!r}")
        svg = io.BytesIO()
        figures[kind]().savefig(svg, format="svg")
        return Response(svg.getvalue(), media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

    def dataset_page(request: Request) -> Response:
        return render(request, "dataset.html", **pages.dataset(
            store, request.path_params["name"], _version(request), "sql" in request.query_params))

    def view_page(request: Request) -> Response:
        return render(request, "view.html", **pages.view(
            store, request.path_params["name"], _version(request), "sql" in request.query_params))

    def provenance_page(request: Request) -> Response:
        return render(request, "provenance.html", graph=pages.provenance(store))

    # -- edits: the API's own calls and checks ----------------------------------------------------
    def subject(request: Request, feature: str = "") -> Subject:
        """The labelled version, checked to exist (a lookup error otherwise)."""
        kind, name = request.path_params["kind"], request.path_params["name"]
        version = int(request.path_params["version"])
        project, meta = store.settings.project, store.metadata
        if kind == "fg":
            g = meta.get_feature_group(project, name, version)
            if feature and feature not in g.feature_names:
                raise InvalidInputError(f"cannot label {name} v{version}",
                                        [f"it has no feature {feature!r}"])
        elif kind == "td":
            meta.get_training_dataset(project, name, version)
        else:
            store.get_feature_view(name, version)
        return Subject(project, kind, name, version, feature)

    def back(request: Request) -> str:
        p = request.path_params
        return f"/{p['kind']}/{p['name']}/{p['version']}"

    def describe(request: Request, form: dict[str, str]) -> str:
        p = request.path_params
        if p["kind"] != "fg":
            raise InvalidInputError("cannot edit the description", [
                f"descriptions of a {KINDS.get(p['kind'], p['kind'])} are set when it is made"])
        handle = store.get_feature_group(p["name"], int(p["version"]))
        if form.get("feature"):
            handle.update_feature_description(form["feature"], form.get("description", ""))
        else:
            handle.update_description(form.get("description", ""))
        return back(request)

    def add_keywords(request: Request, form: dict[str, str]) -> str:
        s = subject(request, form.get("feature", ""))
        store.metadata.add_keywords(s, keyword_list(
            [w for w in form.get("keywords", "").split(",") if w.strip()]))
        return back(request)

    def delete_keyword(request: Request, form: dict[str, str]) -> str:
        if not store.metadata.delete_keyword(subject(request, form.get("feature", "")),
                                             form.get("keyword", "")):
            raise KeyError(f"no keyword {form.get('keyword', '')!r} to delete")
        return back(request)

    def put(request: Request, form: dict[str, str]) -> str:
        try:
            value = json.loads(form.get("value", ""))
        except json.JSONDecodeError as e:
            raise InvalidInputError(f"cannot tag {request.path_params['name']}", [
                f"a tag's value is JSON (a string in double quotes): {e}"]) from None
        put_tag(store.metadata, subject(request, form.get("feature", "")), form.get("tag", ""), value)
        return back(request)

    def delete_tag(request: Request, form: dict[str, str]) -> str:
        if not store.metadata.delete_tag(subject(request, form.get("feature", "")),
                                         form.get("tag", "")):
            raise KeyError(f"no tag {form.get('tag', '')!r} to delete")
        return back(request)

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 404, title="Not found",
                      message=f"nothing at {request.url.path}")

    labelled = "/{kind:str}/{name:str}/{version:int}"
    return Starlette(routes=[
        Route("/", page(home)),
        Route("/search", page(search_page)),
        Route("/provenance", page(provenance_page)),
        Route("/fg/{name:str}", page(group_page)),
        Route("/fg/{name:str}/{version:int}", page(group_page)),
        Route("/fg/{name:str}/{version:int}/preview", page(preview)),
        Route("/fg/{name:str}/{version:int}/chart/{kind:str}.svg", page(chart)),
        Route("/td/{name:str}", page(dataset_page)),
        Route("/td/{name:str}/{version:int}", page(dataset_page)),
        Route("/fv/{name:str}", page(view_page)),
        Route("/fv/{name:str}/{version:int}", page(view_page)),
        Route(labelled + "/description", edit(describe), methods=["POST"]),
        Route(labelled + "/keywords", edit(add_keywords), methods=["POST"]),
        Route(labelled + "/keywords/delete", edit(delete_keyword), methods=["POST"]),
        Route(labelled + "/tags", edit(put), methods=["POST"]),
        Route(labelled + "/tags/delete", edit(delete_tag), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ], exception_handlers={404: not_found})


def _has_token(request: Request, token: str, given: str | None = None) -> bool:
    for candidate in (given, request.headers.get(HEADER), request.cookies.get(COOKIE)):
        if candidate and hmac.compare_digest(candidate, token):
            return True
    return False


def _version(request: Request) -> int | None:
    return request.path_params.get("version")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise InvalidInputError("cannot show the page", [f"{value!r} is not a commit id"],
                                write=False) from None


def serve(store: FeatureStore, host: str = "127.0.0.1", port: int = 8080,
          token: str | None = None) -> None:
    """Run the registry until interrupted (the address with the token is printed first)."""
    import uvicorn
    token = token or new_token()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    print(f"feature registry of project {store.settings.project}: "
          f"http://{shown}:{port}/?token={token}\n(open that address to edit; without the token "
          f"pages are read-only)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the registry listens on %s: anyone who can reach it can read the metadata",
                    host)
    uvicorn.run(app(store, token), host=host, port=port, log_level="warning")
