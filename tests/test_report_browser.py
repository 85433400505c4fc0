"""The report in a real browser: headless Chromium loads the file offline, runs its script without errors,
draws every chart point, and leaves a screenshot in tests/artifacts/report.png.

Skipped only when no Chromium binary exists (install Debian's ``chromium``; CI does).  With
FRIENDSHORE_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli.app import app

from .test_report import EVIL, Dom, _rewrite_cells, copy_only, read_csv

ROOT = Path(__file__).resolve().parents[1]
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"
ARTIFACTS = Path(__file__).parent / "artifacts"
runner = CliRunner()


def chromium() -> str | None:
    for name in (os.environ.get("FRIENDSHORE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                 "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


BROWSER = chromium()
if BROWSER is None:
    if os.environ.get("FRIENDSHORE_REQUIRE_BROWSER"):
        raise RuntimeError("FRIENDSHORE_REQUIRE_BROWSER is set but no chromium binary was found on PATH")
    pytest.skip("no chromium binary on PATH (apt-get install chromium); the browser test needs one",
                allow_module_level=True)


def run_browser(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium with networking off; stderr carries the page's console messages."""
    cmd = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *extra, url,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p


def console(stderr: str) -> list[str]:
    """Console messages and page errors Chromium logged (its own dbus/GPU noise is not the page's)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("browser")
    out = base / "out"
    r = runner.invoke(app, ["solve", str(MINERALS), "--out", str(out), "--report"])
    assert r.exit_code == 0, r.output
    return out, out / "report.html"


def test_the_page_runs_cleanly_and_draws_every_point(report, tmp_path):
    out, page = report
    p = run_browser(tmp_path, page.resolve().as_uri() + "#selftest", "--dump-dom")
    assert console(p.stderr) == []
    dom = Dom(p.stdout)
    body = dom.body()
    assert body.get("data-ok") == "1", "the page's script did not finish"
    assert "data-errors" not in body, body.get("data-errors")

    # The browser's DOM (SVG parsed by Chromium) has every data point of the tables.
    alloc = read_csv(out / "allocations.csv")
    sup = read_csv(out / "suppliers.csv")
    inv = read_csv(out / "investments.csv")
    assert len(dom.points("sankey")) == len(alloc)
    assert len(dom.points("share-map")) == alloc.groupby(["case", "item", "country"]).ngroups
    q = sup[(sup["qualified"].astype(str) == "True") & sup["case"].isin(["baseline", "friendshored"])]
    assert len(dom.points("n1-shortfall")) == len(q)
    assert len(dom.points("invest")) == 2 * int((inv["built"].astype(str) == "True").sum())

    # The script's own functions, run in the browser: CSV text per table, sorting, tabs.
    st = json.loads(body["data-selftest"])
    data = json.loads(dom.scripts["fs-data"])["tables"]
    assert set(st["csv"]) == set(data)
    for tid, t in data.items():
        assert st["csv"][tid]["lines"] == len(t["rows"]), tid
        assert st["csv"][tid]["header"] == ",".join(t["columns"]), tid
    assert st["sort"]["ascending"] and st["sort"]["rows"] > 3
    assert st["tabs"]["shown"] == [st["tabs"]["wanted"]]


def test_the_browser_builds_csv_that_reads_back_as_the_table(report, tmp_path):
    """Quoting and number formatting of the in-page CSV: the downloaded allocations equal the exported file."""
    out, page = report
    # A tiny page that uses the report's own script and data to print one table's CSV into the DOM.
    html = page.read_text(encoding="utf-8")
    probe = html.replace(
        "body.setAttribute('data-ok', '1');",
        "var pre=document.createElement('pre');pre.id='probe';pre.textContent=toCsv(store().tables['src-allocations']);"
        "body.appendChild(pre);body.setAttribute('data-ok', '1');",
    )
    assert probe != html
    f = tmp_path / "probe.html"
    f.write_text(probe, encoding="utf-8")
    p = run_browser(tmp_path, f.resolve().as_uri(), "--dump-dom")
    text = p.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    import html as h
    from io import StringIO

    got = pd.read_csv(StringIO(h.unescape(text)), keep_default_na=False, na_values=[""])
    want = read_csv(out / "allocations.csv")
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_hostile_names_stay_text_in_the_browser(report, tmp_path):
    out, _ = report
    folder = copy_only(out, tmp_path / "evil", ("csv",))
    _rewrite_cells(folder, "gallium", EVIL.replace(",", ";"))
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0, r.output
    p = run_browser(tmp_path, (folder / "report.html").resolve().as_uri(), "--dump-dom")
    assert console(p.stderr) == []
    dom = Dom(p.stdout)
    assert dom.body().get("data-ok") == "1"
    assert not [a for t, a in dom.elements if t == "img"]


def test_screenshot(report, tmp_path):
    """A full-page PNG for people to look at (tests/artifacts/report.png, git-ignored)."""
    _, page = report
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run_browser(tmp_path, page.resolve().as_uri(), "--window-size=1280,4200", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 50_000
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 4200)
        colours = im.convert("RGB").resize((320, 1050)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 200, "the screenshot is (nearly) blank"
