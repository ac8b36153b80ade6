"""The Airflow and MLflow UIs in headless Chromium, used the way a person uses them.

One `airflow standalone` (SQLite, LocalExecutor) runs in a temporary AIRFLOW_HOME and
RECFUSION_HOME on small generated data. It uses SimpleAuthManager, which standalone
forces anyway, in all-admins mode: every request is an admin's, so there is no login page
to get through. That is acceptable only because the server listens on 127.0.0.1 for the
length of one test module. The pipeline is started over the REST API (`/api/v2`): unpause
both DAGs and trigger `recfusion_ingest`; its asset starts `recfusion_train_publish`.
Then Chromium opens the DAG list and the run's grid, expands the task groups and checks
every `dbt.<model>.run` and `dbt.<model>.test` cell: hovering it shows the tooltip
"State: Success", and its badge has the colour of the "Success" badge in the run's
task-instance table on the same page.

Then `mlflow server` on that run's SQLite store shows the registered model with the
`champion` alias on the champion version, and the version page renders the model card.

Screenshots go to $RECFUSION_SCREENSHOTS (default: a pytest temporary folder);
`make browser-test RECFUSION_SCREENSHOTS=docs/screenshots` refreshes the README's.
Chromium and chromedriver are Debian's (`make tools`); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from recfusion.orchestration import DBT_MANIFEST, POOLS, dbt_models
from tests.test_airflow import SMALL
from tests.test_airflow import airflow as airflow_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1400",
]
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# the whole pipeline on 2 busy cores took about 5 minutes; allow for a slower machine
PIPELINE_TIMEOUT = float(os.environ.get("RECFUSION_BROWSER_TIMEOUT", 1200))
UI_TIMEOUT = 60
MODEL = "recfusion-fusion"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason=f"{CHROMIUM} or {CHROMEDRIVER} is missing: "
        "`make tools` installs Debian's chromium and chromium-driver",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency")

from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A command in a session of its own (setsid), stopped with its whole process group."""

    def __init__(self, args: list[str], env: dict, log: Path, cwd: Path):
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        import psutil

        # Airflow's task processes put themselves in process groups of their own: note
        # every descendant now, so that none of those we started outlives the test.
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def api(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status == 200


def wait_for(what: str, check: Callable, timeout: float, server: Server, every: float = 3.0):
    """Poll ``check`` until it returns something truthy; fail with the server's log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited while waiting for {what}:\n{server.tail()}")
        with contextlib.suppress(OSError, ValueError):  # not up yet, or mid-restart
            if result := check():
                return result
        time.sleep(every)
    pytest.fail(f"no {what} after {timeout:.0f} s; server log:\n{server.tail()}")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("RECFUSION_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    # the driver's path is given, so selenium-manager never looks for (or downloads) one
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(UI_TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """`airflow standalone` that has run both DAGs once: its URL, env, home and run id."""
    if not DBT_MANIFEST.exists():
        pytest.skip(f"{DBT_MANIFEST} is missing: `make manifest` builds it")
    root = tmp_path_factory.mktemp("browser")
    port = free_port()
    base = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(SMALL)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # standalone runs `airflow`
            "AIRFLOW_HOME": str(root / "airflow"),
            "RECFUSION_HOME": str(root / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            # also how task processes find the execution API
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            # free ports, so that another Airflow on this machine does not get in the way
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    airflow_cli(env, "db", "migrate", timeout=300)
    for pool, (slots, description) in POOLS.items():
        airflow_cli(env, "pools", "set", pool, str(slots), description, timeout=120)

    server = Server([str(BIN / "airflow"), "standalone"], env, root / "standalone.log", root)
    try:
        v2 = f"{base}/api/v2"
        ingest = wait_for(
            "parsed DAGs",
            lambda: (
                api(f"{v2}/dags/recfusion_train_publish") and api(f"{v2}/dags/recfusion_ingest")
            ),
            300,
            server,
        )
        api(f"{v2}/dags/recfusion_train_publish", "PATCH", {"is_paused": False})
        # Triggered for the date the schedule would run next, so unpausing adds no second
        # scheduled run (and no second training) beside it.
        api(
            f"{v2}/dags/recfusion_ingest/dagRuns",
            "POST",
            {"logical_date": ingest["next_dagrun_logical_date"], "conf": {}},
        )
        api(f"{v2}/dags/recfusion_ingest", "PATCH", {"is_paused": False})

        def finished():  # the first run, the one this ingest started
            runs = api(f"{v2}/dags/recfusion_train_publish/dagRuns?order_by=id")["dag_runs"]
            if not runs or runs[0]["state"] not in ("success", "failed"):
                return None
            return runs[0]

        run = wait_for("finished recfusion_train_publish run", finished, PIPELINE_TIMEOUT, server)
        if run["state"] != "success":
            tis = api(
                f"{v2}/dags/recfusion_train_publish/dagRuns/{run['dag_run_id']}/taskInstances"
            )
            states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
            pytest.fail(f"recfusion_train_publish {run['state']}: {states}\n{server.tail()}")
        yield {
            "base": base,
            "env": env,
            "root": root,
            "home": root / "home",
            "run_id": run["dag_run_id"],
            "server": server,
        }
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def evidence(request, screenshots):
    """When a test fails, keep what the browser showed: `<test>-failed.png` and `.html`."""
    failed = request.session.testsfailed
    yield
    browser = request.node.funcargs.get("browser")  # only when the test got that far
    if request.session.testsfailed > failed and browser is not None:
        with contextlib.suppress(Exception):
            browser.save_screenshot(str(screenshots / f"{request.node.name}-failed.png"))
            (screenshots / f"{request.node.name}-failed.html").write_text(browser.page_source)


def park_pointer(browser) -> None:
    """Move the mouse to the page's corner: no hover highlight, no tooltip in the way."""
    pointer = ActionBuilder(browser)
    pointer.pointer_action.move_to_location(1, 1)
    pointer.perform()
    WebDriverWait(browser, UI_TIMEOUT).until(
        lambda b: not b.find_elements(By.CSS_SELECTOR, '[role="tooltip"][data-state="open"]')
    )


def screenshot(browser, folder: Path, name: str, size: tuple[int, int]) -> None:
    browser.set_window_size(*size)
    park_pointer(browser)
    time.sleep(1)  # let the layout settle after resizing
    browser.save_screenshot(str(folder / name))


def with_text(browser, css: str, text: str):
    """The first element matching ``css`` whose visible text contains ``text``, or None."""
    return next((e for e in browser.find_elements(By.CSS_SELECTOR, css) if text in e.text), None)


# the grid's scroll container: the nearest ancestor of a task row that scrolls (a row's own
# content can overflow it by a pixel or two, so overflow alone does not identify it)
SCROLLER = """
let el = document.querySelector('[data-node-id^="dbt."]').parentElement;
while (el && !(['auto', 'scroll'].includes(getComputedStyle(el).overflowY)
               && el.scrollHeight > el.clientHeight)) { el = el.parentElement; }
return el || document.scrollingElement;
"""


def grid_row(browser, model: str):
    """The grid row of a dbt model's task group, scrolling the grid until it is rendered."""
    css = f'[data-node-id="dbt.{model}"]'
    WebDriverWait(browser, UI_TIMEOUT).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '[data-node-id^="dbt."]'))
    )
    scroller = browser.execute_script(SCROLLER)
    browser.execute_script("arguments[0].scrollTop = 0", scroller)
    for _ in range(80):
        found = browser.find_elements(By.CSS_SELECTOR, css)
        if found:
            return found[0]
        browser.execute_script("arguments[0].scrollTop += 120", scroller)
        time.sleep(0.25)
    raise AssertionError(f"the grid shows no row for dbt.{model}")


