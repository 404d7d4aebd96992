import json
import subprocess
import sys

from rag.evaluation import eval_beir, eval_evidence, normalize_quote
from tests.helpers import FIXTURES, engine_at


def test_beir_fixture_all_modes_and_cache(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    report = eval_beir(e, FIXTURES / "beir_mini", "test", ["dense", "lexical", "hybrid"])
    assert report.queries == 4
    assert report.modes["hybrid"]["recall@100"] == 1.0
    assert report.modes["dense"]["mrr@10"] >= 0.75
    again = eval_beir(e, FIXTURES / "beir_mini", "test", ["hybrid"])
    assert "0 (re)indexed" in again.notes[0]
    assert again.modes["hybrid"] == report.modes["hybrid"]


def test_evidence_fixture(seed_index):
    engine, _ = seed_index
    report = eval_evidence(engine, FIXTURES / "evidence_mini.jsonl", ["hybrid"])
    assert report.modes["hybrid"]["recall@5"] == 1.0
    assert report.first_ranks["hybrid"]["e1"] == 1


def test_normalize_quote():
    assert normalize_quote("“Whole  enchi-\nlada” isn’t") == '"whole enchilada" isn\'t'


def test_cli_eval_json_and_per_query(tmp_path):
    out = tmp_path / "pq.jsonl"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "eval",
            str(FIXTURES / "beir_mini"),
            "--mode",
            "dense",
            "--mode",
            "lexical",
            "--json",
            "--per-query",
            str(out),
            "--index-dir",
            str(tmp_path / "ix"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["dataset"] == "beir_mini" and data["split"] == "test" and data["queries"] == 4
    assert set(data["modes"]) == {"dense", "lexical"}
    assert set(data["modes"]["dense"]) == {"ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["query_id"] for r in rows} == {"q1", "q2", "q3", "q4"}
