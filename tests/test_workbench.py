"""The evaluation workbench: judgments in BEIR or TREC form with line-numbered errors, saved runs,
`rag compare` with ranx's paired test, and the HTML report opened in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.compare import compare_runs
from rag.evaluation import DatasetError, load_beir, read_qrels
from rag.runs import SavedRun, run_paths
from tests.test_cli import rag

DOCS = [
    ("d1", "Tapirs", "Tapirs cross the Usumacinta river at night in Chiapas."),
    ("d2", "Jaguars", "Jaguars hunt peccaries in the Lacandon forest."),
    ("d3", "Quetzals", "Quetzals nest in the cloud forests of Guatemala and Chiapas."),
    ("d4", "Manatees", "Manatees graze on seagrass along the coast of Quintana Roo."),
    ("d5", "Axolotls", "Axolotls live in the canals of Xochimilco near Mexico City."),
    ("d6", "Vaquitas", "Vaquitas are porpoises of the northern Gulf of California."),
]
QUERIES = {"q1": "Which animal crosses rivers at night?", "q2": "Where do quetzals nest?", "q3": "What do manatees eat?"}


def beir_folder(root: Path, qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td4\t1\n") -> Path:
    folder = root / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def test_qrels_in_beir_and_trec_form(tmp_path):
    beir = tmp_path / "b.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\n")
    trec = tmp_path / "t.qrels"
    trec.write_text("q1 0 d1 2\nq2 0 d3 1\n")
    assert read_qrels(beir)[0] == {"q1": {"d1": 1, "d2": 0}}
    assert read_qrels(trec, {"d1", "d3"}) == ({"q1": {"d1": 2}, "q2": {"d3": 1}}, {"q1": 1, "q2": 2})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1 0 d1 1\nq2 d3\n", ":2: expected 'query doc relevance'"),
        ("q1\td1\t1\nq2\td3\tyes\n", ":2: relevance 'yes' is not an integer"),
        ("q1 0 d1 1\n\nq2 0 d99 1\n", ":3: document 'd99' is not in the corpus"),
        ("", "no judgments"),
    ],
)
def test_bad_qrels_name_their_line(tmp_path, text, message):
    path = tmp_path / "q.tsv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_qrels(path, {d[0] for d in DOCS})


def test_beir_folder_errors(tmp_path):
    folder = beir_folder(tmp_path, "q1\td1\t1\nq7\td2\t1\n")
    with pytest.raises(DatasetError, match=r"test.tsv:2: query 'q7' is not in queries.jsonl"):
        load_beir(folder, "test")
    with pytest.raises(DatasetError, match="lacks"):
        load_beir(folder, "dev")
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{broken\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl:2: not JSON"):
        load_beir(folder, "test")


def _run(name: str, ranks: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> SavedRun:
    return SavedRun(name, "tiny", "test", "hybrid", {}, qrels, {q: {d: float(10 - i) for i, d in enumerate(r)} for q, r in ranks.items()})


def test_compare_hand_computed():
    qrels = {"q1": {"d1": 1}, "q2": {"d3": 1}, "q3": {"d4": 1}}
    a = _run("a", {"q1": ["d1", "d2"], "q2": ["d2", "d3"], "q3": ["d2", "d5"]}, qrels)
    b = _run("b", {"q1": ["d1", "d2"], "q2": ["d3", "d2"], "q3": ["d2", "d4"]}, qrels)
    c = compare_runs(a, b, ["mrr@10", "recall@1"])
    # MRR: a = (1 + 1/2 + 0) / 3 = 0.5; b = (1 + 1 + 1/2) / 3 = 0.8333
    assert c.scores["a"]["mrr@10"] == pytest.approx(0.5, abs=1e-4)
    assert c.scores["b"]["mrr@10"] == pytest.approx(0.8333, abs=1e-4)
    assert c.scores["b"]["recall@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert [r["query"] for r in c.better] == ["q2", "q3"] and c.worse == []  # both gained 0.5: ties keep query order
    assert 0.0 < c.p_values["mrr@10"] <= 1.0


def test_compare_refuses_runs_of_different_datasets():
    with pytest.raises(Exception, match="same judgments"):
        compare_runs(_run("a", {"q1": ["d1"]}, {"q1": {"d1": 1}}), _run("b", {"q1": ["d1"]}, {"q1": {"d2": 1}}))


def test_run_paths_one_file_per_mode(tmp_path):
    assert run_paths(tmp_path / "x", ["hybrid"]) == {"hybrid": tmp_path / "x.json"}
    assert run_paths(tmp_path / "x.json", ["dense", "hybrid"]) == {"dense": tmp_path / "x-dense.json", "hybrid": tmp_path / "x-hybrid.json"}


def test_eval_save_compare_report_end_to_end(tmp_path):
    folder = beir_folder(tmp_path)
    env = {"RAG_INDEX_DIR": str(tmp_path / "ix")}
    runs = tmp_path / "runs"
    p = rag(
        "eval",
        str(folder),
        "--mode",
        "dense",
        "--mode",
        "lexical",
        "--save-run",
        str(runs / "tiny.json"),
        "--report",
        str(tmp_path / "r.html"),
        env=env,
    )
    assert p.returncode == 0, p.stderr
    dense, lexical = SavedRun.load(runs / "tiny-dense.json"), SavedRun.load(runs / "tiny-lexical.json")
    assert dense.qrels == {"q1": {"d1": 1}, "q2": {"d3": 1}, "q3": {"d4": 1}} and dense.config["model"] == "all-MiniLM-L6-v2"
    assert dense.config["bm25_idf"] == "smoothed" and dense.config["store"] == "faiss"
    trec = (runs / "tiny-dense.trec").read_text().splitlines()
    assert trec[0].split()[1] == "Q0" and trec[0].split()[3] == "1" and len(trec) == sum(len(v) for v in dense.run.values())
    p = rag("compare", str(runs / "tiny-dense.json"), str(runs / "tiny-lexical.json"), "--metric", "ndcg@10", "--metric", "recall@1")
    assert p.returncode == 0, p.stderr
    assert "ndcg@10" in p.stdout and "p (student)" in p.stdout and "B - A" in p.stdout
    p = rag("compare", str(runs / "tiny-dense.json"), str(tmp_path / "nope.json"))
    assert p.returncode != 0 and "no such run file" in p.stderr and "Traceback" not in p.stderr
    p = rag("eval", str(folder), "--qrels", str(tmp_path / "missing.qrels"), env=env)
    assert p.returncode != 0 and "no such qrels file" in p.stderr and "Traceback" not in p.stderr
    assert lexical.mode == "lexical"


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (make browser)")
def test_report_opens_in_a_browser_with_no_outside_requests(tmp_path):
    from playwright.sync_api import sync_playwright

    folder = beir_folder(tmp_path)
    report = tmp_path / "r.html"
    p = rag("eval", str(folder), "--mode", "dense", "--mode", "hybrid", "--report", str(report), env={"RAG_INDEX_DIR": str(tmp_path / "ix")})
    assert p.returncode == 0, p.stderr
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url))
        page.goto(report.as_uri())
        assert page.locator("h2").all_inner_texts()[:3] == ["Metrics", "Recall@k", "Rank of the first relevant result"]
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == 2 and all(w > 100 for w in widths)
        assert page.locator(".q").count() == 3  # fewer than 10 queries: all of them
        assert "Which animal crosses rivers at night?" in page.content()
        browser.close()
    assert outside == []


def test_bundled_example_questions_evaluate(seed_index):
    """The README's walk-through data: both bundled dev files read as evidence files."""
    from tests.helpers import ROOT

    engine, _ = seed_index
    for name in ("seed_qa_dev.jsonl", "seed_qa_paraphrase_dev.jsonl"):
        p = rag("eval", str(ROOT / "examples" / "eval" / name), "--json", env={"RAG_INDEX_DIR": str(engine.settings.index_dir)})
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["modes"]["hybrid"]["recall@100"] > 0.9