def hover_state(browser, run_id: str, task_id: str) -> tuple[str, str]:
    """Hover a task's grid cell: the state its tooltip names and its badge's colour.

    The grid is virtualised: scrolling can replace a cell's element with a new one, so the
    cell is looked up afresh for every step.
    """
    css = f'a[data-testid="grid-{run_id}-{task_id}"]'
    cell = WebDriverWait(browser, UI_TIMEOUT).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)

    def tooltip(b):
        # the tooltip opens half a second after the pointer enters the cell; a re-render
        # or the scroll can close it first, so leave the cell and enter it again
        try:
            cell = b.find_element(By.CSS_SELECTOR, css)
            hover = ActionChains(b).move_to_element_with_offset(cell, 0, 40).pause(0.2)
            hover.move_to_element(cell).pause(1.5).perform()
            found = with_text(b, '[role="tooltip"]', f"Task ID: {task_id}\n")
            if found is None:
                return None
            text = found.text
            badge = cell.find_element(By.CSS_SELECTOR, '[data-testid="task-state-badge"]')
            return text, badge.value_of_css_property("background-color")
        except (NoSuchElementException, StaleElementReferenceException):
            return None  # re-rendered under the pointer: look again

    text, colour = WebDriverWait(browser, UI_TIMEOUT, poll_frequency=0.5).until(tooltip)
    state = next(line for line in text.splitlines() if line.startswith("State: "))
    return state.removeprefix("State: "), colour


