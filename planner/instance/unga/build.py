"""Rebuild this folder's compact copy of the UN General Assembly votes from the full extract.

    python planner/instance/unga/build.py ../shared/data/unga

Reads votes.csv.gz, roll_calls.csv.gz and countries.csv of that extract (see its README) and writes
votes.parquet (rcid, country_code, vote), roll_calls.csv (rcid, session, date, importantvote) and
countries.csv (country_code, country). Namibia's code is the text NA: read with keep_default_na=False.
Not imported by the planner; run by hand when the extract changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def main(src: str) -> None:
    here = Path(__file__).resolve().parent
    read = dict(keep_default_na=False, na_values=[""])
    votes = pd.read_csv(Path(src) / "votes.csv.gz", **read)
    votes = votes.assign(country_code=votes["country_code"].astype("category"),
                         vote=pd.Categorical(votes["vote"], categories=["yes", "abstain", "no"]))
    votes[["rcid", "country_code", "vote"]].to_parquet(here / "votes.parquet", compression="zstd", index=False)
    rc = pd.read_csv(Path(src) / "roll_calls.csv.gz", **read)
    rc = rc.assign(importantvote=rc["importantvote"].astype("Int64"))  # blank: not coded (not 0)
    rc[["rcid", "session", "date", "importantvote"]].to_csv(here / "roll_calls.csv", index=False)
    c = pd.read_csv(Path(src) / "countries.csv", **read)
    c = c[c["country_code"].astype(str).str.len() > 0]  # Zanzibar (1963) has no code
    c[["country_code", "country"]].to_csv(here / "countries.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1])
