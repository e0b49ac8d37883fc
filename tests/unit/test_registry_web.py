"""The registry's web app in process (Starlette's TestClient over a real store): every page of a
feature group with statistics, a view and its training dataset, provenance; edits through the
API's checks, only with the token and only from the registry's own pages; text escaped; 404 and
error pages, never a trace. The pages' store does not start Spark (this process runs a session
for the fixtures, so that no JVM starts is checked in tests/e2e/test_registry_ui.py, which drives
`featurestore ui` in a browser)."""

from __future__ import annotations

import html

import pytest
from starlette.testclient import TestClient

from featurestore_spark.config import load_settings
from featurestore_spark.feature_store import FeatureStore
from featurestore_spark.metadata.base import Subject
from featurestore_spark.registry import web

from ..conftest import ROOT, RUN, settings_env
from .helpers import make_registry

TOKEN = "test-token"
XSS = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def registry(spark, fs_home):
    store = make_registry(spark, fs_home, f"p{RUN}_registry_web")
    yield store
    store.close()


@pytest.fixture
def client(registry, fs_home):
    """A client of an app over a store of its own that has not started Spark."""
    settings = load_settings(ROOT / "conf" / "featurestore.toml",
                             settings_env(fs_home, registry.settings.project))
    store = FeatureStore.connect(settings, spark=False)
    with TestClient(web.app(store, TOKEN)) as c:
        c.store = store
        yield c
    store.close()


def test_pages_show_the_metadata_and_start_no_spark(client):
    home = client.get("/")
    assert home.status_code == 200
    for text in ('href="/fg/customers/1"', 'href="/fv/churn/1"', 'href="/td/churn_1/1"',
                 "who our customers are", "read-only"):
        assert text in home.text, text
    group = client.get("/fg/customers/1").text
    for text in ("customer_id", "primary key", "months as a customer", "retention", "owner",
                 "{&#34;team&#34;: &#34;growth&#34;}", "<td>create</td>",
                 "histogram.svg?commit=1&amp;feature=tenure", "Change between two commits"):
        assert text in group, text
    assert client.get("/fg/customers").text == group                    # the latest version
    drift = client.get("/fg/customers/1?from=0&to=1").text
    assert 'id="drift"' in drift and "tenure" in drift and 'id="drift-chart"' in drift
    psi = client.store.quality.compare(client.store.feature_group("customers"), 0, 1)[
        "features"]["tenure"]["psi"]
    assert f'width="{min(psi, 0.5) * 700}"' in drift                 # the bar of tenure
    svg = client.get("/fg/customers/1/chart/histogram.svg?commit=1&feature=tenure")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    for chart in ("correlations", "clusters"):
        assert client.get(f"/fg/customers/1/chart/{chart}.svg").status_code == 200
    view = client.get("/fv/churn/1").text
    assert "churn model features" in view and "churned" in view and "VERSION AS OF" in view
    assert 'href="/td/churn_1/1"' in view
    dataset = client.get("/td/churn_1/1").text
    assert "parquet" in dataset and 'href="/fv/churn/1"' in dataset and "commit read" in dataset
    graph = client.get("/provenance").text
    assert "customers v1" in graph and "churn v1" in graph and "churn_1 v1" in graph
    assert graph.count("<line") >= 2                                     # fg -> fv -> td
    results = client.get("/search", params={"q": "tenure"}).text
    assert 'href="/fg/customers/1#feature-tenure"' in results
    assert client.store.spark_started is False


def test_missing_things_are_404_pages_and_nothing_is_a_trace(client, registry):
    for path in ("/fg/nosuch/1", "/fg/customers/9", "/fv/nosuch", "/td/nosuch/2", "/nowhere",
                 "/fg/customers/1/chart/pie.svg", "/fg/customers/99999999999999999999",
                 "/td/churn_1/99999999999999999999"):
        r = client.get(path)
        assert r.status_code == 404 and "Not found" in r.text and "Traceback" not in r.text, path
    for query in ("commit=abc", "commit=-1", "from=0&to=99999999999999999999"):
        bad = client.get(f"/fg/customers/1?{query}")
        assert bad.status_code == 400 and "is not a commit id" in html.unescape(bad.text), query
    # tokens of any characters are compared, not a crash (a cookie any local page can set)
    assert client.get("/", headers={"Cookie": "featurestore_token_80=é".encode(),
                                    "X-Featurestore-Token": "ü".encode()}).status_code == 200
    assert client.get("/?token=é", follow_redirects=False).status_code == 303
    # a failure the registry does not expect is a page too, logged
    with TestClient(web.app(registry, TOKEN), raise_server_exceptions=False) as broken:
        registry_metadata = registry.ctx.metadata
        try:
            registry.ctx.metadata = None                          # every metadata call fails
            r = broken.get("/fg/customers/1")
        finally:
            registry.ctx.metadata = registry_metadata
    assert r.status_code == 500 and "Something went wrong" in r.text and "Traceback" not in r.text


def test_only_loopback_names_are_answered_when_it_listens_on_loopback(registry):
    with TestClient(web.app(registry, TOKEN, web.LOOPBACK), base_url="http://localhost:8080") as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"Host": "rebound.example:8080"}).status_code == 400


