"""Who counts as a friend, per run of a study: the plot of each definition's number of friends against
its premium and its dependence (the members_<tier> columns of the study table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SOLVED = ("optimal", "feasible")


def compared(table: pd.DataFrame) -> bool:
    """Whether the study's runs use more than one definition of who is in which tier."""
    cols = [c for c in table.columns if c.startswith("members_")]
    return bool(cols) and table[cols].astype(str).drop_duplicates().shape[0] > 1


def plot(table: pd.DataFrame, folder: Path) -> list[Path]:
    """plots/friends.png/.svg: per solved run, the countries in the most trusted tier against the
    premium, and the countries in the least trusted tier against its largest share (dependence)."""
    from matplotlib.figure import Figure

    from planner.study.frontier import _save

    if not compared(table):
        return []
    cols = [c for c in table.columns if c.startswith("members_")]
    top, worst = cols[0], cols[-1]
    prem = next((c for c in ("premium_vs_cost_only_pct", "premium_vs_baseline_pct") if c in table), None)
    share = "max_tier_share_" + worst[len("members_"):]
    s = table[table["status"].isin(SOLVED)]
    if not len(s) or prem is None:
        return []

    def count(v) -> int:
        return len([c for c in str(v).split(";") if c and c != "nan"])

    folder.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(10.0, 3.8))
    axes = fig.subplots(1, 2)
    for ax, members, y, label in ((axes[0], top, prem, "premium, %"),
                                  (axes[1], worst, share, f"largest {worst[len('members_'):]}-tier share")):
        xs = s[members].map(count)
        ys = pd.to_numeric(s[y], errors="coerce")
        ax.scatter(xs, ys, color=["tab:orange" if k == "scenario" else "tab:blue" for k in s["kind"]])
        for x, yv, k, g in zip(xs, ys, s["kind"], s["group"]):
            if k == "scenario":
                ax.annotate(str(g), (x, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"countries in the {members[len('members_'):]} tier")
        ax.set_ylabel(label)
    fig.suptitle("who counts as a friend: each run's definition (orange: named scenarios)", fontsize=9)
    return _save(fig, folder, "friends")
