"""Faults and guarantees: atomic outputs that survive a kill, honest time-limited results,
byte-identical reruns, numerical-hygiene warnings, and studies that survive a crashing run."""

from __future__ import annotations

import hashlib

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner.solve.highs
from planner.instance.checks import check_numerics
from planner.cli.app import app
from planner.files import PAUSE_ENV, atomic_dir, clean_stale, write_json
from planner.instance.generate import write_generated
from planner.instance.io import load_instance
from tests.io_fixtures import LEFT_OUT, make

ROOT = Path(__file__).resolve().parents[1]
TRANSPORT = ROOT / "instances" / "transport"
runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def hidden_leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# --------------------------------------------------------------------------- atomic outputs
def test_a_solve_killed_before_the_swap_leaves_the_previous_output_intact(tmp_path):
    out = tmp_path / "out"
    first = runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--format", "csv,json"])
    assert first.exit_code == 0, first.output
    before = snapshot(out)

    # A second solve of a different plan pauses (test-only hook) with its output fully staged; kill it there.
    env = {**os.environ, PAUSE_ENV: "120"}
    cmd = [sys.executable, "-m", "planner", "solve", str(TRANSPORT), "--out", str(out), "--format", "csv,json",
           "--no-compare"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(180, proc.kill)  # never hang the suite
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(f"{PAUSE_ENV}: staged"):
                break
        else:
            pytest.fail("the solve ended without reaching the swap:\n" + "".join(seen))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        watchdog.cancel()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    assert snapshot(out) == before, "the killed solve changed the previous output"
    # What the kill left is one hidden staging folder: never a half-written DIR, nothing a user would open.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["out"]
    left = hidden_leftovers(out)
    assert len(left) == 1 and left[0].startswith(".out.staging-"), left

    # The next run cleans it up and replaces the output whole.
    third = runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--format", "csv", "--no-compare"])
    assert third.exit_code == 0, third.output
    assert hidden_leftovers(out) == []
    assert {p.suffix for p in out.iterdir()} == {".csv", ".json"} and not (out / "kpis.json").exists()
    assert "cost_only" not in set(pd.read_csv(out / "costs.csv")["case"])


def test_an_error_while_writing_leaves_the_previous_output_intact(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as stage:
        (stage / "a.csv").write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as stage:
            (stage / "a.csv").write_text("new, half")
            raise RuntimeError("disk full")
    assert snapshot(out) == {"a.csv": b"old\n"}
    assert hidden_leftovers(out) == []


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_folders_of_dead_writers_are_cleaned_and_a_swap_cut_in_half_is_undone(tmp_path):
    out = tmp_path / "out"
    dead = _dead_pid()
    # Killed between the two renames: the previous output was moved aside, the new one not yet in place.
    old = tmp_path / f".out.old-{dead}-abc123"
    old.mkdir()
    (old / "kpis.csv").write_text("previous\n")
    staged = tmp_path / f".out.staging-{dead}-def456"
    staged.mkdir()
    (staged / "kpis.csv").write_text("never swapped in\n")
    live = tmp_path / f".out.staging-{os.getpid()}-ghi789"  # a writer that is still running: left alone
    live.mkdir()
    other = tmp_path / f".outer.staging-{dead}-jkl012"  # another target's folder: not ours to clean
    other.mkdir()

    tmp_file = tmp_path / f".out.tmp-{dead}-mno345.json"  # a file a killed writer staged (planner.files' names)
    tmp_file.write_text("{")

    clean_stale(tmp_path, "out")
    assert (out / "kpis.csv").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, other.name])
    clean_stale(tmp_path)  # every target's leftovers of dead writers (a study's folders)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name])


