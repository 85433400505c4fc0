"""The what-if explorer (`friendshore serve`): its API on a real server, and the page in a real browser
(Debian's chromium driven by Selenium through chromium-driver; screenshots in tests/artifacts/).

The browser part is skipped only when chromium or chromedriver is missing; with
FRIENDSHORE_REQUIRE_BROWSER=1 (set by .ci/run) that is a failure instead."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(path: Path, log: Path):
    """A real `friendshore serve PATH` on a free port; yields its base URL; stopped afterwards."""
    port = _free_port()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "planner", "serve", str(path), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=err)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 60
        try:
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        r.read()
                    break
                except (urllib.error.URLError, ConnectionError):
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}") from None
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def server(tmp_path):
    with running(MINERALS, tmp_path / "server.log") as url:
        yield url


class Client:
    """One page load: its session (named in the page) sent with every request, as the page's script does."""

    def __init__(self, url: str):
        import re

        self.url = url
        with urllib.request.urlopen(url, timeout=30) as r:
            self.session = re.search(r'<body data-session="([^"]+)"', r.read().decode()).group(1)

    def post(self, route: str, data: bytes, session: bool = True):
        headers = {"Content-Type": "application/json", **({"X-FS-Session": self.session} if session else {})}
        req = urllib.request.Request(self.url + route, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            with e:
                return e.code, json.loads(e.read())

    def solve(self, seq: int, settings: dict, raw: bytes | None = None, session: bool = True) -> tuple[int, dict]:
        data = raw if raw is not None else json.dumps({"seq": seq, "settings": settings}).encode()
        return self.post("api/solve", data, session)

    def get(self, route: str) -> bytes:
        with urllib.request.urlopen(f"{self.url}{route}?session={self.session}", timeout=60) as r:
            return r.read()


def _cli_kpis(tmp: Path, *sets: str) -> pd.DataFrame:
    out = tmp / f"cli{len(list(tmp.glob('cli*')))}"
    args = [sys.executable, "-m", "planner", "solve", str(MINERALS), "--no-explain", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    k = pd.read_csv(out / "kpis.csv")
    return k[(k["item"] == "all") & (k["importer"] == "all") & (k["group"] == "all")].set_index("kpi")


def test_the_api_re_solves_validates_and_never_crashes(server, tmp_path):
    c = Client(server)
    code, r = c.solve(1, {"policy.tier_caps.concern": 0.3})
    assert code == 200 and r["status"] == "optimal"
    cli = _cli_kpis(tmp_path, "policy.tier_caps.concern=0.3")
    assert r["kpis"]["total_cost"] == pytest.approx(cli.loc["total_cost", "friendshored"], rel=1e-6)
    assert r["reproduce"]["command"].endswith("--set 'policy.tier_caps.concern=0.3'")
    assert {"headline", "flows", "dependence", "investments", "stress"} <= set(r["sections"])
    # A second move re-solves the session's kept model in place.
    code, r2 = c.solve(2, {"policy.tier_caps.concern": 0.4})
    assert r2["timing"]["reused"] is True
    # Bad values get --set's own words; a key that is not a control, or a broken request, is refused.
    code, bad = c.solve(3, {"policy.tier_caps.concern": 1.5})
    assert bad["status"] == "invalid" and "expected less than or equal to 1" in bad["problems"][0]
    code, bad = c.solve(4, {"supply.nickel:ID.capacity": 1})  # a table cell that is not one of the controls
    assert bad["status"] == "invalid" and "one of the page's controls" in bad["problems"][0]
    code, bad = c.solve(5, {}, raw=b"{not json")
    assert code == 400 and bad["status"] == "error"
    # An older request arriving after a newer one is superseded, not solved.
    code, old = c.solve(3, {"policy.tier_caps.concern": 0.2})
    assert old["status"] == "superseded"
    # Solve-time infeasibility: the plain-words diagnosis.
    code, inf = c.solve(9, {"policy.country_share_cap": 0.3})
    assert inf["status"] == "infeasible" and "policy cannot all hold" in inf["headline"] and "diagnosis" in inf["sections"]
    # An uncertain input (ranges.csv) moves within its range like a policy level, and re-solves in place.
    code, u = c.solve(10, {"supply.lithium:CN.unit_cost": 16.0})
    cli_u = _cli_kpis(tmp_path, "supply.lithium:CN.unit_cost=16")
    assert u["status"] == "optimal" and u["timing"]["reused"] is True
    assert u["kpis"]["total_cost"] == pytest.approx(cli_u.loc["total_cost", "friendshored"], rel=1e-6)
    # The crisis response is a control too (policy.crisis, a nested rule): the explorer's plan is the CLI's.
    crisis = {"policy.scenario_beta": 0.8, "policy.crisis.delay_weeks": 2.14, "policy.pooled_caps.concern": 0.4}
    code, cr = c.solve(11, crisis)
    cli_c = _cli_kpis(tmp_path, *(f"{k}={v}" for k, v in crisis.items()))
    assert cr["status"] == "optimal"
    assert cr["kpis"]["total_cost"] == pytest.approx(cli_c.loc["total_cost", "friendshored"], rel=1e-6)
    # Sessions do not share settings: a new page load starts from the instance as given, and its
    # numbering starts again without being taken for an old request.
    other = Client(server)
    code, fresh = other.solve(1, {})
    assert fresh["status"] == "optimal"
    cli0 = _cli_kpis(tmp_path)
    assert fresh["kpis"]["total_cost"] == pytest.approx(cli0.loc["total_cost", "friendshored"], rel=1e-6)
    # Downloads of the session's last plan, with its provenance: the inputs' hashes (blank before this was
    # fixed) and the settings that made it.
    import io
    import json
    import zipfile

    from planner.instance.io import files_hash

    z = zipfile.ZipFile(io.BytesIO(c.get("api/download/tables.zip")))
    rec = json.loads(z.read("run.json"))
    assert rec["instance"]["files_sha256"] == files_hash(MINERALS) and len(rec["instance"]["instance_sha256"]) == 64
    assert rec["overrides"] == crisis  # the last plan: the crisis settings above
    assert b"Friendshore report" in c.get("api/download/report.html")
    # A request without the page's session header (as a cross-site form would send) is refused.
    code, bad = c.solve(20, {}, session=False)
    assert code == 409 and "session" in bad["message"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "o"
    r = subprocess.run([sys.executable, "-m", "planner", "study", str(ROOT / "studies" / "minerals-friends.yaml"),
                        "--out", str(out), "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def test_a_study_folder_is_browsed_run_by_run(study, tmp_path):
    with running(study, tmp_path / "server.log") as url:
        with urllib.request.urlopen(url, timeout=30) as r:
            assert "Who counts as a friend" in r.read().decode()
        rid = pd.read_csv(study / "results.csv")["run_id"].iloc[0]
        with urllib.request.urlopen(url + f"runs/{rid}", timeout=30) as r:
            assert "Friendshore report" in r.read().decode()
        with pytest.raises(urllib.error.HTTPError) as e:  # only the study's own run ids name a folder
            urllib.request.urlopen(url + "runs/..%2F..%2Fetc", timeout=30)
        assert e.value.code == 404
        e.value.close()


# --------------------------------------------------------------------------- in a real browser
def _driver(tmp: Path):
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        if os.environ.get("FRIENDSHORE_REQUIRE_BROWSER"):
            raise RuntimeError("FRIENDSHORE_REQUIRE_BROWSER is set but chromium or chromedriver is missing")
        pytest.skip("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
              f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def _wait(d, cond, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout).until(lambda drv: cond(drv))


def _move(d, key: str, value: float) -> None:
    """Set a level control as a user would: switch it on and drag the slider (an input event)."""
    d.execute_script(
        "var c = document.querySelector('[data-key=\"' + arguments[0] + '\"]');"
        "c.querySelector('input.on').checked = true; var r = c.querySelector('input[type=range]');"
        "r.disabled = false; r.value = arguments[1]; c.dispatchEvent(new Event('input', {bubbles: true}));",
        key, value)


def _settled(d, after: int) -> bool:
    return int(d.find_element("tag name", "body").get_attribute("data-seq") or 0) > after


def test_the_page_re_solves_pins_and_diagnoses_in_a_browser(server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    d = _driver(tmp_path)
    try:
        d.get(server)
        _wait(d, lambda x: _settled(x, 0))
        body = d.find_element("tag name", "body")
        assert body.get_attribute("data-status") == "optimal"
        d.find_element("id", "pin").click()
        seq = int(body.get_attribute("data-seq"))
        _move(d, "policy.tier_caps.concern", 0.3)
        _wait(d, lambda x: _settled(x, seq) and x.find_element("tag name", "body").get_attribute("data-status")
              == "optimal")
        # The page shows what the CLI gives for the same --set.
        cli = _cli_kpis(tmp_path, "policy.tier_caps.concern=0.3")
        shown = {e.get_attribute("data-kpi"): e.find_element("tag name", "b").text
                 for e in d.find_elements("css selector", "#kpis .kp[data-kpi]")}
        assert shown["largest concern share"] == "30.0 %"
        total = next(v for k, v in shown.items() if k.startswith("total cost"))
        assert float(total.replace(",", "")) == pytest.approx(cli.loc["total_cost", "friendshored"], abs=0.6)
        assert "policy.tier_caps.concern=0.3" in d.find_element("id", "cmd").text
        d.find_element("id", "pin").click()
        pinned = d.find_elements("css selector", "#pins table.pins thead th")
        assert len(pinned) == 3  # KPI + two plans
        assert d.find_elements("css selector", "#pins td.diff"), "the differences should be highlighted"
        d.save_screenshot(str(ARTIFACTS / "explorer.png"))
        # An infeasible setting shows the diagnosis, not an error page.
        seq = int(body.get_attribute("data-seq"))
        d.execute_script(
            "var c = document.querySelector('[data-key=\"policy.country_share_cap\"]');"
            "var r = c.querySelector('input[type=range]'); r.value = 0.3;"
            "c.dispatchEvent(new Event('input', {bubbles: true}));")
        _wait(d, lambda x: _settled(x, seq))
        assert body.get_attribute("data-status") == "infeasible"
        assert d.find_element("id", "diagnosis").text
        assert d.find_elements("css selector", "#sections #diagnosis, #sections section#diagnosis")
        d.save_screenshot(str(ARTIFACTS / "explorer-infeasible.png"))
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert not body.get_attribute("data-errors")
    finally:
        d.quit()


def test_cancel_stops_a_long_solve_and_returns_what_it_has(tmp_path):
    # A generated instance large enough that HiGHS needs many seconds: cancelled after one second, the
    # request comes back at once with a plan that is not proven optimal (or none), never a crash.
    import threading

    inst = tmp_path / "big"
    r = subprocess.run([sys.executable, "-m", "planner", "generate", "--items", "200", "--countries", "150",
                        "--importers", "12", "--seed", "3", str(inst)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with running(inst, tmp_path / "server.log") as url:
        c = Client(url)
        got: dict = {}
        t = threading.Thread(target=lambda: got.update(zip(("code", "r"), c.solve(1, {}))))
        t0 = time.time()
        t.start()
        time.sleep(3.0)
        code, resp = c.post("api/cancel", b"")
        assert code == 200 and resp["status"] == "cancelling"
        t.join(timeout=120)
        assert not t.is_alive() and got["code"] == 200
        assert got["r"]["status"] in ("feasible", "no_solution") and not got["r"].get("proven_optimal")
        assert time.time() - t0 < 60