def model_row_text(browser, model: str) -> str:
    """The text of a dbt model's grid row, scrolled to the middle of the grid."""
    for _ in range(3):
        try:
            row = grid_row(browser, model)
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
            WebDriverWait(browser, UI_TIMEOUT).until(lambda _b, row=row: row.is_displayed())
            return row.get_attribute("textContent").strip()
        except StaleElementReferenceException:
            continue  # the grid re-rendered the row while it scrolled: find it again
    raise AssertionError(f"the grid's row for dbt.{model} kept re-rendering")


def test_dag_list_shows_both_dags(airflow, browser, screenshots):
    browser.get(f"{airflow['base']}/dags")
    wait = WebDriverWait(browser, UI_TIMEOUT)
    for dag_id in ("recfusion_ingest", "recfusion_train_publish"):
        link = wait.until(ec.visibility_of_element_located((By.LINK_TEXT, dag_id)))
        assert link.get_attribute("href").endswith(f"/dags/{dag_id}")
    screenshot(browser, screenshots, "airflow-dags.png", (1400, 780))


def test_grid_shows_every_dbt_task_succeeded(airflow, browser, screenshots):
    run_id = airflow["run_id"]
    browser.set_window_size(1400, 1000)
    browser.get(f"{airflow['base']}/dags/recfusion_train_publish/runs/{run_id}")
    wait = WebDriverWait(browser, UI_TIMEOUT)
    # the legend a person reads the colours by: the task-instance table's "Success" badge
    success = wait.until(lambda b: with_text(b, '[data-testid="state-badge"]', "Success"))
    green = success.value_of_css_property("background-color")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="expand-all-button"]')))
    browser.find_element(By.CSS_SELECTOR, '[data-testid="expand-all-button"]').click()

    states = {}
    for model in dbt_models():
        # the grid renders only the rows near its viewport: scroll to the row, as a person would
        assert model_row_text(browser, model) == model
        for step in ("run", "test"):
            states[f"dbt.{model}.{step}"] = hover_state(browser, run_id, f"dbt.{model}.{step}")
    assert len(states) == 2 * len(dbt_models()) and "dbt.fct_user_item_splits.test" in states
    not_green = {task: s for task, s in states.items() if s != ("Success", green)}
    assert not not_green, f"every dbt task should be Success, {green}: {not_green}"

    park_pointer(browser)
    browser.find_element(By.CSS_SELECTOR, '[aria-label="Collapse Details Panel"]').click()
    screenshot(browser, screenshots, "airflow-grid.png", (1100, 1250))


