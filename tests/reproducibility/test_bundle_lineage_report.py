"""Bundles re-created in a fresh workspace, the lineage graph, the narrative report."""

from __future__ import annotations

import json
import tarfile

from mlpilot.pipeline.workspace import Workspace
from mlpilot.store import repositories as repo


def test_a_bundle_is_reproduced_identically_in_a_fresh_workspace(recorded, cli, tmp_path):
    home, run_id = recorded
    bundle = tmp_path / "run.tar.gz"
    code, out, err = cli(home, "export", run_id, str(bundle), "--json")
    assert code == 0, err
    files = json.loads(out)["files"]
    for name in ("manifest.json", "project.json", "approval.json", "data/v1.parquet",
                 "data/v1.json", "split.bin", "trials.json", "model.zip", "report.html",
                 "report.md", "events.jsonl", "test_predictions.bin"):
        assert name in files
    code, out, _ = cli(home, "export", run_id, str(tmp_path / "again.tar.gz"), "--json")
    again = json.loads(out)["files"]
    # same bytes for every file but the audit trail (and the reports listing it), which now
    # holds the first export's event
    changed = {name for name in files if again[name] != files[name]}
    assert changed <= {"events.jsonl", "report.html", "report.md", "bundle.json"}
    fresh = tmp_path / "fresh"
    code, out, err = cli(fresh, "reproduce", "--bundle", str(bundle), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verdict"] == "identical", result
    ws = Workspace(fresh)
    assert ws.project("flights").dataset()["sha256"] == \
        Workspace(home).project("flights").dataset()["sha256"]
    assert "run.reproduced" in [e["action"] for e in ws.events("flights")]
    code, _, err = cli(fresh, "reproduce", "--bundle", str(bundle))
    assert code != 0 and "already exists" in err


def test_a_modified_bundle_is_refused(recorded, cli, tmp_path):
    home, run_id = recorded
    bundle = tmp_path / "run.tar.gz"
    assert cli(home, "export", run_id, str(bundle))[0] == 0
    with tarfile.open(bundle) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members["trials.json"] = members["trials.json"].replace(b'"seed":1', b'"seed":9')
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(forged, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            import io
            tar.addfile(info, io.BytesIO(data))
    code, _, err = cli(tmp_path / "fresh", "reproduce", "--bundle", str(forged))
    assert code != 0 and "trials.json" in err and "does not match its sha256" in err


def test_lineage_runs_from_data_to_alias_events_and_flags_stale(copy_of, cli):
    home, _ = copy_of
    code, out, err = cli(home, "lineage", "flights", "1", "--json")
    assert code == 0, err
    graph = json.loads(out)
    kinds = [n["kind"] for n in graph["nodes"]]
    assert kinds[:6] == ["dataset", "split", "run", "trials", "model", "evaluation"]
    assert "alias" in kinds and graph["stale"] is False and graph["champion"] is True
    assert len(graph["edges"]) == len(graph["nodes"]) - 1
    ws = Workspace(home)
    with ws.store.transaction() as session:
        project = repo.get_project(session, "flights")
        first = repo.latest_dataset_version(session, project)
        repo.add_dataset_version(session, project, sha256=first.sha256, n_rows=first.n_rows,
                                 n_columns=first.n_columns,
                                 schema=json.loads(first.schema_json),
                                 schema_hash="0" * 64, profile_sha256=first.profile_sha256,
                                 source="newer batch", parent=first)
    code, out, err = cli(home, "lineage", "flights", "1")
    flat = " ".join(out.split())
    assert code == 0 and "stale: dataset v2 is newer than v1" in flat
    assert "the latest schema" in flat


def test_the_report_is_self_contained_html_and_markdown(recorded, cli, tmp_path):
    home, run_id = recorded
    html_path, md_path = tmp_path / "r.html", tmp_path / "r.md"
    assert cli(home, "report", run_id, "--output", str(html_path))[0] == 0
    assert cli(home, "report", run_id, "--format", "md", "--output", str(md_path))[0] == 0
    html = html_path.read_text()
    for section in ("Problem", "Data", "Quality findings", "Split", "Search history",
                    "Leaderboard", "Chosen model and why", "Test metrics", "95% interval",
                    "ROC curve", "Precision-recall curve", "Calibration",
                    "Permutation importance", "Lineage", "Environment"):
        assert section in html, section
    assert "<script" not in html and "<link" not in html and "src=\"http" not in html
    assert html.count("<svg") >= 5
    markdown = md_path.read_text()
    assert markdown.startswith("# flights: run #1") and "## Test metrics" in markdown
    assert "data:image/svg+xml;base64," in markdown
    code, _, err = cli(home, "report", run_id, "--format", "pdf")
    assert code != 0 and "html or md" in err