def test_evidence_file_errors_name_their_line(tmp_path, seed_index):
    from rag.evaluation import eval_evidence

    engine, _ = seed_index
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "q", "doc": "a.txt", "evidence": ["x"]}\n\n{"question": "q2", "doc": "a.txt"}\n')
    with pytest.raises(DatasetError, match=r"q.jsonl:3: needs 'question', 'doc' and a list 'evidence'"):
        eval_evidence(engine, bad, ["hybrid"])
    bad.write_text('{"question": "q", "doc": "a.txt", "evidence": ["x", 7]}\n')
    with pytest.raises(DatasetError, match=r"q.jsonl:1: needs .* a list 'evidence' of quotes"):
        eval_evidence(engine, bad, ["hybrid"])
    bad.write_text('{"question": "q", "doc": "a.txt", "evidence": ["x"]}\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"q.jsonl:2: not a JSON object"):
        eval_evidence(engine, bad, ["hybrid"])


def test_evidence_that_can_never_be_found_is_an_error_naming_its_lines(tmp_path, seed_index):
    """A document the index lacks, or quotes no passage holds, would score 0 unnoticed: both are refused."""
    from rag.evaluation import eval_evidence

    engine, _ = seed_index
    row = {"question": "Who visited Mexico City in 2017?", "doc": "001_e0cea56afaaf3c59.txt", "evidence": ["Rex Tillerson will travel to"]}
    good = json.dumps(row)
    typo = good.replace("will travel", "will fly")
    unknown = good.replace("001_e0cea56afaaf3c59.txt", "009_missing.txt")
    bad = tmp_path / "q.jsonl"
    bad.write_text("\n".join([good, typo, good, unknown]) + "\n")
    with pytest.raises(DatasetError) as e:
        eval_evidence(engine, bad, ["hybrid"])
    assert "q.jsonl:2: no passage of '001_e0cea56afaaf3c59.txt' contains any of its evidence quotes" in str(e.value)
    assert "q.jsonl:4: document '009_missing.txt' is not in the index" in str(e.value)
    assert ":1:" not in str(e.value) and ":3:" not in str(e.value)
    # Named by its path under the corpus folder, the same document is found.
    bad.write_text(good.replace('"001_', '"corpus/001_') + "\n")
    assert eval_evidence(engine, bad, ["hybrid"]).first_ranks["hybrid"]["0"] == 1
    p = rag("eval", str(tmp_path / "q.jsonl"), env={"RAG_INDEX_DIR": str(engine.settings.index_dir)})
    assert p.returncode == 0, p.stderr
    bad.write_text(unknown + "\n")
    p = rag("eval", str(bad), env={"RAG_INDEX_DIR": str(engine.settings.index_dir)})
    assert p.returncode == 2 and "is not in the index" in p.stderr and "Traceback" not in p.stderr