def test_mlflow_registry_shows_champion_and_model_card(airflow, browser, screenshots):
    store = airflow["home"] / "mlflow" / "mlflow.db"
    assert store.exists(), f"the pipeline left no MLflow store at {store}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["server", "--backend-store-uri", f"sqlite:///{store}", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--workers", "1"]
    # no job runner: it starts seven huey consumers for GenAI jobs this project has none of
    env = {**airflow["env"], "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    root = airflow["root"]
    server = Server([str(BIN / "mlflow"), *args], env, root / "mlflow.log", root)
    try:
        wait_for("MLflow server", lambda: ok(f"{base}/health"), 180, server)
        query = urllib.parse.urlencode({"name": MODEL, "alias": "champion"})
        version = api(f"{base}/api/2.0/mlflow/registered-models/alias?{query}")["model_version"]
        version = version["version"]

        browser.set_window_size(1400, 1000)
        browser.get(f"{base}/#/models/{MODEL}")
        wait = WebDriverWait(browser, UI_TIMEOUT)
        link = wait.until(ec.visibility_of_element_located((By.LINK_TEXT, f"Version {version}")))
        row = link.find_element(By.XPATH, './ancestor::*[@role="row"][1]')
        aliases = [tag.text for tag in row.find_elements(By.CSS_SELECTOR, '[title="champion"]')]
        assert "@ champion" in aliases, f"the champion, version {version}: {row.text}"
        close_assistant(browser)
        screenshot(browser, screenshots, "mlflow-model.png", (1400, 620))

        browser.find_element(By.LINK_TEXT, f"Version {version}").click()
        wait.until(ec.url_contains(f"/models/{MODEL}/versions/{version}"))
        card = wait.until(
            ec.visibility_of_element_located(
                (By.CSS_SELECTOR, '[data-testid="note-editor-preview-content"]')
            )
        )
        assert card.find_element(By.TAG_NAME, "h1").text == "recfusion fusion model"
        headers = [th.text for th in card.find_elements(By.TAG_NAME, "th")]
        assert "valid NDCG@10" in headers, card.text
        assert with_text(browser, '[title="champion"]', "champion")
        close_assistant(browser)
        screenshot(browser, screenshots, "mlflow-model-card.png", (1400, 720))
    finally:
        server.stop()


def close_assistant(browser) -> None:
    """Close MLflow's assistant side panel, when it is open, so the page has the room."""
    for button in browser.find_elements(
        By.CSS_SELECTOR, 'button[data-component-id="mlflow.assistant.chat_panel.close"]'
    ):
        if button.is_displayed():
            button.click()


def test_a_backfilled_day_is_published_as_of_that_day(airflow):
    """A backfill of the ingest DAG runs through the scheduler; the run it starts downstream
    builds the marts as of the backfilled day. Runs last: it publishes a new version."""
    check_backfill(airflow, "2025-04-01")


def check_backfill(airflow: dict, day: str) -> None:
    v2 = f"{airflow['base']}/api/v2"
    before = api(f"{v2}/dags/recfusion_train_publish/dagRuns")["total_entries"]
    api(
        f"{v2}/backfills",
        "POST",
        {
            "dag_id": "recfusion_ingest",
            "from_date": f"{day}T00:00:00Z",
            "to_date": f"{day}T00:00:00Z",
            "max_active_runs": 1,
        },
    )
    server = airflow["server"]

    def ingest_done():
        runs = api(f"{v2}/dags/recfusion_ingest/dagRuns?run_type=backfill")["dag_runs"]
        runs = [r for r in runs if r["logical_date"].startswith(day)]
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_for("backfilled ingest run", ingest_done, 600, server)
    assert [r["state"] for r in runs] == ["success"]

    def downstream_done():
        runs = api(f"{v2}/dags/recfusion_train_publish/dagRuns?order_by=id")["dag_runs"]
        new = runs[before:]
        return new[0] if new and new[0]["state"] in ("success", "failed") else None

    run = wait_for("train/publish after the backfill", downstream_done, PIPELINE_TIMEOUT, server)
    assert run["state"] == "success", server.tail()
    # the load's asset event carries the day; the run downstream built to it
    events = api(f"{v2}/assets/events?source_dag_id=recfusion_ingest&order_by=-timestamp")
    assert events["asset_events"][0]["extra"]["as_of"] == day
    xcom = api(
        f"{v2}/dags/recfusion_train_publish/dagRuns/{run['dag_run_id']}"
        "/taskInstances/validate_marts/xcomEntries/return_value"
    )
    summary = json.loads(xcom["value"]) if isinstance(xcom["value"], str) else xcom["value"]
    assert summary["as_of"] == day
    # the marts describe the data up to the end of that day and nothing after it
    with duckdb.connect(str(airflow["home"] / "warehouse.duckdb"), read_only=True) as con:
        as_of, latest = con.execute(
            "select max(as_of), max(last_event_at) from marts.user_short_term_interests"
        ).fetchone()
    assert str(as_of).startswith(day) and latest <= as_of
