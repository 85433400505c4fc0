"""The crisis-response numbers in the minerals and battery READMEs (docs/crisis.md): stress tests of
today's sourcing and of the resilient plan under four responses, and the resilient plan's cost under each.

Usage: python docs/examples/crisis_numbers.py instances/critical-minerals-us-japan [VARIANT]"""
import sys
from pathlib import Path
from planner.instance.io import load_instance
from planner.analysis import stress as st
from planner.analysis.cases import solve_case
from planner.solve.highs import SolveOptions

EXACT = SolveOptions(rel_gap=0)  # the differences reported are far below the default 1e-4 gap

root = Path(sys.argv[1])
resilient = sys.argv[2] if len(sys.argv) > 2 else "resilient"
import yaml
variants = yaml.safe_load((root / "instance.yaml").read_text())["variants"]
RESP = {
    "instant, world-wide (old default)": {},
    "no coordinated response (contracts + stock)": {"policy.crisis.delay_weeks": 1000.0},
    "IPEF mechanism (15 d, 4 wk ramp, IPEF-SCA)": {"policy.crisis.delay_weeks": 2.14, "policy.crisis.ramp_weeks": 4.0,
                                                  "policy.crisis.sharing_group": "IPEF-SCA"},
    "IPEF mechanism without the delay": {"policy.crisis.ramp_weeks": 4.0, "policy.crisis.sharing_group": "IPEF-SCA"},
}
base = load_instance(root)
plan = load_instance(root, variants[resilient])
_, sol = solve_case(plan, "friendshored", EXACT)
srcs = {"baseline": st.baseline(base), resilient: st.from_solution(sol)}
for name, over in RESP.items():
    inst = load_instance(root, over)
    for sname, src in srcs.items():
        t = st.stress(inst, src).table
        tot = (t["shortfall"] / t["demand"]).mul(t["demand"]).sum()
        w = t.loc[t["shortfall_pct"].idxmax()]
        per = t.groupby("scenario")["shortfall_pct"].max().round(1).to_dict()
        print(f"{name:48s} {sname:10s} worst {w['shortfall_pct']:5.1f}% ({w['scenario']}, {w['item']}, {w['importer']}) "
              f"flagged {int(t.loc[t['tts_below_ttr'].astype(bool),'scenario'].nunique())} short-share-sum {t['shortfall_pct'].sum():8.1f} {per}")
for name, over in list(RESP.items())[2:4]:
    inst = load_instance(root, {**variants[resilient], **over})
    res, s = solve_case(inst, "friendshored", EXACT)
    print(f"{resilient} under {name}: objective {res.objective:,.1f} status {res.status} gap {res.gap}")
res, s = solve_case(plan, "friendshored", EXACT)
print(f"{resilient} instant: objective {res.objective:,.1f} gap {res.gap}")
if f"{resilient}_ipef_shared" in variants or "resilient_ipef_shared" in variants:
    res, s = solve_case(load_instance(root, variants["resilient_ipef_shared"]), "friendshored", EXACT)
    print(f"resilient_ipef_shared: objective {res.objective:,.1f} gap {res.gap}")
