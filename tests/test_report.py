"""The HTML report: built from an output folder's tables only, offline, escaped, atomic; bad folders exit 2.

Expected counts of chart points come from the exported tables themselves (one
Sankey band per allocation row, one heat-map cell per case x item x country
with a flow, ...), so a chart that drops or duplicates a point fails.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli.app import app
from planner.errors import InstanceError
from tests.io_fixtures import LEFT_OUT
from planner.report.page import read_folder, write_report

ROOT = Path(__file__).resolve().parents[1]
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"
TRANSPORT = ROOT / "instances" / "transport"
runner = CliRunner()


class Dom(HTMLParser):
    """Every element's tag and attributes, plus the text of <script> elements by id."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: dict[str, str] = {}
        self._script: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "script":
            self._script = a.get("id", "")
            self.scripts.setdefault(self._script, "")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self.scripts[self._script] += data

    def points(self, chart: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if a.get("data-chart") == chart]

    def body(self) -> dict[str, str]:
        return next(a for t, a in self.elements if t == "body")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    """The critical-minerals instance solved once, in every export format."""
    out = tmp_path_factory.mktemp("report") / "out"
    r = runner.invoke(app, ["solve", str(MINERALS), "--out", str(out), "--format", "csv,parquet,json,xlsx"])
    assert r.exit_code == 0, r.output
    return out


def copy_only(src: Path, dst: Path, keep: tuple[str, ...]) -> Path:
    """A copy of an output folder with only files whose suffix is in ``keep`` (plus run.json)."""
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.suffix.lstrip(".") in keep or p.name == "run.json":
            shutil.copy(p, dst / p.name)
    return dst