def test_json_is_strict_and_written_atomically(tmp_path):
    path = tmp_path / "run.json"
    write_json(path, {"bound": -math.inf, "gap": math.nan, "cases": [{"bound": math.inf}], "ok": 1.5})
    text = path.read_text()

    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    assert json.loads(text, parse_constant=reject) == {"bound": None, "gap": None, "cases": [{"bound": None}], "ok": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


# --------------------------------------------------------------------------- time limits
def limited(options: dict[str, Any]):
    """SolveOptions whose default HiGHS options stop the search early, deterministically (work limits, not time)."""

    class Limited(planner.solve.highs.SolveOptions):
        solver_options: dict[str, Any] = options

    return Limited


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    # 5 items, 20 countries, 3 importers: a MIP HiGHS does not close at its first incumbent.
    path = tmp_path_factory.mktemp("gen") / "g5"
    write_generated(path, items=5, countries=20, importers=3, seed=1)
    return path


def test_a_run_stopped_early_returns_its_best_solution_flagged_not_proven_optimal(generated, tmp_path, monkeypatch):
    # mip_max_improving_sols=1: HiGHS stops at its first incumbent, like a time limit but deterministic.
    monkeypatch.setattr(planner.solve.highs, "SolveOptions", limited({"mip_max_improving_sols": 1}))
    out = tmp_path / "out"
    r = runner.invoke(app, ["solve", str(generated), "--out", str(out), "--format", "csv,parquet,json", "--report"])
    assert r.exit_code == 0, r.output
    assert "NOT PROVEN OPTIMAL" in r.output and "FEASIBLE" in r.output

    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "feasible" and run["proven_optimal"] is False
    assert run["options"]["solver_options"] == {"mip_max_improving_sols": 1}
    assert run["bound"] < run["objective"] and run["gap"] > run["options"]["rel_gap"]
    assert run["cases"]["friendshored"]["proven_optimal"] is False

    for path in sorted(out.glob("*.csv")):
        t = pd.read_csv(path)
        if path.stem == "kpis":
            flag = t[t["kpi"] == "proven_optimal"]
            assert flag["friendshored"].tolist() == [0.0]
            gap = t[t["kpi"] == "mip_gap"]["friendshored"].iloc[0]
            assert gap == pytest.approx(run["gap"])
            continue
        if path.stem.startswith("diagnosis"):
            continue
        assert "status" in t.columns, path.name
        fs = t[t["case"] == "friendshored"]
        assert set(fs["status"]) <= {"feasible"}, path.name
        assert (fs["gap"] > 0).all(), path.name
        for fmt in ("parquet", "json"):
            other = pd.read_parquet(out / f"{path.stem}.parquet") if fmt == "parquet" else pd.read_json(
                out / f"{path.stem}.json", orient="records")
            if len(other):
                assert set(other[other["case"] == "friendshored"]["status"]) <= {"feasible"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "NOT PROVEN OPTIMAL" in report


def test_a_limit_hit_before_any_solution_exits_3_and_writes_nothing(generated, tmp_path, monkeypatch):
    # No branch-and-bound node and no heuristic: HiGHS stops at the root without an incumbent.
    monkeypatch.setattr(planner.solve.highs, "SolveOptions", limited({"mip_max_nodes": 0, "mip_heuristic_effort": 0.0}))
    out = tmp_path / "out"
    r = runner.invoke(app, ["solve", str(generated), "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "no feasible solution was found before a limit" in r.output
    assert "Traceback" not in r.output
    assert not out.exists() and hidden_leftovers(out) == []


# --------------------------------------------------------------------------- reproducibility
TIMING = {"timing", "build_s", "handoff_s", "solve_s"}


def without_timing(x):
    if isinstance(x, dict):
        return {k: without_timing(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [without_timing(v) for v in x]
    return x


def test_the_same_instance_and_options_give_byte_identical_outputs(generated, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for n, out in enumerate(outs):
        if n:
            time.sleep(1.1)  # a new second: no write time may leak into a file
        r = runner.invoke(app, ["solve", str(generated), "--out", str(out), "--format", "csv,xlsx,parquet,json"])
        assert r.exit_code == 0, r.output
    a, b = snapshot(outs[0]), snapshot(outs[1])
    assert sorted(a) == sorted(b)
    assert {n.rsplit(".", 1)[-1] for n in a} == {"csv", "xlsx", "parquet", "json"}
    for name in a:
        if name != "run.json":
            assert a[name] == b[name], f"{name} differs between two identical runs"
    ra, rb = (json.loads(x["run.json"]) for x in (a, b))
    assert without_timing(ra) == without_timing(rb)
    assert ra["timing"]["wall_s"] >= 0


def test_run_json_records_what_reproducing_a_run_needs(generated, tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, ["solve", str(generated), "--out", str(out), "--set", "policy.country_share_cap=0.7",
                            "--seed", "3", "--threads", "1", "--format", "csv,json"])
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert len(run["instance"]["files_sha256"]) == 64 and len(run["instance"]["instance_sha256"]) == 64
    assert run["overrides"] == {"policy.country_share_cap": 0.7} and run["variant"] is None
    assert run["policy"]["country_share_cap"] == 0.7
    assert run["options"]["seed"] == 3 and run["options"]["threads"] == 1 and "rel_gap" in run["options"]
    assert run["formats"] == ["csv", "json"]
    for pkg in ("friendshore", "python", "pyomo", "highspy", "highs", "pandas", "numpy", "pyarrow", "platform"):
        assert run["versions"][pkg], pkg
    assert run["warnings"] == []
    # The lock this installation carries: the top-level requirements.lock, byte for byte.
    lock = (Path(__file__).resolve().parents[1] / "requirements.lock").read_bytes()
    assert run["lock"]["sha256"] == hashlib.sha256(lock).hexdigest()
    assert run["lock"]["matches"] is (not run["lock"]["differs"])


def test_lock_record_names_each_package_installed_at_another_version(monkeypatch):
    from importlib import metadata

    import planner.results.provenance as provenance

    real = metadata.version
    monkeypatch.setattr(provenance.metadata, "version", lambda name: "0.0.1" if name == "highspy" else real(name))
    rec = provenance.lock_record()
    assert rec["matches"] is False
    locked = next(line.split("==")[1].split(";")[0].strip() for line in
                  (Path(__file__).resolve().parents[1] / "requirements.lock").read_text().splitlines()
                  if line.startswith("highspy=="))
    assert rec["differs"]["highspy"] == {"locked": locked, "installed": "0.0.1"}


# --------------------------------------------------------------------------- numerical hygiene
def warnings_of(folder: Path) -> list:
    return check_numerics(load_instance(folder))


def test_a_well_scaled_instance_has_no_numerical_warning(tmp_path):
    assert warnings_of(make(tmp_path / "x")) == []


def test_costs_spanning_more_than_1e9_are_flagged_with_a_suggestion(tmp_path):
    # unit costs 1e-4 .. 13 and capex 1e7 (investments.csv): 1e7 / 1e-4 = 1e11 > 1e9.
    folder = make(tmp_path / "x",
                  supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,0.0001\ngallium,US,100,0.0002\n"
                             "gallium,AU,100,0.0003\n",
                  investments_csv="option,item,country,capacity,capex,programmes\nau_ga,gallium,AU,50,1e7,jp_minerals\n")
    [w] = [w for w in warnings_of(folder) if "ill-conditioned costs" in w.expected]
    assert (w.file, w.column, w.value) == ("investments.csv", "capex", "1e+07")
    assert "1.0e+11" in w.expected and "supply.unit_cost" in w.expected and "USD million" in w.expected


def test_volumes_far_from_one_and_from_demand_are_flagged(tmp_path):
    # Capacity 3e11 t next to unit flow coefficients (span 3e11), and 2e9 times the demand of 150 t.
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost\ngallium,CN,3e11,10\n"
                                             "gallium,US,100,12.5\ngallium,AU,100,13\n")
    ws = warnings_of(folder)
    span = next(w for w in ws if "ill-conditioned volumes" in w.expected)
    assert (span.file, span.column, span.value) == ("supply.csv", "capacity", "3e+11")
    assert "kt instead of kg" in span.expected
    ratio = next(w for w in ws if "times its demand" in w.expected)
    assert ratio.value == "3e+11" and "units look inconsistent" in ratio.expected


def test_unit_costs_of_one_item_a_thousandfold_apart_look_like_mixed_units(tmp_path):
    # 10 USD/t from CN and 12500 (USD/kg typed as USD/t?) from US: a factor 1250 > 1000.
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,10\n"
                                             "gallium,US,100,12500\ngallium,AU,100,13\n")
    [w] = warnings_of(folder)
    assert (w.file, w.column, w.value) == ("supply.csv", "unit_cost", "12500")
    assert "factor of 1.25e+03" in w.expected and "USD per t" in w.expected


def test_baseline_volumes_far_from_demand_and_cheap_shortage_are_flagged(tmp_path):
    folder = make(tmp_path / "x",
                  instance_yaml="name: tiny\npolicy:\n  allow_shortage: true\n  shortage_penalty: 5\n" + LEFT_OUT + "\n",
                  baseline_csv="importer,item,country,share,volume\nJP,gallium,CN,,150000\n")
    ws = {w.column: w for w in warnings_of(folder)}
    assert "1e+03 times its demand" in ws["volume"].expected and ws["volume"].file == "baseline.csv"
    assert ws["policy.shortage_penalty"].file == "instance.yaml"
    assert "shortage is cheaper than buying" in ws["policy.shortage_penalty"].expected


def test_validate_and_solve_print_numerical_warnings_and_carry_on(tmp_path):
    folder = make(tmp_path / "x", supply_csv="item,country,capacity,unit_cost\ngallium,CN,300,10\n"
                                             "gallium,US,100,12500\ngallium,AU,100,13\n")
    r = runner.invoke(app, ["validate", str(folder)])
    assert r.exit_code == 0 and "warning:" in r.output and "supply.csv, column 'unit_cost'" in r.output
    assert r.output.rstrip().splitlines()[-1].startswith("ok:")
    out = tmp_path / "o"
    r = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert r.exit_code == 0 and "warning:" in r.output
    [w] = json.loads((out / "run.json").read_text())["warnings"]
    assert w.startswith("supply.csv, column 'unit_cost'")


# --------------------------------------------------------------------------- studies
# Another Dask cluster on this machine (a parallel test run) makes distributed warn about its dashboard port
# and leave the probing socket unclosed; neither happens on a machine of its own, as in CI.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_run_whose_worker_raises_is_recorded_failed_and_the_others_complete(tmp_path, monkeypatch):
    from planner.study import core as study
    from planner.study.plan import load_study
    import planner.study.execute as exec_

    make(tmp_path / "inst")
    (tmp_path / "s.yaml").write_text(
        "name: crash\nbase: inst\ncompare: false\nsolver: {time_limit: 20}\n"
        "scenarios:\n  boom: {policy.country_share_cap: 0.77}\n  fine: {policy.country_share_cap: 0.9}\n"
        "grids:\n  caps:\n    axes:\n      policy.country_share_cap: [0.6, 0.7]\n")
    real = exec_._execute

    def crashing(task, base, started):
        if task.delta.get("policy.country_share_cap") == 0.77:  # the override that crashes the worker
            raise MemoryError("simulated worker crash")
        return real(task, base, started)

    monkeypatch.setattr(exec_, "_execute", crashing)
    s = load_study(tmp_path / "s.yaml")
    out = tmp_path / "out"
    # Dask with threads, so the patched worker code is the one that runs.
    report = study.run_study(s, out, workers=2, processes=False, progress=False, plots=False)
    table = study.read_table(out)
    assert len(table) == 4 and table["run_id"].is_unique
    by_group = table.set_index("group")["status"] if "group" in table else None
    failed = table[table["status"] == "error"]
    assert len(failed) == 1 and "MemoryError" in failed["reason"].iloc[0]
    assert set(table.loc[table["status"] != "error", "status"]) == {"optimal"}
    assert [f["run_id"] for f in report.failed] == failed["run_id"].tolist()
    if by_group is not None:
        assert by_group["boom"] == "error"

    # Resumed without the fault: only the crashed run runs again; nothing finished is lost or duplicated.
    monkeypatch.setattr(exec_, "_execute", real)
    again = study.run_study(s, out, resume=True, workers=1, progress=False, plots=False)
    assert again.ran == 1 and again.resumed == 3
    table = study.read_table(out)
    assert len(table) == 4 and table["run_id"].is_unique and set(table["status"]) == {"optimal"}


# --------------------------------------------------------------------------- never touch what we did not create
def _user_folder(tmp_path: Path) -> Path:
    """A user's folder holding a thesis and an instance."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.txt").write_text("years of work\n")
    shutil.copytree(TRANSPORT, home / "inst")
    return home


@pytest.mark.parametrize("command", ["solve", "stress", "network"])
@pytest.mark.parametrize("target", [".", "inst", "..", "notes", "thesis.txt"])
def test_out_refuses_folders_friendshore_did_not_create(tmp_path, monkeypatch, command, target):
    # Defect: `solve inst --out .` removed thesis.txt and inst/ and set the folder to 0700; `--out inst`
    # replaced the instance with result tables.  Every such --out is refused with exit 2, nothing touched.
    home = _user_folder(tmp_path)
    (home / "notes").mkdir()
    (home / "notes" / "todo.md").write_text("x\n")
    monkeypatch.chdir(home)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    mode = home.stat().st_mode
    r = runner.invoke(app, [command, "inst", "--out", target])
    assert r.exit_code == 2, r.output
    assert "--out" in r.output and "Traceback" not in r.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert home.stat().st_mode == mode and (home / "thesis.txt").read_text() == "years of work\n"


def test_out_replaces_an_earlier_output_and_keeps_its_permissions(tmp_path, monkeypatch):
    home = _user_folder(tmp_path)
    monkeypatch.chdir(home)
    (home / "res").mkdir()
    os.chmod(home / "res", 0o750)
    assert runner.invoke(app, ["solve", "inst", "--out", "res"]).exit_code == 0  # empty: fine
    assert (home / "res").stat().st_mode & 0o777 == 0o750
    assert runner.invoke(app, ["solve", "inst", "--out", "res"]).exit_code == 0  # our own output: replaced
    assert (home / "res").stat().st_mode & 0o777 == 0o750
    new = home / "new"
    assert runner.invoke(app, ["solve", "inst", "--out", str(new)]).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_failing_report_leaves_the_previous_output_whole(tmp_path, monkeypatch):
    # Defect: `solve --report` swapped the tables in, then wrote the report: a failure (or kill) in
    # between left new tables with no report, the old report gone.  The report is now staged too.
    import planner.report.page as report_mod

    out = tmp_path / "o"
    assert runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--report"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.json"}
    assert "report.html" in before

    def boom(*a, **k):
        raise RuntimeError("report failed")

    monkeypatch.setattr(report_mod, "write_report", boom)
    r = runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--report", "--set", "policy.country_share_cap=0.9"])
    assert r.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.json"} == before


# --------------------------------------------------------------------------- formula injection
EVIL = '=HYPERLINK("http://evil.example/x","y")'


def test_exports_never_carry_live_formulas(tmp_path):
    # Defect: a country named =HYPERLINK(...) gave results.xlsx 4 live formula cells and CSV cells starting
    # with '='.  XLSX text is written as strings; CSV text a spreadsheet would run gets a leading "'";
    # our own readers (report, stress --sourcing DIR) read the name back unchanged; numbers stay numbers.
    import csv as csv_mod
    import io

    import openpyxl

    from planner.report.page import read_folder

    inst = tmp_path / "inj"
    shutil.copytree(TRANSPORT, inst)
    for f in inst.glob("*.csv"):
        rows = [[EVIL if c == "seattle" else c for c in r] for r in csv_mod.reader(io.StringIO(f.read_text()))]
        with f.open("w", newline="") as fh:
            csv_mod.writer(fh).writerows(rows)
    out = tmp_path / "o"
    r = runner.invoke(app, ["solve", str(inst), "--out", str(out), "--format", "csv,xlsx", "--report"])
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out / "results.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(c.value == EVIL and c.data_type == "s" for c in cells)
    for f in out.glob("*.csv"):
        for row in csv_mod.reader(io.StringIO(f.read_text())):
            assert not any(isinstance(c, str) and c.startswith(("=", "+", "@")) for c in row), (f.name, row)
    alloc = list(csv_mod.DictReader(io.StringIO((out / "allocations.csv").read_text())))
    assert "'" + EVIL in {a["country"] for a in alloc}
    costs = {r["component"]: r["value"] for r in csv_mod.DictReader(io.StringIO((out / "costs.csv").read_text()))}
    assert all(not v.startswith("'") for v in costs.values())  # numbers, negative ones included, untouched
    assert EVIL in set(read_folder(out).tables["allocations"]["country"])
    html = (out / "report.html").read_text()
    assert "/^[=+\\-@\\t\\r]/.test(s)" in html  # the download's CSV cells are neutralised the same way


def test_neutralise_and_restore_are_inverse():
    from planner.results.export import neutralise_text, restore_text

    for v in ["=1+1", "+x", "-y", "@z", "\tq", "plain", "'=kept", "", "'"]:
        assert restore_text(neutralise_text(v)) == v
    assert neutralise_text(-3.5) == -3.5 and neutralise_text("=x") == "'=x"
