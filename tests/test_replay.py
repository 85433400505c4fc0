"""run.json replays (issue 13, item 17) and the model written for other solvers (item 18).

Before: run.json stored ``--set`` values as YAML text (``"[n1, n2]"``), which ``load_instance``
refused, so a recorded run could not be re-run from its record; and no command wrote the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli.app import app
from planner.instance.io import instance_hash, load_instance
from planner.solve.highs import SolveOptions, build_and_solve, new_highs
from tests.io_fixtures import make

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _tables(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def _solve(*args: str) -> dict:
    r = runner.invoke(app, ["solve", *args])
    assert r.exit_code == 0, r.output
    return r


def test_run_json_overrides_load_back_to_the_same_instance(tmp_path):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--variant", "strict", "--set", "policy.country_share_cap=0.7",
           "--set", "policy.exclude_tiers=[concern]", "--scenarios", "n1", "--out", str(tmp_path / "o"))
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    again = load_instance(run["instance"]["path"], run["overrides"], variant=run["variant"])
    assert instance_hash(again) == run["instance"]["instance_sha256"]


def test_replay_reproduces_the_tables_byte_for_byte(tmp_path):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--variant", "strict", "--set", "policy.country_share_cap=0.7", "--scenarios", "n1",
           "--seed", "5", "--format", "csv,json", "--out", str(tmp_path / "a"))
    r = _solve("--replay", str(tmp_path / "a" / "run.json"), "--out", str(tmp_path / "b"))
    assert "replaying" in r.output
    a, b = (json.loads((tmp_path / d / "run.json").read_text()) for d in "ab")
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b") and len(_tables(tmp_path / "a")) >= 5
    assert (tmp_path / "b" / "kpis.json").exists()  # the recorded formats
    for key in ("overrides", "variant", "options", "formats", "compare"):
        assert a[key] == b[key], key
    assert a["instance"]["instance_sha256"] == b["instance"]["instance_sha256"]
    assert b["replayed_from"]["instance_sha256"] == a["instance"]["instance_sha256"]


def test_replay_of_a_schema_1_record_reads_its_yaml_texts(tmp_path):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--set", "policy.country_share_cap=0.7", "--scenarios", "n1", "--out", str(tmp_path / "a"))
    path = tmp_path / "a" / "run.json"
    run = json.loads(path.read_text())
    # How schema 1 stored overrides: the --set texts.
    run.update(schema=1, overrides={"policy.country_share_cap": "0.7", "policy.scenario_generators": "[n1]"})
    path.write_text(json.dumps(run))
    _solve("--replay", str(tmp_path / "a"), "--out", str(tmp_path / "b"))
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")


def test_replay_warns_when_the_input_files_changed(tmp_path):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--out", str(tmp_path / "a"))
    (folder / "countries.csv").write_text((folder / "countries.csv").read_text() + "\n")
    r = _solve("--replay", str(tmp_path / "a"), "--out", str(tmp_path / "b"))
    assert "not an exact replay" in " ".join(r.output.split())  # the console wraps lines


@pytest.mark.parametrize("extra,needle", [(["INSTANCE"], "INSTANCE"), (["--set", "policy.country_share_cap=0.5"], "--set"),
                                          (["--gap", "0.1"], "--gap"), (["--variant", "strict"], "--variant"),
                                          (["--seed", "0"], "--seed"),  # a value of 0 is given too
                                          (["--gap", "0"], "--gap")])
def test_replay_refuses_changes_naming_them(tmp_path, extra, needle):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--out", str(tmp_path / "a"))
    extra = [str(folder) if x == "INSTANCE" else x for x in extra]
    r = runner.invoke(app, ["solve", *extra, "--replay", str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and needle in r.output and not (tmp_path / "b").exists()


def test_replay_without_out_of_a_run_that_wrote_its_model(tmp_path):
    # The recorded model file is written again only where an --out can hold it; without --out the
    # replay prints its comparison like any solve without --out.
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--write-model", "lp", "--out", str(tmp_path / "a"))
    r = runner.invoke(app, ["solve", "--replay", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    _solve("--replay", str(tmp_path / "a"), "--out", str(tmp_path / "b"))
    assert (tmp_path / "b" / "model.lp").exists()


def test_replay_of_something_else_exits_2_naming_it(tmp_path):
    (tmp_path / "run.json").write_text('{"hello": 1}')
    r = runner.invoke(app, ["solve", "--replay", str(tmp_path / "run.json")])
    assert r.exit_code == 2 and "not the run.json of a solve" in r.output
    r = runner.invoke(app, ["solve", "--replay", str(tmp_path / "none.json")])
    assert r.exit_code == 2 and "none.json" in r.output


def test_replay_of_a_moved_instance_exits_2(tmp_path):
    folder = make(tmp_path / "tiny")
    _solve(str(folder), "--out", str(tmp_path / "a"))
    folder.rename(tmp_path / "elsewhere")
    r = runner.invoke(app, ["solve", "--replay", str(tmp_path / "a")])
    assert r.exit_code == 2 and "instance.path" in r.output


# --------------------------------------------------------------------------- --write-model
@pytest.mark.parametrize("fmt", ["mps", "lp"])
def test_written_model_solves_to_the_same_optimum_in_highs(tmp_path, fmt):
    inst_path = ROOT / "instances" / "critical-minerals-us-japan"
    _solve(str(inst_path), "--write-model", fmt, "--no-compare", "--out", str(tmp_path / "o"))
    path = tmp_path / "o" / f"model.{fmt}"
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["files"] == [f"model.{fmt}"]
    # The reference: our own solve of the same instance to gap 0.
    _, ref = build_and_solve(load_instance(inst_path), SolveOptions(rel_gap=0))
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    assert str(h.readModel(str(path))).endswith("kOk")
    h.run()
    assert str(h.getModelStatus()).endswith("kOptimal")
    assert h.getInfo().objective_function_value == pytest.approx(ref.objective, rel=1e-9)
    assert "Flow(" in path.read_text()  # readable names, to cross-check a row with the tables


@pytest.mark.parametrize("args,needle", [(["--write-model", "gms"], "one of mps, lp"),
                                         (["--write-model", "mps"], "--out DIR as well")])
def test_write_model_refuses_bad_requests(tmp_path, args, needle):
    folder = make(tmp_path / "tiny")
    r = runner.invoke(app, ["solve", str(folder), *args])
    assert r.exit_code == 2 and needle in r.output


def test_infeasible_run_still_writes_the_model_for_a_cross_check(tmp_path):
    from tests.test_cli import TWO_SUPPLIERS, write_instance_files

    # As in test_cli: caps 0.6 let A supply 60 and B only its capacity 30, so 90 of 100 at most.
    folder = write_instance_files(tmp_path / "two", TWO_SUPPLIERS)
    r = runner.invoke(app, ["solve", str(folder), "--set", "policy.country_share_cap=0.6", "--write-model", "lp",
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 3, r.output
    assert (tmp_path / "o" / "model.lp").exists() and (tmp_path / "o" / "diagnosis.csv").exists()
