"""Manifests, replay and from-scratch reproduction, environment differences."""

from __future__ import annotations

import json
import re
import sqlite3


def test_the_manifest_records_seeds_trials_threads_cpu_and_packages(recorded, cli):
    home, run_id = recorded
    code, out, err = cli(home, "run", "show", "flights", run_id, "--json")
    assert code == 0, err
    manifest = json.loads(out)["manifest"]
    assert manifest["dataset"]["sha256"] and manifest["schema_hash"]
    assert manifest["split"]["hash"] == json.loads(out)["split"]["hash"]
    assert manifest["budget"]["cpus"] == 2 and manifest["max_trials"] == 5
    assert manifest["approval"]["approved_by"] == "ana"
    seeds = manifest["seeds"]
    assert seeds["split"] == seeds["sampler"] == 0
    searched = {str(n): n for n in range(5)}
    assert {k: v for k, v in seeds["trials"].items() if k in searched} == searched
    assert set(seeds["trials"]) - set(searched) <= {"5"}  # and the ensemble's, when one won
    sequence = manifest["trial_sequence"]
    assert [t["number"] for t in sequence][:5] == list(range(5))
    assert all(t["family"] == "ensemble" for t in sequence[5:]) and len(sequence) <= 6
    assert sequence[0]["family"] == "baseline" and all("params" in t for t in sequence)
    env = manifest["environment"]
    assert env["cpu"] and env["cpu_count"] >= 1 and isinstance(env["cpu_flags"], list)
    assert "OMP_NUM_THREADS" in env["threads"] and manifest["n_threads"] == 2
    assert env["packages"]["lightgbm"] and env["python"] and env["mlpilot"]
    if env["mlpilot_source"] is not None:  # tests run from a git checkout of mlpilot
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", env["mlpilot_source"])
    outputs = manifest["outputs"]
    assert len(outputs["artifact_sha256"]) == 64
    assert len(outputs["test_predictions_sha256"]) == 64


def test_replay_into_a_new_run_is_identical(recorded, cli):
    home, run_id = recorded
    code, out, err = cli(home, "reproduce", run_id[:8], "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verdict"] == "identical" and result["where"] == []
    assert result["new_run"] != run_id and result["mode"] == "replay"
    aspects = {c["aspect"]: c for c in result["comparisons"]}
    assert set(aspects) == {"split", "trial scores", "chosen trial", "model artifact sha256",
                            "evaluated model sha256", "test predictions", "test metrics"}
    assert "bit-identical" in aspects["test predictions"]["detail"]
    assert "matches the hash" in result["manifest_check"]
    code, out, _ = cli(home, "model", "list", "flights", "--json")
    models = json.loads(out)
    assert models[0]["champion"] and not models[-1]["champion"]  # a reproduction never promotes
    assert models[0]["artifact_sha256"] == models[-1]["artifact_sha256"]


def test_a_run_recorded_before_the_final_fit_form_replays_identically(copy_of, cli):
    home, run_id = copy_of
    with sqlite3.connect(home / "mlpilot.db") as db:
        (text,) = db.execute("select manifest_json from runs where id = ?", (run_id,)).fetchone()
        manifest = json.loads(text)
        assert manifest["refit"].pop("form") == "one"  # a holdout member: one model
        db.execute("update runs set manifest_json = ? where id = ?",
                   (json.dumps(manifest), run_id))
    code, out, err = cli(home, "reproduce", run_id, "--json")
    assert code == 0, err
    aspects = {c["aspect"]: c["identical"] for c in json.loads(out)["comparisons"]}
    assert aspects["model artifact sha256"] and aspects["test predictions"]


def test_from_scratch_search_of_a_trial_count_run_matches(recorded, cli):
    home, run_id = recorded
    code, out, err = cli(home, "reproduce", run_id, "--from-scratch", "--json")
    assert code == 0, err
    assert json.loads(out)["verdict"] == "identical" and json.loads(out)["mode"] == "scratch"


def test_a_changed_package_version_is_reported_before_the_replay(copy_of, cli):
    home, run_id = copy_of
    with sqlite3.connect(home / "mlpilot.db") as db:
        (text,) = db.execute("select manifest_json from runs where id = ?", (run_id,)).fetchone()
        manifest = json.loads(text)
        real = manifest["environment"]["packages"]["numpy"]
        manifest["environment"]["packages"]["numpy"] = "1.0.0"
        db.execute("update runs set manifest_json = ? where id = ?",
                   (json.dumps(manifest), run_id))
    code, out, err = cli(home, "reproduce", run_id)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "package numpy" in flat and "1.0.0" in flat and real in flat
    assert flat.index("package numpy") < flat.index("re-created as run") < flat.index("Verdict")
    assert "edited after the run" in flat
    code, _, err = cli(home, "audit", "verify")
    assert code == 1 and f"run {run_id} manifest" in err


def test_from_scratch_is_refused_for_a_time_budgeted_run(copy_of, cli):
    home, run_id = copy_of
    with sqlite3.connect(home / "mlpilot.db") as db:
        (text,) = db.execute("select manifest_json from runs where id = ?", (run_id,)).fetchone()
        manifest = json.loads(text)
        manifest["max_trials"] = None
        db.execute("update runs set manifest_json = ? where id = ?",
                   (json.dumps(manifest), run_id))
    code, _, err = cli(home, "reproduce", run_id, "--from-scratch")
    assert code != 0 and "time budget" in err and "mlpilot reproduce" in err


def test_reproduce_needs_a_run_or_a_bundle(recorded, cli):
    home, _ = recorded
    code, _, err = cli(home, "reproduce")
    assert code != 0 and "--bundle" in err
    code, _, err = cli(home, "reproduce", "nope")
    assert code != 0 and "unknown run 'nope'" in err
