"""The browser test (``make test-ui``): a person's path through the Airflow UI and the MLflow UI.

It starts the stack with ``make ui`` on a temporary state (its own AIRFLOW_HOME and AUTOML_HOME and
free ports, log servers included, so it neither clobbers nor depends on the state of ``make demo``),
with the project's real ``dags/`` folder and schedules off (``--no-schedules``: unpausing the demo DAG
from the trigger form must not also start its nightly interval). Then Debian's ``/usr/bin/chromium``,
driven by Selenium through ``/usr/bin/chromedriver`` (nothing downloaded):

1. logs in with the generated password, opens the demo DAG, triggers it from the trigger form with
   ``n_trials`` changed to 3, and waits for the run to succeed;
2. follows the "MLflow run" extra link of ``create_study`` to the MLflow parent run, whose page must
   show the trials (child runs) and the chosen ``n_trials``, and link back to the Airflow DAG run;
3. checks the "MLflow run" / "MLflow experiment" links of the mapped trial slot, and the plots
   (HTML report and PNGs) among the parent run's artifacts;
4. stops everything with ``make ui-stop`` and checks that no process of the stack is left.

Screenshots go to ``ui-screenshots/`` (git-ignored; ``AUTOML_UI_SCREENSHOTS`` moves it), one per step,
plus ``FAILED-<step>.png`` and its page source when a step fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "automl_demo_breast_cancer"
N_TRIALS = 3  # the changed parameter (the demo config says 24)
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("AUTOML_UI_SCREENSHOTS") or ROOT / "ui-screenshots")
RUN_TIMEOUT_S = 600
PLOTS = {
    "study_report.html",
    "optimization_history.png",
    "param_importances.png",
    "parallel_coordinate.png",
    "intermediate_values.png",
}


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _json(url: str, data: dict[str, Any] | None = None, token: str | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (loopback)
        return json.loads(r.read())


def _group_alive(pgid: int) -> bool:
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return any(not s.startswith("Z") for s in out)


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """``make ui`` on a temporary state and free ports; ``make ui-stop`` afterwards, nothing left running."""
    for exe in (CHROMIUM, CHROMEDRIVER):
        assert os.access(exe, os.X_OK), f"{exe} missing: run `make browser-deps` (apt chromium chromium-driver)"
    tmp = Path(tempfile.mkdtemp(prefix="automl-ui-test-"))
    a_port, m_port, w_port, t_port = _free_ports(4)
    ui_args = (
        f"--airflow-home {tmp / 'airflow'} --automl-home {tmp / 'automl'} --airflow-port {a_port} "
        f"--mlflow-port {m_port} --worker-log-port {w_port} --trigger-log-port {t_port} --no-schedules --timeout 300"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOML_", "MLFLOW_"))}
    started = time.time()
    start = subprocess.run(
        ["make", "-s", "ui", f"UI_ARGS={ui_args}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=420
    )
    state_file = tmp / "airflow" / "ui.json"
    pids = json.loads(state_file.read_text()) if state_file.exists() else {}
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        print(f"make ui: up in {time.time() - started:.0f} s\n{start.stdout}")
        login = json.loads((tmp / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        user, password = next(iter(login.items()))
        assert f"{user} / {password}" in start.stdout  # make ui prints the login
        yield {
            "airflow": f"http://127.0.0.1:{a_port}",
            "mlflow": f"http://127.0.0.1:{m_port}",
            "user": user,
            "password": password,
            "home": tmp,
        }
    finally:
        stop = subprocess.run(
            ["make", "-s", "ui-stop", f"UI_ARGS={ui_args}"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        left = [name for name in ("airflow", "mlflow") if pids.get(name) and _group_alive(pids[name])]
        busy = []
        for port in (a_port, m_port, w_port, t_port):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(port)
        logs = tmp / "airflow" / "ui-logs"
        if SHOTS.exists() and logs.exists():  # keep the services' logs beside the screenshots
            for log in logs.iterdir():
                shutil.copy(log, SHOTS / f"service-{log.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert not left, f"process groups still running after make ui-stop: {left}"
        assert not busy, f"ports still served after make ui-stop: {busy}"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    profile = tempfile.mkdtemp(prefix="automl-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to fetch a driver
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Steps:
    """Numbered steps; a screenshot after each, and the screen and page source of the one that fails."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver, self.n = driver, 0

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{self.n:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.n += 1
        started = time.time()
        try:
            yield
        except BaseException:
            with contextlib.suppress(WebDriverException):
                self.driver.save_screenshot(str(SHOTS / f"FAILED-{self.n:02d}-{name}.png"))
                (SHOTS / f"FAILED-{self.n:02d}-{name}.html").write_text(self.driver.page_source)
            raise
        self.shot(name)
        print(f"step {self.n:02d} {name}: {time.time() - started:.1f} s")


def _wait(driver: WebDriver, timeout: float = 60) -> WebDriverWait:
    return WebDriverWait(driver, timeout, poll_frequency=0.5)


def _visible(driver: WebDriver, css: str, timeout: float = 60) -> Any:
    return _wait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def _link(driver: WebDriver, text: str, timeout: float = 60) -> Any:
    return _wait(driver, timeout).until(
        EC.visibility_of_element_located((By.XPATH, f"//a[normalize-space()='{text}']"))
    )


def _body_has(driver: WebDriver, *texts: str, timeout: float = 60) -> None:
    def seen(d: WebDriver) -> bool:
        body = d.find_element(By.TAG_NAME, "body").text
        return all(t in body for t in texts)

    _wait(driver, timeout).until(seen, f"page never showed all of {texts}")


def test_trigger_from_the_ui_and_follow_the_links_to_mlflow(stack: dict[str, Any], browser: WebDriver) -> None:
    d, s = browser, Steps(browser)
    airflow, mlflow = stack["airflow"], stack["mlflow"]

    with s.step("login"):
        d.get(f"{airflow}/")
        _visible(d, "input[name=username]").send_keys(stack["user"])
        d.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(stack["password"])
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _visible(d, "[data-testid=nav-dags-link]")

    with s.step("demo-dag"):
        d.get(f"{airflow}/dags/{DAG_ID}")  # the dag-processor parses the DAG file first: allow for it
        _visible(d, "[data-testid=trigger-dag-button]", timeout=120)
        _body_has(d, DAG_ID, "create_study", "run_trial", "register_model")

    with s.step("trigger-form"):
        d.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-button]").click()
        field = _visible(d, "input[name=element_n_trials]")
        assert field.get_attribute("value") == "24"  # the config's default
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(str(N_TRIALS))
        _wait(d).until(lambda _: field.get_attribute("value") == str(N_TRIALS))
        unpause = d.find_elements(By.XPATH, "//label[contains(., 'Unpause')]//input[@type='checkbox']")
        assert unpause and unpause[0].is_selected(), "the form should unpause the DAG on trigger"
        s.shot("trigger-form-filled")
        d.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]").click()
        _wait(d).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]")))

    token = _json(f"{airflow}/auth/token", {"username": stack["user"], "password": stack["password"]})["access_token"]
    with s.step("run-succeeded"):
        runs = _json(f"{airflow}/api/v2/dags/{DAG_ID}/dagRuns", token=token)["dag_runs"]
        assert len(runs) == 1, runs  # exactly the one triggered from the form (no scheduled run)
        run = runs[0]
        assert run["triggered_by"] == "ui" and run["conf"]["n_trials"] == N_TRIALS, run
        run_id = run["dag_run_id"]
        run_url = f"{airflow}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"
        deadline = time.time() + RUN_TIMEOUT_S
        while run["state"] not in ("success", "failed") and time.time() < deadline:
            time.sleep(5)
            run = _json(f"{airflow}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}", token=token)
        d.get(run_url)
        assert run["state"] == "success", f"the run ended {run['state']} (see the screenshot and service logs)"
        _body_has(d, run_id, "Success")

    with s.step("create-study-extra-links"):
        d.get(f"{run_url}/tasks/create_study/details")
        _body_has(d, "Extra Links")
        experiment_link = _link(d, "MLflow experiment").get_attribute("href")
        parent_link = _link(d, "MLflow run").get_attribute("href")
        assert parent_link.startswith(f"{mlflow}/#/experiments/") and "/runs/" in parent_link, parent_link
        experiment_id, parent_run_id = parent_link.split("#/experiments/")[1].split("/runs/")
        assert experiment_link == f"{mlflow}/#/experiments/{experiment_id}"

    with s.step("mlflow-parent-run"):
        airflow_tab = d.current_window_handle
        _link(d, "MLflow run").click()  # target=_blank: a new tab
        _wait(d).until(lambda drv: len(drv.window_handles) == 2)
        d.switch_to.window(next(h for h in d.window_handles if h != airflow_tab))
        assert d.current_url == parent_link
        trials = [f"trial-{i}" for i in range(N_TRIALS)]
        _body_has(d, "Child runs", *trials, "Parameters", timeout=90)
        for name in trials:  # each trial is a child run linked from the parent run page
            assert d.find_element(By.XPATH, f"//a[normalize-space()='{name}']").get_attribute("href")
        row = d.find_element(By.XPATH, "//*[normalize-space()='n_trials']/ancestor::*[@role='row' or self::tr][1]")
        assert row.text.split() == ["n_trials", str(N_TRIALS)], row.text
        back = d.find_element(By.XPATH, "//a[starts-with(normalize-space(), 'automl_demo_breast_cancer / ')]")
        assert back.get_attribute("href") == run_url  # the parent run links back to the Airflow DAG run
        with contextlib.suppress(WebDriverException):  # a cleaner screenshot without the assistant panel
            d.find_element(By.CSS_SELECTOR, "button[aria-label='Close']").click()

    with s.step("mlflow-plots"):
        listed = _json(f"{mlflow}/api/2.0/mlflow/artifacts/list?run_id={parent_run_id}&path=plots")
        names = {Path(f["path"]).name for f in listed.get("files", [])}
        assert names >= PLOTS, f"plots among the parent run's artifacts: {sorted(names)}"
        d.get(f"{mlflow}/#/experiments/{experiment_id}/runs/{parent_run_id}/artifacts/plots/optimization_history.png")
        _body_has(d, "plots/optimization_history.png", "study_report.html", "intermediate_values.png")
        _wait(d).until(EC.visibility_of_element_located((By.XPATH, "//img[starts-with(@src, 'blob:')]")))

    with s.step("trial-slot-extra-links"):
        d.switch_to.window(airflow_tab)
        d.get(f"{run_url}/tasks/run_trial/mapped/0/details")
        _body_has(d, "Extra Links")
        slot_link = _link(d, "MLflow run").get_attribute("href")
        assert _link(d, "MLflow experiment").get_attribute("href") == experiment_link
        # the demo runs 4 trials per slot: the one slot's link compares its 3 trials' child runs
        assert slot_link.startswith(f"{mlflow}/#/compare-runs?runs="), slot_link
        query = urllib.parse.parse_qs(slot_link.split("?", 1)[1])
        child_ids = json.loads(query["runs"][0])
        assert len(child_ids) == N_TRIALS and json.loads(query["experiments"][0]) == [experiment_id]
        for rid in child_ids:
            child = _json(f"{mlflow}/api/2.0/mlflow/runs/get?run_id={rid}")["run"]["data"]["tags"]
            tags = {t["key"]: t["value"] for t in child}
            assert tags["mlflow.parentRunId"] == parent_run_id and tags["automl.slot_key"].startswith("0:")

    with s.step("mlflow-compare-trials"):
        d.get(slot_link)
        _body_has(d, *[f"trial-{i}" for i in range(N_TRIALS)], timeout=90)