def test_edits_need_the_token_and_go_through_the_api_checks(client, registry):
    fg = registry.get_feature_group("customers", 1)
    refused = client.post("/fg/customers/1/description", data={"description": "hijacked"},
                          follow_redirects=False)
    assert refused.status_code == 403 and "need the registry's token" in html.unescape(refused.text)
    assert client.post("/fg/customers/1/description", follow_redirects=False,
                       data={"description": "x", "token": "wrong"}).status_code == 403
    assert fg.description == "who our customers are"
    # the token in the address becomes a cookie (and leaves the address)
    login = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    assert "featurestore_token_80=" in login.headers["set-cookie"]          # this port's cookie
    for flag in ("HttpOnly", "SameSite=strict"):
        assert flag in login.headers["set-cookie"]
    assert "editing" in client.get("/").text
    # a page of another origin (another local port is the same site) cannot edit
    foreign = client.post("/fg/customers/1/description", data={"description": "csrf"},
                          headers={"Origin": "http://localhost:8888"})
    assert foreign.status_code == 403 and "http://localhost:8888" in html.unescape(foreign.text)
    assert client.post("/fg/customers/1/description", data={"description": "csrf"},
                       headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert fg.description == "who our customers are"
    saved = client.post("/fg/customers/1/description", data={"description": XSS},
                        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/fg/customers/1"
    assert fg.description == XSS                                         # seen through the API
    page = client.get("/fg/customers/1").text
    assert XSS not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    client.post("/fg/customers/1/description", data={"feature": "tier", "description": "plan"})
    assert fg.get_feature("tier").description == "plan"
    client.post("/fg/customers/1/keywords", data={"keywords": "churn, b2c", "feature": "tier"})
    assert fg.get_keywords("tier") == ["b2c", "churn"]
    client.post("/fg/customers/1/keywords/delete", data={"keyword": "b2c", "feature": "tier"})
    assert fg.get_keywords("tier") == ["churn"]
    client.post("/fv/churn/1/tags", data={"tag": "stage", "value": '"production"'})
    assert registry.get_feature_view("churn", 1).get_tags() == {"stage": "production"}
    client.post("/td/churn_1/1/tags", data={"tag": "reviewed", "value": "true"})
    client.post("/td/churn_1/1/tags/delete", data={"tag": "reviewed"})
    assert registry.metadata.tags(Subject(registry.settings.project, "td", "churn_1", 1)) == {}
    # refused as the API refuses, nothing kept
    registry.create_tag_schema("owner", {"type": "object", "required": ["team"]})
    for path, data, why in (
            ("/fg/customers/1/tags", {"tag": "owner", "value": '{"name": 1}'}, "'team' is a required"),
            ("/fg/customers/1/tags", {"tag": "ok", "value": "not json"}, "a tag's value is JSON"),
            ("/fg/customers/1/tags", {"tag": "bad name!", "value": "1"},
             "tag name 'bad name!' is invalid"),
            ("/fg/customers/1/tags", {"tag": "deep", "value": "[" * 5000}, "a tag's value is JSON"),
            ("/fg/customers/1/keywords", {"keywords": "a" * 300}, "is not a keyword: 1-63"),
            ("/fg/customers/1/description", {"feature": "nosuch", "description": "x"}, "nosuch"),
            ("/fg/customers/1/description", {}, "the form has no description field"),
            ("/fg/customers/1/tags/delete", {"tag": "never"}, "no tag 'never' to delete"),
            ("/fv/churn/1/tags", {"tag": "t", "value": "1", "feature": "tenure"},
             "a view's features are labelled on their feature groups"),
            ("/td/churn_1/1/keywords", {"keywords": "k", "feature": "ghost"},
             "a training dataset is labelled as a whole"),
            ("/fv/churn/1/description", {"description": "x"}, "is given when it is made")):
        r = client.post(path, data=data)
        assert r.status_code == 400 and why in html.unescape(r.text), (path, r.text[-600:])
    assert fg.get_tags() == {"owner": {"team": "growth"}}
    assert fg.description == "who our customers are" or fg.description == XSS
    for path in ("/xx/churn/1/tags", "/fv.td/churn/1/tags", "/fg/nosuch/1/tags", "/td/churn_1/7/tags"):
        assert client.post(path, data={"tag": "t", "value": "1"}).status_code == 404, path
    assert registry.get_feature_view("churn", 1).get_tags() == {"stage": "production"}
    # feature names in any case, as the API takes them
    client.post("/fg/customers/1/keywords", data={"keywords": "plan", "feature": "TIER"})
    assert "plan" in fg.get_keywords("tier")    # a script sends the token as a header
    client.cookies.clear()
    r = client.post("/fg/customers/1/description", data={"description": "who they are"},
                    headers={"X-Featurestore-Token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and fg.description == "who they are"
    too_big = client.post("/fg/customers/1/description", headers={"X-Featurestore-Token": TOKEN},
                          data={"description": "x" * (web.MAX_FORM + 1)})
    assert too_big.status_code == 413 and fg.description == "who they are"
    fg.update_description("who our customers are")       # as the other tests expect it


def test_the_preview_reads_the_first_rows_through_spark(registry):
    with TestClient(web.app(registry, TOKEN)) as c:
        page = c.get("/fg/customers/1/preview").text
    assert page.count("<tr>") == 1 + web.PREVIEW_ROWS and "customer_id" in page
