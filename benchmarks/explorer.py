"""Explorer latency in a real browser: from a control change to the updated page.

Starts `friendshore serve` on each shipped single-period instance, drives Debian's chromium with
Selenium (chromium-driver), moves one cap slider through N values (each move waits for its page),
and prints the latency per move (input event -> page drawn, measured in the page) at the 50th and
95th percentile, with the server's split: HiGHS, the rest of the solve (updates, hand-off, cost-only
reference), tables (KPIs, stress tests, what binds), rendering (the report's sections), and the
remainder (validation of the settings, JSON, network, the browser's drawing).

    python benchmarks/explorer.py [--moves 20]

Target (issue 19): at most 0.5 s at the 95th percentile on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ("critical-minerals-us-japan", "batteries-japan", "rare-earth-magnets", "semiconductors-chip4", "transport")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _control(name: str) -> str:
    # A cap every instance has a slider for: the concern tier's where the instance has tiers beyond one.
    return "policy.country_share_cap" if name == "transport" else "policy.tier_caps.concern"


def measure(name: str, moves: int, driver_factory) -> dict:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "planner", "serve", str(ROOT / "instances" / name), "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
                break
            except OSError:
                time.sleep(0.2)
        d = driver_factory()
        try:
            d.get(url)
            wait_seq(d, 0)
            key = _control(name)
            lat, timing = [], []
            values = [0.9 - 0.4 * (k % 5) / 4 for k in range(moves)]  # 0.9 .. 0.5, repeated
            for v in values:
                seq = int(d.find_element("tag name", "body").get_attribute("data-seq"))
                d.execute_script(
                    "var c = document.querySelector('[data-key=\"' + arguments[0] + '\"]');"
                    "c.querySelector('input.on').checked = true; var r = c.querySelector('input[type=range]');"
                    "r.disabled = false; r.value = arguments[1]; c.dispatchEvent(new Event('input', {bubbles: true}));",
                    key, f"{v:.2f}")
                wait_seq(d, seq)
                b = d.find_element("tag name", "body")
                lat.append(float(b.get_attribute("data-latency-ms")) / 1000)
                timing.append(json.loads(b.get_attribute("data-timing") or "{}"))
        finally:
            d.quit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    q = statistics.quantiles(lat, n=20)
    mean = {k: statistics.fmean(t.get(k, 0.0) or 0.0 for t in timing)
            for k in ("highs_s", "solve_s", "cost_only_s", "tables_s", "render_s", "total_s")}
    return {"instance": name, "moves": len(lat), "p50": statistics.median(lat), "p95": q[18], "max": max(lat),
            **mean, "page": statistics.fmean(lat)}


def wait_seq(d, after: int, timeout: float = 120) -> None:
    t0 = time.time()
    while int(d.find_element("tag name", "body").get_attribute("data-seq") or 0) <= after:
        if time.time() - t0 > timeout:
            raise TimeoutError("the page did not update")
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--instances", default=",".join(SINGLE))
    a = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = Path(tempfile.mkdtemp())

    def factory():
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                    f"--user-data-dir={tmp / str(time.time())}"):
            opts.add_argument(arg)
        return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=opts)

    rows = []
    for name in a.instances.split(","):
        rows.append(measure(name, a.moves, factory))
        print(rows[-1], flush=True)
    print("\n| instance | moves | p50 s | p95 s | max s | HiGHS s | solve s (incl. HiGHS) | cost-only s | tables s | "
          "render s | server total s | page s (mean) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instance']} | {r['moves']} | {r['p50']:.3f} | {r['p95']:.3f} | {r['max']:.3f} | "
              f"{r['highs_s']:.3f} | {r['solve_s']:.3f} | {r['cost_only_s']:.3f} | {r['tables_s']:.3f} | "
              f"{r['render_s']:.3f} | {r['total_s']:.3f} | {r['page']:.3f} |")


if __name__ == "__main__":
    main()
