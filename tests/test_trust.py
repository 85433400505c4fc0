"""Who counts as a friend (issue 18): tiers from UN General Assembly votes and memberships.

The vote data is the packaged copy (planner/instance/unga/); the checks against the source extract
read ../shared/data/unga/ beside the project, as CI has it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.instance.io import apply_overrides, load_instance

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "unga"
CHIP4 = ROOT / "instances" / "semiconductors-chip4"
MINERALS = ROOT / "instances" / "critical-minerals-us-japan"
VOTES = {"source": "votes", "anchors": ["US", "JP"], "cutoffs": {"ally": 0.8, "partner": 0.5, "neutral": 0.2}}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def test_agreement_recomputed_from_the_votes_equals_the_published_pairs():
    # agreement.csv (the extract's README): share of roll calls from 2010-01-01 on in which both cast
    # yes, no or abstain and voted alike. Recomputed here from the extract's own votes.csv.gz and from
    # the packaged copy, for pairs including the README's sanity rows (US-JP 0.423, CN-US 0.205).
    from planner.instance.trust import agreement, votes

    pub = pd.read_csv(SHARED / "agreement.csv", keep_default_na=False, na_values=[""]).set_index(
        ["country_a", "country_b"])
    raw = pd.read_csv(SHARED / "votes.csv.gz", keep_default_na=False, na_values=[""])
    rc = pd.read_csv(SHARED / "roll_calls.csv.gz", keep_default_na=False, na_values=[""])
    recent = set(rc.loc[rc["date"] >= "2010-01-01", "rcid"])
    raw = raw[raw["rcid"].isin(recent)].pivot(index="rcid", columns="country_code", values="vote")
    ours = votes().window(2010, 2020)
    for a, b in [("JP", "US"), ("CN", "US"), ("DE", "JP"), ("KR", "US"), ("NA", "ZA"), ("CD", "JP")]:
        both = raw[[a, b]].dropna()
        share = float((both[a] == both[b]).mean())
        assert share == pytest.approx(pub.loc[(a, b), "agree_2010on"], abs=5e-5), (a, b)
        assert len(both) == pub.loc[(a, b), "n_shared_2010on"]
        got, n = agreement(ours, a)
        assert got[ours.column(b)] == pytest.approx(share, abs=1e-12) and n[ours.column(b)] == len(both)
    assert pub.loc[("JP", "US"), "agree_2010on"] == pytest.approx(0.423, abs=1e-3)


def test_half_credit_for_abstentions_matches_the_readme():
    # README: counting abstain-versus-yes/no as half agreement raises US-JP from 0.42 to 0.57 and US-DE
    # from 0.51 to 0.63 (2010 on).
    from planner.instance.trust import agreement, votes

    v = votes().window(2010, 2020)
    half, _ = agreement(v, "US", half=True)
    assert half[v.column("JP")] == pytest.approx(0.57, abs=0.005)
    assert half[v.column("DE")] == pytest.approx(0.63, abs=0.005)


def test_the_estimator_recovers_the_order_of_simulated_ideal_points():
    # 80 countries at known positions theta ~ U(-2, 2) vote on 400 roll calls: yes when
    # b_k (theta - a_k) + noise > 0 (probit-style utilities; b_k of either sign, so "yes" means
    # different sides), with 10 % absences. The scaling must recover the order: |Spearman rho| >= 0.95.
    from scipy.stats import spearmanr

    from planner.instance.trust import Votes, ideal_points

    rng = np.random.default_rng(4)
    theta = rng.uniform(-2, 2, 80)
    a, b = rng.uniform(-1.5, 1.5, 400), rng.normal(0, 1.5, 400)
    util = b[:, None] * (theta[None, :] - a[:, None]) + rng.normal(0, 1, (400, 80))
    m = np.where(util > 0, 1, 3).astype(np.int8)
    m[rng.random((400, 80)) < 0.1] = 0
    v = Votes(m, tuple(f"C{k:02d}" for k in range(80)), np.full(400, 2015))
    pos = ideal_points(v, min_votes=50)
    rho = spearmanr(pos, theta).statistic
    assert abs(rho) >= 0.95


def test_the_same_rule_gives_the_same_tiers_and_taiwan_gets_the_fallback():
    # semiconductors-chip4 has Taiwan, which has no UN votes: it keeps its countries.csv tier (ally) or
    # takes the stated fallback, and the warning names it.
    a = apply_overrides(load_instance(CHIP4), {"policy.trust": VOTES}, feasibility=False)
    b = apply_overrides(load_instance(CHIP4), {"policy.trust": VOTES}, feasibility=False)
    assert a.tier_of == b.tier_of and a.tier_of["TW"] == "ally"
    assert any("TW" in n and "Taiwan" in n for n in a.trust.notes)
    row = a.trust.table.set_index("code").loc["TW"]
    assert "no votes" in row["basis"]
    c = apply_overrides(load_instance(CHIP4), {"policy.trust": {**VOTES, "fallback": "partner"}}, feasibility=False)
    assert c.tier_of["TW"] == "partner" and "fallback tier partner" in " ".join(c.trust.notes)
    # The anchors take the top tier; China, lowest in agreement with both, is below every cut-off.
    assert a.tier_of["US"] == a.tier_of["JP"] == "ally" and a.tier_of["CN"] == "concern"


def test_memberships_and_kept_tiers():
    # ally = MSP members, partner = IPEF or US FTA, the concern tier kept as written, the rest neutral.
    rule = {"source": "groups", "groups": {"ally": ["MSP"], "partner": ["IPEF", "USFTA"]}, "others": "neutral",
            "keep": ["concern"]}
    inst = apply_overrides(load_instance(MINERALS), {"policy.trust": rule}, feasibility=False)
    tiers, table = inst.tier_of, {c.code: c for c in inst.countries}
    for code, c in table.items():
        expect = ("concern" if c.tier == "concern" else "ally" if "MSP" in c.groups
                  else "partner" if {"IPEF", "USFTA"} & set(c.groups) else "neutral")
        assert tiers[code] == expect, code
    assert tiers["BE"] == "neutral"  # an EU member, but not in MSP itself: the rule says so, countries.csv did not


def test_raising_the_ally_threshold_never_adds_an_ally(tmp_path):
    # A study sweeping policy.trust.cutoffs.ally on tests/test_explain.py's small instance (JP buys
    # from CN, AU, US, KR): each run's ally set is contained in the one before it.
    from tests.test_explain import instance

    instance(tmp_path)
    folder = tmp_path / "i-0.5-40-False"
    study = tmp_path / "s.yaml"
    levels = [0.2, 0.4, 0.6, 0.8, 0.9, 0.95]
    study.write_text(f"name: s\nbase: {folder}\ncompare: false\nsolver: {{rel_gap: 0}}\n"
                     "scenarios:\n  votes: {policy.trust: {source: votes, anchors: [US, JP], cutoffs: {ally: 0.5}}}\n"
                     f"grids:\n  g: {{scenario: votes, axes: {{policy.trust.cutoffs.ally: {levels}}}}}\n")
    r = _cli("study", str(study), "--out", str(tmp_path / "o"), "--workers", "1")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "o" / "results.csv", keep_default_na=False)
    g = t[t["group"] == "g"].assign(level=lambda d: pd.to_numeric(d["policy.trust.cutoffs.ally"])).sort_values("level")
    assert list(g["level"]) == levels
    sets = [set(x.split(";")) - {""} for x in g["members_ally"]]
    assert all(after <= before for before, after in zip(sets, sets[1:]))
    assert len(sets[0]) > len(sets[-1]) >= 2  # the anchors stay


@pytest.mark.parametrize("args,where", [
    (["--cutoff", "ally=1.5"], "policy.trust.cutoffs.ally"),
    (["--cutoff", "ally=0.8", "--anchors", "XX"], "policy.trust.anchors"),
    (["--cutoff", "ally=0.8", "--anchors", "TW"], "policy.trust.anchors"),
    (["--cutoff", "ally=0.8", "--from-year", "2021", "--to-year", "2024"], "policy.trust.from_year"),
    (["--cutoff", "friend=0.8"], "policy.trust.cutoffs"),
    (["--group", "ally=NOPE"], "policy.trust.groups.ally"),
    (["--cutoff", "ally"], "--cutoff"),
])
def test_a_bad_rule_is_refused_with_exit_2(tmp_path, args, where):
    r = _cli("trust", str(CHIP4), *args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert where in r.stderr and not (tmp_path / "o").exists()


def test_trust_writes_the_tiers_and_a_copy_of_the_instance_that_solves_the_same(tmp_path):
    out = tmp_path / "o"
    r = _cli("trust", str(MINERALS), "--cutoff", "ally=0.8", "--cutoff", "partner=0.5", "--cutoff", "neutral=0.2",
             "--anchors", "US,JP", "--out", str(out))
    assert r.returncode == 0, r.stderr
    ruled = load_instance(MINERALS, overrides={"policy.trust": VOTES})
    tiers = pd.read_csv(out / "tiers.csv", keep_default_na=False)
    from planner.results.schema import columns

    assert list(tiers.columns) == columns("tiers")
    assert dict(zip(tiers["code"], tiers["tier"])) == ruled.tier_of
    copy = load_instance(out / "instance")
    assert copy.policy.trust is None and copy.tier_of == ruled.tier_of
    assert "Tiers set by friendshore trust" in (out / "instance" / "sources.csv").read_text()
    rec = json.loads((out / "run.json").read_text())
    assert rec["tiers"]["concern"] == sorted(c for c, t in ruled.tier_of.items() if t == "concern")
    # The copy needs no vote data and gives the ruled instance's optimum.
    from planner.analysis.cases import solve_case
    from planner.solve.highs import SolveOptions

    exact = SolveOptions(rel_gap=0)
    assert solve_case(copy, "friendshored", exact)[0].objective == pytest.approx(
        solve_case(ruled, "friendshored", exact)[0].objective, rel=1e-9)


def test_a_solve_under_a_rule_reports_its_tiers_in_every_case(tmp_path):
    # The cost-only case keeps the rule (a definition, not a constraint): its allocations carry the
    # derived tiers too; tiers.csv and run.json record the rule and Taiwan's fallback.
    out = tmp_path / "o"
    r = _cli("solve", str(CHIP4), "--set", "policy.trust={source: votes, cutoffs: {ally: 0.8, partner: 0.5}}",
             "--no-explain", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Taiwan is not a UN member" in " ".join(r.stderr.split())
    inst = load_instance(CHIP4, overrides={"policy.trust": {"source": "votes", "cutoffs": {"ally": 0.8, "partner": 0.5}}})
    a = pd.read_csv(out / "allocations.csv", keep_default_na=False)
    for case in ("baseline", "cost_only", "friendshored"):
        part = a[a["case"] == case]
        assert len(part) and (part["tier"] == part["country"].map(inst.tier_of)).all(), case
    rec = json.loads((out / "run.json").read_text())
    assert rec["trust"]["tiers"]["ally"] == sorted(c for c, t in inst.tier_of.items() if t == "ally")
    assert (out / "tiers.csv").is_file()


def test_the_shipped_study_compares_definitions_in_its_report(tmp_path):
    out = tmp_path / "o"
    r = _cli("study", str(ROOT / "studies" / "minerals-friends.yaml"), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out / "results.csv", keep_default_na=False)
    scen = t[t["kind"] == "scenario"].set_index("group")
    assert scen.loc["countries_csv", "members_concern"] == "CN;MM;RU"
    assert scen.loc["votes_agreement", "members_concern"] != scen.loc["countries_csv", "members_concern"]
    # Rejected definitions still say who they made a concern (DR Congo: cobalt cannot meet the cap).
    assert "CD" in scen.loc["votes_ideal_point", "members_concern"] and scen.loc["votes_ideal_point", "status"] == "infeasible"
    from planner.report.page import write_report

    html = write_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Who counts as a friend" in html and "Definitions side by side" in html


def test_trust_shows_tiers_under_which_the_policy_cannot_hold_and_says_so(tmp_path):
    # rare-earth-magnets: voting with JP, US and DE at these cut-offs puts Vietnam and Malaysia (magnet
    # and oxide makers) in the concern tier, where the 50 % magnet cap cannot hold without the rest of
    # world's plants (XW, 7,800 t; set to 0 here). `trust` still shows the tiers (that is the finding) and
    # warns; `solve` under the same rule refuses with exit 2.
    no_row = ["--set", "supply.magnet:XW.capacity=0"]
    r = _cli("trust", str(ROOT / "instances" / "rare-earth-magnets"), "--cutoff", "ally=0.8", "--cutoff", "partner=0.5",
             *no_row)
    assert r.returncode == 0, r.stderr
    assert "concern: CN, MM, MY, VN" in r.stdout
    assert "under these tiers the policy cannot hold" in " ".join(r.stderr.split())
    s = _cli("solve", str(ROOT / "instances" / "rare-earth-magnets"), *no_row, "--set",
             "policy.trust={source: votes, cutoffs: {ally: 0.8, partner: 0.5}}", "--out", str(tmp_path / "o"))
    assert s.returncode == 2 and "policy.trust" in s.stderr and not (tmp_path / "o").exists()
