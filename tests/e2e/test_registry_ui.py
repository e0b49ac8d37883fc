"""The registry in a real browser: `featurestore ui` started as a user starts it, Debian's
chromium driven through selenium (conf/chromium/ensure.sh installs it; nothing is downloaded).
Search for a feature, open its group, see its histogram drawn, edit a description and see it
through the API, be refused without the token, see a `<script>` description shown as text, get a
404 page; screenshots of the main pages go to .cache/registry-screenshots/ (git-ignored)."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import time

import pytest

from tests.conftest import ROOT, RUN, settings_env
from tests.unit.helpers import make_registry

SHOTS = ROOT / ".cache" / "registry-screenshots"
XSS = "<script>window.xssRan = true</script> churn <b>bold</b>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    for binary in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert os.access(binary, os.X_OK), f"{binary} is missing: run conf/chromium/ensure.sh"
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1300,1600"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


@pytest.mark.e2e
def test_the_registry_in_a_real_browser(spark, fs_home, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    store = make_registry(spark, fs_home, f"p{RUN}_registry_ui")
    port = free_port()
    env = {**os.environ, **settings_env(fs_home, store.settings.project)}
    log = tmp_path / "ui.log"                  # its log: stdout carries the address only
    ui = subprocess.Popen([str(ROOT / ".venv" / "bin" / "featurestore"), "ui", "--port", str(port)],
                          env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    driver = None
    try:
        ready, _, _ = select.select([ui.stdout], [], [], 60)
        assert ready, f"featurestore ui printed nothing in 60 s: {log.read_text()}"
        first = ui.stdout.readline()
        login = re.search(r"http://\S+\?token=\S+", first)
        assert login, first + log.read_text()
        base = f"http://localhost:{port}"
        for _ in range(300):                                   # until uvicorn listens
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert ui.poll() is None, log.read_text()
            time.sleep(0.1)
        else:
            pytest.fail(f"featurestore ui does not listen on {port}: {log.read_text()}")
        driver = browser()
        # a save posts the form and the page is replaced: an element found just before that
        # goes stale while the wait reads it; look again then
        wait = WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])
        SHOTS.mkdir(parents=True, exist_ok=True)

        def shot(name: str) -> None:
            driver.save_screenshot(str(SHOTS / f"{name}.png"))

        # read-only until the token is given; search for a feature and open its group
        driver.get(base + "/")
        assert driver.find_element(By.CSS_SELECTOR, "header .mode").text == "read-only"
        assert not driver.find_elements(By.CSS_SELECTOR, "details.edit")
        shot("home")
        driver.find_element(By.ID, "search-box").send_keys("tenure")
        driver.find_element(By.ID, "search-button").click()
        hit = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results a.result-link"))
        assert hit.text == "tenure"
        shot("search")
        hit.click()
        assert wait.until(lambda d: d.find_element(By.ID, "name")).text == "customers"
        assert "months as a customer" in driver.find_element(By.ID, "feature-tenure").text
        # the histogram is drawn: an SVG image the browser decoded
        img = driver.find_element(By.CSS_SELECTOR, "img.histogram[alt='histogram of tenure']")
        driver.execute_script("arguments[0].scrollIntoView()", img)
        wait.until(lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", img))
        shot("feature_group")

        # the printed address holds the token: edits appear, and one is seen through the API
        driver.get(login.group(0))
        assert driver.find_element(By.CSS_SELECTOR, "header .mode").text == "editing"
        driver.get(base + "/fg/customers/1")
        driver.find_element(By.CSS_SELECTOR, "#edit-description summary").click()
        box = driver.find_element(By.ID, "description-input")
        box.clear()
        box.send_keys(XSS)
        driver.find_element(By.ID, "description-save").click()
        wait.until(lambda d: d.find_element(By.ID, "description").text == XSS)  # text, markup and all
        assert driver.execute_script("return window.xssRan") is None
        assert not driver.find_elements(By.CSS_SELECTOR, "#description b")
        assert store.get_feature_group("customers", 1).description == XSS
        shot("edited")

        # without the token (the cookie gone), the same edit is refused and nothing changes
        driver.find_element(By.CSS_SELECTOR, "#edit-description summary").click()
        box = driver.find_element(By.ID, "description-input")
        box.clear()
        box.send_keys("hijacked")
        driver.delete_all_cookies()
        driver.find_element(By.ID, "description-save").click()
        assert wait.until(lambda d: d.find_element(By.ID, "error-title")).text == "Edit refused"
        assert store.get_feature_group("customers", 1).description == XSS

        # a missing group is a 404 page; the other pages render
        driver.get(base + "/fg/nosuch/1")
        assert driver.find_element(By.ID, "error-title").text == "Not found"
        assert "nosuch" in driver.find_element(By.ID, "error-message").text
        for path, name, element in (("/provenance", "provenance", "provenance"),
                                    ("/fv/churn/1", "feature_view", "trainings"),
                                    ("/td/churn_1/1", "training_dataset", "made-from")):
            driver.get(base + path)
            assert driver.find_element(By.ID, element).is_displayed(), path
            shot(name)
            if name == "feature_view":                     # its SQL would need Spark's types
                assert driver.find_element(By.ID, "sql-link").text == "Show it as SQL"
        # the UI process read metadata only: it started no Spark (no JVM child)
        children = subprocess.run(["pgrep", "-P", str(ui.pid)], capture_output=True, text=True)
        assert children.stdout.strip() == "", children.stdout
    finally:
        if driver is not None:
            driver.quit()
        ui.terminate()
        ui.wait(timeout=30)
        store.close()
