"""The registry's web UI (``featurestore ui``): Starlette with server-rendered Jinja2 templates
(autoescaped), charts drawn by ``statistics.visualize`` as SVG, no JavaScript.

Pages read the metadata store only; the pages that read feature data or need Spark's types (a
preview of the first rows, a query's SQL) start Spark when they are asked for. Edits
(descriptions, keywords, tags) are POSTed forms that call the API's own methods (and checks), and
need the token printed at start-up: a visit to ``/?token=...`` keeps it in a same-site, HTTP-only
cookie; scripts send it as ``X-Featurestore-Token``. An edit from a page of another origin is
refused (a form of another local port is same-site for cookies), and when it listens on loopback
only requests addressed to a loopback name are answered (no DNS rebinding).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import (ConfigurationError, FeatureGroupNotFound, FeatureStoreError,
                      FeatureViewNotFound, InvalidInputError, TrainingDatasetNotFound)
from . import pages
from .labels import DatasetLabels, Labelled
from .search import search

if TYPE_CHECKING:
    from ..feature_store import FeatureStore

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE, HEADER = "featurestore_token", "x-featurestore-token"
PREVIEW_ROWS = 20
MIN_TOKEN, MAX_FORM = 16, 64 * 1024          # characters of a configured token; bytes of an edit
LARGEST = 2**31 - 1                          # versions and commits in addresses
KINDS = {"fg": "feature group", "fv": "feature view", "td": "training dataset"}
NOT_FOUND = (FeatureGroupNotFound, FeatureViewNotFound, TrainingDatasetNotFound)
LOOPBACK = ["localhost", "127.0.0.1", "::1", "[::1]"]
# (Referrer-Policy no-referrer would make a browser's POST carry "Origin: null": refused below)
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                                      "form-action 'self'"}
SVG_HEADERS = {**HEADERS, "Cache-Control": "no-store",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def app(store: FeatureStore, token: str, allowed_hosts: list[str] | None = None) -> Starlette:
    """The registry of ``store``'s project; edits need ``token``. ``allowed_hosts``: the names
    requests may be addressed to (None: any)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))   # autoescapes .html
    templates.env.filters["json"] = lambda v: json.dumps(v, sort_keys=True)
    spark_lock = threading.Lock()                # one request starts Spark, the others wait

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, {
            "project": store.settings.project, "kinds": KINDS,
            "can_edit": _has_token(request, token), **context}, status_code=status,
            headers=HEADERS)

    def failure(request: Request, e: BaseException, refused: str) -> Response:
        """The page of a failure: 404 for what is missing, 400 for what was refused, else 500
        (logged; never a traceback in the page)."""
        if isinstance(e, NOT_FOUND):
            return render(request, "error.html", 404, title="Not found", message=str(e))
        if isinstance(e, HTTPException) and e.status_code == 404:
            return render(request, "error.html", 404, title="Not found",
                          message=f"nothing at {request.url.path}")
        if isinstance(e, (FeatureStoreError, KeyError)):
            return render(request, "error.html", 400, title=refused,
                          message=e.args[0] if isinstance(e, KeyError) else str(e))
        log.error("registry: %s %s failed", request.method, request.url.path, exc_info=e)
        return render(request, "error.html", 500, title="Something went wrong",
                      message=f"{type(e).__name__}: the log of `featurestore ui` has the details")

    def page(make: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:       # the metadata calls block: off the event loop
                return await run_in_threadpool(make, request)
            except Exception as e:       # noqa: BLE001 - every failure is a page
                return failure(request, e, "Refused")
        return endpoint

    def edit(change: Callable[[Request, dict[str, str]], str]
             ) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes metadata: refused without the token (checked before the body is
        read) or from another origin; back to the page after."""
        async def endpoint(request: Request) -> Response:
            if not _has_token(request, token):
                return render(request, "error.html", 403, title="Edit refused", message=(
                    "edits need the registry's token: open the address `featurestore ui` "
                    "printed (it ends in ?token=...), or send the X-Featurestore-Token header"))
            if (why := _foreign(request)) is not None:
                return render(request, "error.html", 403, title="Edit refused", message=why)
            if not (request.headers.get("content-length") or "0").isdigit() \
                    or int(request.headers.get("content-length") or 0) > MAX_FORM:
                return render(request, "error.html", 413, title="Edit refused",
                              message=f"an edit is a form of at most {MAX_FORM} bytes")
            try:
                form = {k: str(v) for k, v in (await request.form(max_files=0)).items()}
                where = await run_in_threadpool(change, request, form)
            except Exception as e:       # noqa: BLE001 - every failure is a page
                return failure(request, e, "Edit refused")
            return RedirectResponse(where, status_code=303)
        return endpoint

    def started() -> None:
        with spark_lock:
            store.ctx.spark                                     # noqa: B018  (started once)

    # -- pages ----------------------------------------------------------------------------------
    def home(request: Request) -> Response:
        if "token" in request.query_params:            # keep it in a cookie, out of the address
            response = RedirectResponse(request.url.path, status_code=303)
            if _same(request.query_params["token"], token):
                response.set_cookie(_cookie(request), token, httponly=True, samesite="strict")
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
        stats = pages.statistics(store, g, _number(request.query_params.get("commit")))
        old, new = (_number(request.query_params.get(k)) for k in ("from", "to"))
        drift = store.quality.compare(g, old, new) if old is not None and new is not None else None
        return render(request, "group.html", stats=stats, drift=drift, compare=(old, new), **info)

    def preview(request: Request) -> Response:
        g = store.metadata.get_feature_group(store.settings.project, request.path_params["name"],
                                             _version(request))
        started()
        df = store.get_feature_group(g.name, g.version).read().limit(PREVIEW_ROWS)
        return render(request, "preview.html", group=g, columns=df.columns,
                      rows=[list(r) for r in df.collect()])          # PREVIEW_ROWS at most

    def chart(request: Request) -> Response:
        from ..statistics import visualize
        kind, feature = request.path_params["kind"], request.query_params.get("feature", "")
        figures: dict[str, Callable[[Any], Any]] = {
            "histogram": lambda s: visualize.histogram_figure(s, feature),
            "correlations": visualize.correlation_figure, "clusters": visualize.cluster_figure}
        if kind not in figures:
            raise HTTPException(404)
        g = store.metadata.get_feature_group(store.settings.project, request.path_params["name"],
                                             _version(request))
        stats = store.quality.statistics(g, _number(request.query_params.get("commit")))
        svg = io.BytesIO()
        figures[kind](stats).savefig(svg, format="svg")
        return Response(svg.getvalue(), media_type="image/svg+xml", headers=SVG_HEADERS)

    def with_spark(request: Request) -> bool:
        """Whether the page was asked for its SQL rendered with Spark (started here, once)."""
        if "sql" not in request.query_params:
            return False
        started()
        return True

    def dataset_page(request: Request) -> Response:
        return render(request, "dataset.html", **pages.dataset(
            store, request.path_params["name"], _version(request), with_spark(request)))

    def view_page(request: Request) -> Response:
        return render(request, "view.html", **pages.view(
            store, request.path_params["name"], _version(request), with_spark(request)))

    def provenance_page(request: Request) -> Response:
        return render(request, "provenance.html", graph=pages.provenance(store))

    # -- edits: the API's own methods and checks ------------------------------------------------
    def labelled(request: Request) -> Labelled:
        """The handle of the labelled version (a lookup error when it is not registered)."""
        kind, name, version = (request.path_params["kind"], request.path_params["name"],
                               _version(request))
        if kind == "fg":
            return store.get_feature_group(name, version)
        if kind == "fv":
            return store.get_feature_view(name, version)
        if kind == "td":
            return DatasetLabels(store.metadata, store.settings.project, name, int(version or 0))
        raise HTTPException(404)

    def back(request: Request) -> str:
        p = request.path_params
        return f"/{p['kind']}/{p['name']}/{p['version']}"

    def feature(form: dict[str, str]) -> str | None:
        return form.get("feature") or None

    def describe(request: Request, form: dict[str, str]) -> str:
        if request.path_params["kind"] != "fg":
            labelled(request)                                  # a 404 for what is not there
            raise InvalidInputError("cannot edit the description", [
                f"the description of a {KINDS[request.path_params['kind']]} is given when it "
                "is made"])
        if "description" not in form:
            raise InvalidInputError("cannot edit the description", [
                "the form has no description field"])
        handle = store.get_feature_group(request.path_params["name"], _version(request))
        if (name := feature(form)) is not None:
            handle.update_feature_description(name, form["description"])
        else:
            handle.update_description(form["description"])
        return back(request)

    def add_keywords(request: Request, form: dict[str, str]) -> str:
        labelled(request).add_keywords([w for w in form.get("keywords", "").split(",")
                                        if w.strip()], feature(form))
        return back(request)

    def delete_keyword(request: Request, form: dict[str, str]) -> str:
        labelled(request).delete_keyword(form.get("keyword", ""), feature(form))
        return back(request)

    def put_tag(request: Request, form: dict[str, str]) -> str:
        try:
            value = json.loads(form.get("value", ""))
        except (json.JSONDecodeError, RecursionError) as e:
            raise InvalidInputError(f"cannot tag {request.path_params['name']}", [
                f"a tag's value is JSON (a string in double quotes): {e}"]) from None
        labelled(request).add_tag(form.get("tag", ""), value, feature(form))
        return back(request)

    def delete_tag(request: Request, form: dict[str, str]) -> str:
        labelled(request).delete_tag(form.get("tag", ""), feature(form))
        return back(request)

    async def not_found(request: Request, exc: Exception) -> Response:
        return failure(request, HTTPException(404), "Refused")

    labelled_at = "/{kind:str}/{name:str}/{version:int}"
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
        Route(labelled_at + "/description", edit(describe), methods=["POST"]),
        Route(labelled_at + "/keywords", edit(add_keywords), methods=["POST"]),
        Route(labelled_at + "/keywords/delete", edit(delete_keyword), methods=["POST"]),
        Route(labelled_at + "/tags", edit(put_tag), methods=["POST"]),
        Route(labelled_at + "/tags/delete", edit(delete_tag), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ], exception_handlers={404: not_found}, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])])


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())      # bytes: any characters


def _cookie(request: Request) -> str:
    """The cookie of this registry's port (cookies are shared by every port of a host)."""
    return f"{COOKIE}_{request.url.port or 80}"


def _has_token(request: Request, token: str) -> bool:
    return any(given and _same(given, token) for given in (
        request.headers.get(HEADER), request.cookies.get(_cookie(request))))


def _foreign(request: Request) -> str | None:
    """Why an edit comes from a page of another origin (another port of this host is one: it is
    the same site for cookies), or None. Browsers send Origin (and Sec-Fetch-Site) with a POST;
    a script sending the header token sends neither."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        return f"an edit from a page of {origin} is refused: edits come from the registry's pages"
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return "an edit from a page of another site is refused"
    return None


def _version(request: Request) -> int | None:
    version = request.path_params.get("version")
    if version is not None and version > LARGEST:
        raise HTTPException(404)
    return version


def _number(value: str | None) -> int | None:
    """A commit id given in the address (None when absent)."""
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) > LARGEST:
        raise InvalidInputError("cannot show the page", [f"{value!r} is not a commit id"],
                                write=False)
    return int(value)


def serve(store: FeatureStore, host: str = "127.0.0.1", port: int = 8080,
          token: str | None = None) -> None:
    """Run the registry until interrupted (the address with the token is printed first)."""
    import uvicorn
    if token is not None and len(token) < MIN_TOKEN:
        raise ConfigurationError(f"the registry's token ([registry] token) must have at least "
                                 f"{MIN_TOKEN} characters")
    token = token or new_token()
    loopback = host in LOOPBACK
    shown = "localhost" if loopback else host
    print(f"feature registry of project {store.settings.project}: "
          f"http://{shown}:{port}/?token={token}\n(open that address to edit; without the token "
          f"pages are read-only)", flush=True)
    if not loopback:
        log.warning("the registry listens on %s: anyone who can reach it reads the metadata, and "
                    "the token travels unencrypted (plain HTTP)", host)
    uvicorn.run(app(store, token, LOOPBACK if loopback else None), host=host, port=port,
                log_level="warning")
