"""The "Today's sourcing" numbers in the minerals, battery and magnet READMEs (docs/trade-baseline.md):
today's cost and dependence under the trade-based baseline and under the world-share variant, and the
friendshored plan's premium over each (solved to a zero gap).

Usage: python docs/examples/trade_baseline_numbers.py instances/rare-earth-magnets"""
import sys
from pathlib import Path

from planner.analysis.compare import run_comparison
from planner.instance.io import load_instance
from planner.solve.highs import SolveOptions

root = Path(sys.argv[1])
for variant in (None, "world_shares"):
    inst = load_instance(root, variant=variant)
    k = run_comparison(inst, SolveOptions(rel_gap=0)).kpis()
    pick = (k["item"] == "all") & (k["importer"] == "all")
    v = {(r.kpi, r.group): r for r in k[pick].itertuples()}
    base, fs = v["total_cost", "all"].baseline, v["total_cost", "all"].friendshored
    print(f"{variant or 'trade-2024':12s} today {base:,.0f}  friendshored {fs:,.0f}  premium vs today "
          f"{v['premium_vs_baseline_pct', 'all'].friendshored:+.2f} %  cost-only vs today "
          f"{v['premium_vs_baseline_pct', 'all'].cost_only:+.2f} %")
    rows = k[(k["kpi"].isin(["tier_share", "max_country_share"])) & (k["importer"] != "all") & (k["item"] != "all")
             & (k["group"].isin(["concern", "all"]))]
    for r in rows.itertuples():
        print(f"   {r.kpi:18s} {r.group:8s} {r.item:18s} {r.importer}: today {r.baseline:.3f} friendshored "
              f"{r.friendshored:.3f}")