def test_report_from_a_solve_folder_has_every_point_of_every_chart(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "csv", ("csv",))
    path = write_report(folder, tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    dom = Dom(text)
    alloc = read_csv(folder / "allocations.csv")
    sup = read_csv(folder / "suppliers.csv")
    inv = read_csv(folder / "investments.csv")
    progs = read_csv(folder / "programmes.csv")
    kpis = read_csv(folder / "kpis.csv")
    cases = ["baseline", "cost_only", "friendshored"]

    # Flows: one band per allocation row, carrying its volume.
    bands = dom.points("sankey")
    assert len(bands) == len(alloc)
    got = sorted((b["data-case"], b["data-item"], b["data-country"], b["data-importer"], float(b["data-volume"]))
                 for b in bands)
    want = sorted(zip(alloc["case"], alloc["item"], alloc["country"], alloc["importer"], alloc["volume"]))
    assert [g[:4] for g in got] == [w[:4] for w in want]
    assert [g[4] for g in got] == pytest.approx([w[4] for w in want], rel=1e-12)

    # Dependence: one heat-map cell per (case, item, country) with a flow; shares of an item sum to 1.
    cells = dom.points("share-map")
    assert len(cells) == alloc.groupby(["case", "item", "country"]).ngroups
    sums: dict[tuple[str, str], float] = {}
    for c in cells:
        sums[c["data-case"], c["data-item"]] = sums.get((c["data-case"], c["data-item"]), 0.0) + float(c["data-share"])
    assert all(v == pytest.approx(1.0) for v in sums.values())
    # The heat maps' numbers are downloadable too, one row per cell.
    shares = json.loads(dom.scripts["fs-data"])["tables"]["country_shares"]
    assert sorted((r[0], r[1], r[2]) for r in shares["rows"]) == sorted(
        (c["data-case"], c["data-item"], c["data-country"]) for c in cells)
    tiers = alloc["tier"].nunique()
    assert len(dom.points("tier-spend")) == len(cases) * tiers
    for name in ("max_country_share", "hhi"):
        per_item = kpis[(kpis["kpi"] == name) & (kpis["item"] != "all")]
        want_dots = sum(per_item.groupby("item")[c].apply(lambda s: s.notna().any()).sum() for c in cases)
        assert len(dom.points(f"dots-{name}")) == want_dots
    # The dot for an item is its worst importer's KPI.
    worst = kpis[(kpis["kpi"] == "max_country_share") & (kpis["item"] == "gallium")]["friendshored"].max()
    dot = next(d for d in dom.points("dots-max_country_share")
               if d["data-item"] == "gallium" and d["data-case"] == "friendshored")
    assert float(dot["data-value"]) == pytest.approx(worst)

    # Investments: public + private segment per built option; used + left per solved programme row.
    built = inv[inv["built"].astype(str) == "True"]
    assert len(built) > 0
    assert len(dom.points("invest")) == 2 * len(built)
    assert len(dom.points("budget")) == 2 * len(progs[progs["case"] != "baseline"])

    # Resilience: one N-1 dot per item and case; one scenario cell per qualified supplier (baseline, friendshored).
    n1 = kpis[kpis["kpi"] == "n1_coverage"]
    assert len(dom.points("n1")) == sum(int(n1[c].notna().sum()) for c in cases)
    q = sup[(sup["qualified"].astype(str) == "True") & sup["case"].isin(["baseline", "friendshored"])]
    assert len(dom.points("n1-shortfall")) == len(q)


def test_every_table_on_the_page_is_downloadable_with_its_raw_values(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "csv", ("csv",))
    dom = Dom(write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8"))
    data = json.loads(dom.scripts["fs-data"])["tables"]
    buttons = {a["data-download"] for _, a in dom.elements if "data-download" in a}
    tables_on_page = {a["data-table"] for _, a in dom.elements if a.get("class") == "t" and "data-table" in a}
    assert buttons == set(data)
    assert tables_on_page <= buttons
    # Every exported table is offered as it was read: same columns, same rows, same values.
    for name in ("allocations", "suppliers", "investments", "programmes", "costs", "kpis", "shortages"):
        t = data[f"src-{name}"]
        csv = read_csv(folder / f"{name}.csv")
        assert t["columns"] == list(csv.columns)
        assert len(t["rows"]) == len(csv)
        emb = pd.DataFrame(t["rows"], columns=t["columns"])
        for col in csv.columns:
            if pd.api.types.is_numeric_dtype(csv[col]) and not pd.api.types.is_bool_dtype(csv[col]):
                assert pd.to_numeric(emb[col]).tolist() == pytest.approx(csv[col].tolist(), nan_ok=True), (name, col)


def test_n1_scenarios_agree_with_the_models_n1_kpi(solved, tmp_path):
    """The report's per-scenario table is derived from suppliers + allocations; its worst case must be the KPI."""
    folder = copy_only(solved, tmp_path / "csv", ("csv",))
    dom = Dom(write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8"))
    t = json.loads(dom.scripts["fs-data"])["tables"]["n1_scenarios"]
    sc = pd.DataFrame(t["rows"], columns=t["columns"])
    kpis = read_csv(folder / "kpis.csv")
    n1 = kpis[kpis["kpi"] == "n1_coverage"].set_index("item")
    worst = sc.groupby(["case", "item"])["coverage"].min()
    assert len(worst) > 10
    for (case, item), v in worst.items():
        assert v == pytest.approx(n1.at[item, case], rel=1e-9), (case, item)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "xlsx"])
def test_the_report_reads_whichever_format_exists(solved, tmp_path, fmt):
    folder = copy_only(solved, tmp_path / fmt, (fmt,))
    data = json.loads(Dom(write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")).scripts["fs-data"])
    ref = json.loads(Dom(write_report(copy_only(solved, tmp_path / "ref", ("csv",)), tmp_path / "ref.html")
                         .read_text(encoding="utf-8")).scripts["fs-data"])
    # The computed tables (comparison, dependence, scenarios) do not depend on the file format.
    for tid in ("comparison", "dependence", "n1_scenarios", "investments_built"):
        a, b = data["tables"][tid], ref["tables"][tid]
        assert a["columns"] == b["columns"]
        assert len(a["rows"]) == len(b["rows"])
        for ra, rb in zip(a["rows"], b["rows"]):
            assert [x if isinstance(x, str) or x is None else pytest.approx(x, rel=1e-9) for x in ra] == rb


def test_the_page_is_offline_and_self_contained(solved, tmp_path):
    text = write_report(copy_only(solved, tmp_path / "c", ("csv",)), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    without_ns = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for pattern in (r"https?://", r"<link\b", r"\bsrc\s*=", r"url\(", r"@import", r"<iframe", r"<img\b"):
        assert not re.search(pattern, without_ns), pattern


def test_the_report_is_deterministic(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "c", ("csv",))
    a = write_report(folder, tmp_path / "a.html").read_bytes()
    b = write_report(folder, tmp_path / "b.html").read_bytes()
    assert a == b


def _rewrite(folder: Path, old: str, new: str) -> None:
    for p in folder.glob("*.csv"):
        p.write_text(p.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def _rewrite_cells(folder: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in every cell and header of the folder's CSV tables (kept valid CSV: a quoted
    scenario name holding a quote stays one field)."""
    for p in folder.glob("*.csv"):
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        df.columns = [c.replace(old, new) for c in df.columns]
        df = df.map(lambda v: v.replace(old, new))
        df.to_csv(p, index=False)


EVIL = "<img src=x onerror=alert(1)>&\"'</script>"


def test_text_from_the_tables_is_escaped(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "evil", ("csv",))
    _rewrite_cells(folder, "gallium", EVIL.replace(",", ";"))
    text = write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<img" not in text
    assert "</script>" not in text.split('<script type="application/json"', 1)[1].split("</script>", 1)[0]
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;&lt;/script&gt;" in text
    # The escaped name round-trips through the embedded data unchanged.
    data = json.loads(Dom(text).scripts["fs-data"])["tables"]["src-allocations"]
    assert EVIL.replace(",", ";") in {r[data["columns"].index("item")] for r in data["rows"]}


def _set_status(folder: Path, case: str, status: str, gap: float) -> None:
    run = json.loads((folder / "run.json").read_text())
    run["cases"][case].update(status=status, gap=gap, proven_optimal=False)
    if case == "friendshored":
        run.update(status=status, gap=gap, proven_optimal=False)
    (folder / "run.json").write_text(json.dumps(run))
    for p in folder.glob("*.csv"):
        df = read_csv(p)
        if "status" in df.columns and len(df):
            df.loc[df["case"] == case, "status"] = status
            df.loc[df["case"] == case, "gap"] = gap
            df.to_csv(p, index=False)


def test_a_run_not_proven_optimal_says_so_at_the_top(solved, tmp_path):
    ok = write_report(copy_only(solved, tmp_path / "ok", ("csv",)), tmp_path / "ok.html").read_text(encoding="utf-8")
    assert "NOT PROVEN OPTIMAL" not in ok
    folder = copy_only(solved, tmp_path / "tl", ("csv",))
    _set_status(folder, "friendshored", "feasible", 0.034)
    text = write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")
    head, rest = text.split('<section class="card" id="headline">', 1)
    assert "NOT PROVEN OPTIMAL (feasible)" in head  # the title's pill
    first = rest.split("</section>", 1)[0]
    banner = first.split('<p class="summary">', 1)[0]  # before any number
    assert "Friendshored: NOT PROVEN OPTIMAL" in banner and "feasible" in banner and "3.40%" in banner


def test_the_banner_reads_status_from_the_tables_when_run_json_is_missing(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "tl", ("csv",))
    _set_status(folder, "cost_only", "feasible", 0.5)
    (folder / "run.json").unlink()
    text = write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Cost-only: NOT PROVEN OPTIMAL" in text
    assert "This folder has no run.json" in text


def test_unmet_demand_is_flagged(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "short", ("csv",))
    (folder / "shortages.csv").write_text("case,item,importer,volume,share,penalty,status,gap\n"
                                          "friendshored,cobalt,JP,140,0.01,1,optimal,0\n")
    text = write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Friendshored leaves demand unmet</b> in 1 item–importer pair (worst: cobalt in JP, 1 % of demand)" in text


def test_sections_render_only_when_their_tables_exist(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "few", ("csv",))
    for name in ("investments", "programmes", "suppliers"):
        (folder / f"{name}.csv").unlink()
    ids = {a.get("id") for t, a in Dom(write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")).elements
           if t == "section"}
    extra = {name for name, table in (("stress", "stress"), ("explanations", "binding")) if (folder / f"{table}.csv").is_file()}
    if (folder / "profile.csv").is_file() and (pd.read_csv(folder / "stress.csv")["shortfall"] > 0).any():
        extra.add("profile")  # the weekly profiles of rows some disruption leaves short
    assert ids == {"headline", "flows", "dependence", "data"} | extra


def test_transport_without_baseline_or_programmes(tmp_path):
    out = tmp_path / "t"
    r = runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--report"])
    assert r.exit_code == 0, r.output
    text = (out / "report.html").read_text(encoding="utf-8")
    dom = Dom(text)
    assert len(dom.points("sankey")) == len(read_csv(out / "allocations.csv"))
    assert "Baseline (today)" not in text  # the instance has no baseline
    assert not any(a.get("id") == "investments" for t, a in dom.elements if t == "section")


def test_no_compare_leaves_out_the_cost_only_plan(tmp_path):
    out = tmp_path / "t"
    assert runner.invoke(app, ["solve", str(TRANSPORT), "--out", str(out), "--no-compare"]).exit_code == 0
    text = write_report(out).read_text(encoding="utf-8")
    assert (out / "report.html").exists()
    assert "The cost-only plan was not solved" in text
    assert not Dom(text).points("sankey") or all(p["data-case"] == "friendshored" for p in Dom(text).points("sankey"))


# --------------------------------------------------------------------------- bad folders: exit 2, nothing written
def _bad(tmp_path: Path, folder: Path, *expected: str) -> None:
    to = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(folder), "--to", str(to)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for e in expected:
        assert e in r.output, r.output
    assert not to.exists()


def test_missing_folder(tmp_path):
    _bad(tmp_path, tmp_path / "nope", "nope", "an existing output folder")


def test_a_file_is_not_a_folder(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    _bad(tmp_path, f, "a folder")


def test_an_instance_folder_is_recognised(tmp_path):
    _bad(tmp_path, TRANSPORT, "this is an instance", "friendshore solve")


def test_unknown_folder_lists_what_it_found(tmp_path):
    d = tmp_path / "misc"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    _bad(tmp_path, d, "a Friendshore output folder", "notes.txt")


def test_missing_column_and_bad_number_are_named(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "bad", ("csv",))
    a = read_csv(folder / "allocations.csv")
    a.drop(columns=["volume"]).to_csv(folder / "allocations.csv", index=False)
    k = pd.read_csv(folder / "kpis.csv", dtype=str, keep_default_na=False)
    k.loc[0, "baseline"] = "lots"
    k.to_csv(folder / "kpis.csv", index=False)
    _bad(tmp_path, folder, "allocations.csv, column 'volume'", "kpis.csv, row 2, column 'baseline': got 'lots",
         "a number")


def test_unreadable_table_is_named(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "pq", ("parquet",))
    (folder / "kpis.parquet").write_bytes(b"not parquet at all")
    _bad(tmp_path, folder, "kpis.parquet", "a readable PARQUET table")


def test_a_failed_report_leaves_the_previous_file_intact(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "c", ("csv",))
    to = tmp_path / "r.html"
    to.write_text("previous")
    (folder / "allocations.csv").write_text("case,item\n")
    r = runner.invoke(app, ["report", str(folder), "--to", str(to)])
    assert r.exit_code == 2
    assert to.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")] == []


def test_report_flag_needs_out(tmp_path):
    r = runner.invoke(app, ["solve", str(TRANSPORT), "--report"])
    assert r.exit_code == 2 and "--out" in r.output and "Traceback" not in r.output


def test_read_folder_types_codes_as_text(solved, tmp_path):
    """Country code NA (Namibia) must stay text, not become a missing value."""
    folder = copy_only(solved, tmp_path / "na", ("csv",))
    _rewrite(folder, ",AU,", ",NA,")
    f = read_folder(folder)
    assert "NA" in set(f.tables["allocations"]["country"])
    assert f.kind == "solve"


# --------------------------------------------------------------------------- study folders
def write_study(folder: Path) -> Path:
    """A study folder in the format the study writes (planner/study/core.py) (results.csv, frontiers.csv, study.json).

    Frontier: caps 0.1 (infeasible), 0.2, 0.3, 0.4, 0.5; the 0.5 run reaches 0.45 at cost 41, dominated by
    (0.4, 40).  The knee flag is set on cap 0.3 as the study module would; the report only draws it.
    """
    folder.mkdir(parents=True)
    rows = [
        dict(run_id="s-today-1", kind="scenario", group="today", status="optimal", total_cost=102.0, premium=2.0),
        dict(run_id="s-tight-2", kind="scenario", group="tight", status="feasible", total_cost=110.0, premium=10.0,
             gap=0.03),
    ]
    for n, (rate, cap, prem) in enumerate([(0, 0.5, 3.0), (0, 0.3, 6.0), (0.5, 0.5, 2.5), (0.5, 0.3, 5.0)]):
        rows.append(dict(run_id=f"g-grid-{n}", kind="grid", group="grid", status="optimal", total_cost=100 + prem,
                         premium=prem, **{"programmes.jp.rate": rate, "policy.tier_caps.concern": cap}))
    front = [(0.1, None, None, "infeasible"), (0.2, 0.2, 100.0, "optimal"), (0.3, 0.3, 60.0, "optimal"),
             (0.4, 0.4, 40.0, "optimal"), (0.5, 0.45, 41.0, "optimal")]
    for n, (level, mv, cost, st) in enumerate(front):
        rows.append(dict(run_id=f"f-front-{n}", kind="frontier", group="front", status=st, level=level,
                         measure="tier_share:concern", measure_value=mv, total_cost=cost,
                         premium=None if cost is None else cost - 40.0, **{"policy.tier_caps.concern": level}))
    res = pd.DataFrame(rows).rename(columns={"premium": "premium_vs_cost_only_pct"})
    res["max_tier_share_concern"] = res["policy.tier_caps.concern"].fillna(0.5)
    res["max_tier_share_ally"] = 0.9
    res.to_csv(folder / "results.csv", index=False)
    fr = res[res["kind"] == "frontier"][["run_id", "level", "measure", "measure_value", "total_cost", "status"]].copy()
    fr.insert(0, "frontier", "front")
    fr["pareto"] = [False, True, True, True, False]
    fr["knee"] = [False, False, True, False, False]
    fr["knee_distance"] = [None, 0.0, 0.5, 0.0, None]
    fr.to_csv(folder / "frontiers.csv", index=False)
    plan = [{"run_id": r["run_id"], "kind": r["kind"], "group": r["group"], "index": 0,
             "params": {k: r[k] for k in ("programmes.jp.rate", "policy.tier_caps.concern")
                        if k in r and r[k] == r[k]}} for r in rows]
    (folder / "study.json").write_text(json.dumps({
        "schema": 1, "name": "toy-study", "file": "studies/toy.yaml", "base": "instances/x", "status": "complete",
        "spec": {"description": "A toy study.", "grids": {"grid": {"axes": {"programmes.jp.rate": [0, 0.5],
                                                                             "policy.tier_caps.concern": [0.5, 0.3]}}}},
        "runs": plan, "failed": [{"run_id": "f-front-0", "status": "infeasible", "reason": "no plan"}]}))
    return folder


def test_study_report_draws_frontier_knee_sweeps_and_runs(tmp_path):
    folder = write_study(tmp_path / "study")
    r = runner.invoke(app, ["report", str(folder), "--to", str(tmp_path / "s.html")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "s.html").read_text(encoding="utf-8")
    dom = Dom(text)
    ids = [a.get("id") for t, a in dom.elements if t == "section"]
    assert ids == ["study", "frontiers", "sweeps", "runs", "data"]
    # Frontier: every solved level is a point; the knee is the flagged one; the dominated one says so.
    pts = dom.points("frontier")
    assert sorted(float(p["data-level"]) for p in pts) == [0.2, 0.3, 0.4, 0.5]
    assert [float(p["data-level"]) for p in pts if p["data-knee"] == "true"] == [0.3]
    assert [float(p["data-level"]) for p in pts if p["data-pareto"] == "false"] == [0.5]
    assert "no solution at level(s) 0.1 (infeasible)" in text
    # Sweeps: each grid run once per axis; scenarios (both solved, one only feasible).
    assert len(dom.points("sweep")) == 4 * 2
    assert {p["data-group"] for p in dom.points("scenario")} == {"today", "tight"}
    # The sortable runs table has every run; the unproven and the failed runs are flagged at the top.
    data = json.loads(dom.scripts["fs-data"])["tables"]
    assert len(data["runs"]["rows"]) == 11
    assert "1 run(s) NOT PROVEN OPTIMAL" in text and "s-tight-2" in text
    assert "1 run(s) without a solution" in text
    assert "1 NOT PROVEN OPTIMAL" in text.split("</header>")[0]


def test_a_running_study_without_results_exits_2(tmp_path):
    d = tmp_path / "running"
    d.mkdir()
    (d / "study.json").write_text(json.dumps({"name": "x", "status": "running"}))
    _bad(tmp_path, d, "a finished study", "status 'running'")


def test_report_on_a_real_study(tmp_path):
    """End to end with planner/study/core.py: two scenarios and a two-point grid on the critical-minerals instance."""
    from planner.study import core as study
    from planner.study.plan import load_study
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: small\nbase: {MINERALS}\nscenarios:\n  today: {{}}\n  strict:\n"
                    f"    policy.tier_caps.concern: 0.3\ngrids:\n  cap:\n    axes:\n"
                    f"      policy.tier_caps.concern: [0.5, 0.4]\n")
    out = tmp_path / "out"
    study.run_study(load_study(spec), out, workers=1, progress=False, plots=False)
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    dom = Dom((out / "report.html").read_text(encoding="utf-8"))
    results = pd.read_csv(out / "results.csv")
    assert len(json.loads(dom.scripts["fs-data"])["tables"]["runs"]["rows"]) == len(results) == 4
    assert len(dom.points("scenario")) == 2
    assert len(dom.points("sweep")) == 2


def test_an_infeasible_solve_reports_its_diagnosis(tmp_path):
    inst = tmp_path / "two"
    inst.mkdir()
    files = {"instance.yaml": "name: two\ntiers: [ally, concern]\n" + LEFT_OUT + "\n",
             "countries.csv": "code,name,tier\nA,A,concern\nB,B,ally\nJ,J,ally\n",
             "items.csv": "id,name,unit\nx,x,t\n",
             "supply.csv": "item,country,capacity,unit_cost\nx,A,100,1\nx,B,30,2\n",
             "demand.csv": "importer,item,quantity\nJ,x,100\n", "lanes.csv": "origin,importer\nA,J\nB,J\n"}
    for name, text in files.items():
        (inst / name).write_text(text)
    out = tmp_path / "o"
    # Cap 0.6: A <= 60 and B <= 30, so 90 of 100 at most: infeasible (exit 3), with a diagnosis.
    r = runner.invoke(app, ["solve", str(inst), "--set", "policy.country_share_cap=0.6", "--out", str(out), "--report"])
    assert r.exit_code == 3, r.output
    # Diagnosis, run.json and report land together (the report is written in the staged folder).
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.csv", "report.html", "run.json"]
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "NO FEASIBLE PLAN" in text and "Country_Share_Cap" in text
    assert len(json.loads(Dom(text).scripts["fs-data"])["tables"]["diagnosis"]["rows"]) == len(read_csv(out / "diagnosis.csv"))


# --------------------------------------------------------------------------- multi-tier and stress sections
MAGNETS = ROOT / "instances" / "rare-earth-magnets"


@pytest.fixture(scope="module")
def magnets(tmp_path_factory) -> Path:
    """The rare-earth-magnets instance solved once (its table scenarios give a stress table)."""
    out = tmp_path_factory.mktemp("report") / "magnets"
    r = runner.invoke(app, ["solve", str(MAGNETS), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_stress_exposure_and_feed_sections_have_every_point(magnets, tmp_path):
    dom = Dom(write_report(magnets, tmp_path / "r.html").read_text(encoding="utf-8"))
    ids = {a.get("id") for _, a in dom.elements if a.get("class") == "card"}
    assert {"stress", "exposure", "feeds"} <= ids
    data = json.loads(dom.scripts["fs-data"])["tables"]

    # Stress: one dot per case x scenario, at its worst shortfall share; the table flags TTS < TTR per pair.
    stress = read_csv(magnets / "stress.csv")
    worst = stress.groupby(["case", "scenario"])["shortfall_pct"].max()
    dots = dom.points("stress")
    assert len(dots) == len(worst) == len(data["stress_scenarios"]["rows"]) == len(data["stress_chart"]["rows"])
    assert {(d["data-case"], d["data-scenario"]): float(d["data-value"]) for d in dots} == pytest.approx(
        {k: v / 100 for k, v in worst.items()})
    flags = stress.groupby(["case", "scenario"])["tts_below_ttr"].any()
    t = data["stress_scenarios"]
    col = t["columns"].index("tts_below_ttr")
    got = {(r[0], r[1]): r[col] == "yes" for r in t["rows"]}
    assert got == flags.to_dict() and any(got.values())

    # Exposure: two dots (direct, upstream) per exposure row of the charted cases.
    exp = read_csv(magnets / "exposure.csv")
    exp = exp[exp["case"].isin(["baseline", "friendshored"])]
    dots = dom.points("exposure")
    assert len(dots) == 2 * len(exp) == 2 * len(data["exposure_shown"]["rows"])
    up = {(d["data-case"], d["data-importer"], d["data-item"], d["data-country"]): float(d["data-value"])
          for d in dots if d["data-measure"] == "upstream_share"}
    assert up == pytest.approx({(r.case, r.importer, r.item, r.country): r.upstream_share for r in exp.itertuples()})

    # Feeds: one bar segment per case x input x supplying country; volumes add up to the feeds table.
    feeds = read_csv(magnets / "feeds.csv")
    feeds = feeds[feeds["volume"] > 0]
    segs = dom.points("feeds")
    by_origin = feeds.groupby(["case", "item", "country"])["volume"].sum()
    assert len(segs) == len(by_origin) == len(data["feeds_by_origin"]["rows"])
    assert {(s["data-case"], s["data-item"], s["data-country"]): float(s["data-volume"]) for s in segs} == \
        pytest.approx(by_origin.to_dict())


def test_single_tier_folder_has_no_multi_tier_sections(solved, tmp_path):
    folder = copy_only(solved, tmp_path / "csv", ("csv",))
    dom = Dom(write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8"))
    ids = {a.get("id") for _, a in dom.elements if a.get("class") == "card"}
    assert not {"exposure", "feeds"} & ids
    assert not dom.points("exposure") and not dom.points("feeds")
    assert ("stress" in ids) == (folder / "stress.csv").is_file()


def test_a_folder_written_before_a_column_was_added_still_reports(solved, tmp_path):
    # Issue 16 added stress.cover_weeks: a folder from an earlier run lacks it and must still report
    # (read with the column empty), while a missing original column is still refused.
    folder = copy_only(solved, tmp_path / "old", ("csv",))
    path = folder / "stress.csv"
    if not path.is_file():
        pytest.skip("the solved fixture has no scenarios")
    t = pd.read_csv(path)
    t.drop(columns=["cover_weeks"]).to_csv(path, index=False)
    assert "Disruption stress test" in write_report(folder, tmp_path / "r.html").read_text(encoding="utf-8")
    t.drop(columns=["cover_weeks", "tts_weeks"]).to_csv(path, index=False)
    with pytest.raises(InstanceError, match="tts_weeks"):
        write_report(folder, tmp_path / "r2.html")
