"""The `rag` command as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import CORPUS


def rag(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_index_and_search_json(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    (corpus / "notes.xyz").write_text("ignored")
    p = rag("index", str(corpus), "--json", env={"RAG_INDEX_DIR": str(tmp_path / "ix")})
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert set(summary) == {"added", "updated", "removed", "unchanged", "chunks_embedded", "skipped", "errors"}
    assert summary["added"] == 1 and summary["skipped"][0].endswith("notes.xyz")
    p = rag("search", "When did Tillerson travel to Mexico City?", "--json", "--top-k", "3", env={"RAG_INDEX_DIR": str(tmp_path / "ix")})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    top = out["results"][0]
    for key in (
        "rank",
        "score",
        "chunk_id",
        "doc_id",
        "title",
        "source",
        "section",
        "text",
        "char_start",
        "char_end",
        "line_start",
        "line_end",
        "page",
    ):
        assert key in top
    assert out["query"].startswith("When did") and len(out["results"]) == 3
    assert top["line_start"] <= 6 <= top["line_end"]


def test_errors_are_messages_not_tracebacks(tmp_path):
    p = rag("search", "x", "--top-k", "0", "--index-dir", str(tmp_path))
    assert p.returncode == 2 and "top-k" in p.stderr and "Traceback" not in p.stderr
    p = rag("search", "x", "--filter", "{bad json", "--index-dir", str(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = rag("index", str(tmp_path / "missing"), "--json", "--index-dir", str(tmp_path / "ix"))
    assert p.returncode == 1 and "no such file" in p.stdout


def test_defaults_index_in_the_working_directory_and_the_bundled_corpus(tmp_path, monkeypatch):
    from rag import Settings

    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.index_dir == Path("index") and not s.index_dir.is_absolute()
    assert (s.corpus_dir / "manifest.json").is_file() and len(list(s.corpus_dir.glob("*.txt"))) == 5


def test_ask_with_an_llm_prints_the_verified_answer_and_what_was_not_supported(seed_index):
    from tests.llm_double import FAKE_NAME, Double

    engine, _ = seed_index
    with Double() as double:
        env = {"RAG_INDEX_DIR": str(engine.settings.index_dir), "RAG_LLM_BASE_URL": double.base_url, "RAG_LLM_MODEL": "fabricate"}
        p = rag("ask", "What did the Merida Initiative fund?", "--json", env=env)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["mode"] == "generated" and [c["supported"] for c in out["claims"]] == [True, False]
        p = rag("ask", "What did the Merida Initiative fund?", env=env)
        assert p.returncode == 0 and "not supported by the sources" in p.stdout and (FAKE_NAME in p.stdout or "[2]" in p.stdout)
        p = rag("ask", "What did the Merida Initiative fund?", "--extractive", "--json", env=env)
        assert json.loads(p.stdout)["mode"] == "extractive"
