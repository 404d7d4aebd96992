"""Every route through FastAPI's test client, with the real model and a real index."""

import io
import os
import re
import subprocess
import sys
import time

import docx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from rag import Settings
from tests.helpers import engine_at, make_expanding_pdf, make_pdf

KEY = "test-key-123"


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder, seed_index):
    seed_engine, corpus = seed_index
    path = tmp_path_factory.mktemp("api") / "index"
    engine = engine_at(path, embedder, api_key=KEY)
    engine.sync([corpus])
    with TestClient(create_app(engine=engine)) as c:
        yield c


AUTH = {"Authorization": f"Bearer {KEY}"}


def snapshot(client):
    return client.get("/stats").json()


def test_health_ready_stats(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").status_code == 200
    s = snapshot(client)
    assert s["documents"] == 5 and s["chunks"] == s["vectors"] > 100 and s["model"] == "all-MiniLM-L6-v2"


def test_search_shape_and_highlights(client):
    r = client.post("/search", json={"query": "When did Tillerson travel to Mexico City?", "top_k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["took_ms"] > 0 and len(body["results"]) == 3
    top = body["results"][0]
    assert top["doc_id"] == "001_e0cea56afaaf3c59" and top["line_start"] <= 6 <= top["line_end"]
    assert any("Tillerson" in h["text"] for h in top["highlights"])
    for h in top["highlights"]:
        assert top["text"][h["start"] : h["end"]] == h["text"]


def test_search_modes_and_filters(client):
    for mode in ("dense", "lexical", "hybrid"):
        assert client.post("/search", json={"query": "Merida Initiative", "mode": mode}).status_code == 200
    r = client.post("/search", json={"query": "security", "filters": {"year": 2014}, "top_k": 5})
    assert {x["doc_id"] for x in r.json()["results"]} == {"003_a38ecee51900cf6b"}


def test_ask_grounded_with_citations(client):
    a = client.post("/ask", json={"question": "When did Tillerson travel to Mexico City?"}).json()
    assert a["grounded"] is True and "February 22–23, 2017" in a["answer"]
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", a["answer"])]
    assert markers and {c["marker"] for c in a["citations"]} == set(markers)
    for c in a["citations"]:
        passage = a["passages"][c["marker"] - 1]
        assert c["doc_id"] == passage["doc_id"] and c["text"] in passage["text"]
        assert c["section"] == passage["section"] and c["page"] is None  # a text file has no pages
        doc = client.get(f"/documents/{c['doc_id']}").json()
        assert doc["text"][c["char_start"] : c["char_end"]] == c["text"]


@pytest.mark.parametrize(
    "q", ["Which team won the 1998 FIFA World Cup final?", "What security measures did Claudia Sheinbaum announce after taking office in 2024?"]
)
def test_ask_refuses_unanswerable(client, q):
    a = client.post("/ask", json={"question": q}).json()
    assert a["grounded"] is False and a["citations"] == [] and "do not answer" in a["answer"]


def test_context_fits_budget(client):
    from rag.tokens import count_tokens

    for budget in (60, 300, 2000):
        c = client.post("/context", json={"query": "Mexican army role in public security", "max_tokens": budget}).json()
        assert 0 < c["tokens"] <= budget and count_tokens(c["context"]) == c["tokens"]
        assert c["context"].startswith("[1] ") and len(c["passages"]) >= 1
    big = client.post("/context", json={"query": "Mexican army", "max_tokens": 2000, "top_k": 8}).json()
    assert f"[{len(big['passages'])}]" in big["context"]


def test_documents_and_chunks(client):
    docs = client.get("/documents").json()
    assert docs["count"] == 5 and all("path" not in d for d in docs["documents"])
    d = client.get("/documents/001_e0cea56afaaf3c59").json()
    assert d["title"] == "U.S. and Mexico’s Defense Policies" and d["metadata"]["year"] == 2017
    ch = client.get("/chunks/001_e0cea56afaaf3c59:0").json()
    assert d["text"][ch["char_start"] : ch["char_end"]] == ch["text"]
    assert client.get("/documents/nope").status_code == 404
    assert client.get("/chunks/nope:1").status_code == 404


def test_upload_json_search_delete(client):
    before = snapshot(client)
    doc = {"title": "Probe", "text": "The zebra-striped lighthouse of Quintana Roo was repainted.", "metadata": {"year": 2031}}
    assert client.post("/documents", json=doc).status_code == 401
    assert snapshot(client) == before
    r = client.post("/documents", json=doc, headers=AUTH)
    assert r.status_code == 201
    did = r.json()["doc_id"]
    hits = client.post("/search", json={"query": "zebra-striped lighthouse", "top_k": 1}).json()["results"]
    assert hits[0]["doc_id"] == did
    assert client.delete(f"/documents/{did}").status_code == 401
    assert client.delete(f"/documents/{did}", headers=AUTH).status_code == 200
    hits = client.post("/search", json={"query": "zebra-striped lighthouse", "top_k": 10}).json()["results"]
    assert all(h["doc_id"] != did for h in hits)
    assert client.delete(f"/documents/{did}", headers=AUTH).status_code == 404
    assert snapshot(client)["documents"] == before["documents"]


def test_upload_files(client):
    settings = client.app.state.settings
    r = client.post("/documents", headers=AUTH, files={"file": ("report.pdf", make_pdf(["Okapi migration in Chiapas."]), "application/pdf")})
    assert r.status_code == 201
    did = r.json()["doc_id"]
    assert (settings.index_dir / "uploads" / f"{did}.pdf").exists()
    top = client.post("/search", json={"query": "okapi migration Chiapas", "top_k": 1}).json()["results"][0]
    assert top["doc_id"] == did and top["page"] == 1
    assert client.delete(f"/documents/{did}", headers=AUTH).status_code == 200
    assert not (settings.index_dir / "uploads" / f"{did}.pdf").exists()  # the file goes with its document


def test_upload_a_word_document(client):
    data = io.BytesIO()
    d = docx.Document()
    d.add_heading("Tapir tracking", level=1)
    d.add_paragraph("Tapirs crossed the Grijalva river at night in 2031.")
    d.save(data)
    r = client.post("/documents", headers=AUTH, files={"file": ("tapirs.docx", data.getvalue(), "application/octet-stream")})
    assert r.status_code == 201, r.text
    top = client.post("/search", json={"query": "tapirs crossing the Grijalva", "top_k": 1}).json()["results"][0]
    assert top["doc_id"] == r.json()["doc_id"] and top["section"] == "Tapir tracking" and top["page"] is None
    assert client.delete(f"/documents/{top['doc_id']}", headers=AUTH).status_code == 200


def test_an_answer_from_a_pdf_cites_the_page_and_section_of_its_sentence(client):
    pdf = make_pdf(
        [
            [
                ("Okapi Survey", 18),
                "A field report.",
                ("2. Migration routes", 14),
                "Rangers counted okapis in the Lacandon forest in the dry season.",
            ],
            ["Okapis crossed the Usumacinta river in March 2031 after the rains."],
        ]
    )
    did = client.post("/documents", headers=AUTH, files={"file": ("okapi.pdf", pdf, "application/pdf")}).json()["doc_id"]
    a = client.post("/ask", json={"question": "When did the okapis cross the Usumacinta river?", "top_k": 3}).json()
    [c] = [c for c in a["citations"] if c["doc_id"] == did]
    passage = a["passages"][c["marker"] - 1]
    assert c["text"] == "Okapis crossed the Usumacinta river in March 2031 after the rains."
    assert (passage["page"], c["page"]) == (1, 2)  # the passage starts on page 1, the sentence is on page 2
    assert c["section"] == passage["section"] == "2. Migration routes"
    assert client.delete(f"/documents/{did}", headers=AUTH).status_code == 200


def test_odd_names_get_safe_ids(client):
    long_name = "é" * 200 + ".txt"  # 400 bytes: longer than a file name may be
    r = client.post("/documents", headers=AUTH, files={"file": (long_name, b"Tapirs crossed the Usumacinta river.", "text/plain")})
    assert r.status_code == 201, r.text
    ids = [r.json()["doc_id"]]
    for title in (".", "/", "..", "..txt"):
        r = client.post("/documents", headers=AUTH, json={"title": title, "text": f"A note titled {title!r}."})
        assert r.status_code == 201, r.text
        ids.append(r.json()["doc_id"])
    assert len(set(ids)) == len(ids)
    for doc_id in ids:
        assert not doc_id.startswith(".") and "/" not in doc_id and len(doc_id.encode()) <= 120
        assert client.get(f"/documents/{doc_id}").status_code == 200
        assert client.delete(f"/documents/{doc_id}", headers=AUTH).status_code == 200


def test_json_body_over_limit_is_413_before_parsing(client):
    before = snapshot(client)
    r = client.post("/search", json={"query": "cartels", "filters": {"doc_id": ["x" * 50] * 12_000}})
    assert r.status_code == 413 and snapshot(client) == before


@pytest.mark.parametrize(
    "files,status",
    [
        ({"file": ("x.exe", b"MZ...", "application/octet-stream")}, 415),
        ({"file": ("../etc/passwd.txt", b"hello", "text/plain")}, 400),
        ({"file": ("dir/evil.txt", b"hello", "text/plain")}, 400),
        ({"file": ("broken.pdf", b"%PDF-1.4 nope", "application/pdf")}, 422),
        ({"file": ("junk.txt", bytes(range(256)) * 10, "text/plain")}, 422),
    ],
)
def test_bad_uploads_are_4xx_and_write_nothing(client, files, status):
    before = snapshot(client)
    r = client.post("/documents", files=files, headers=AUTH)
    assert r.status_code == status, r.text
    assert snapshot(client) == before


def test_upload_over_limit_is_413(client):
    settings = client.app.state.settings
    old = settings.max_upload_mb
    settings.max_upload_mb = 0.001
    try:
        before = snapshot(client)
        r = client.post("/documents", headers=AUTH, files={"file": ("big.txt", b"word " * 2000, "text/plain")})
        assert r.status_code == 413 and snapshot(client) == before
    finally:
        settings.max_upload_mb = old


def test_documents_longer_than_the_text_limit_are_422_and_write_nothing(client, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "max_document_chars", 50_000)
    before = snapshot(client)
    pdf = make_expanding_pdf(pages=400, chars_per_page=20_000)  # 60 KB, 8 M characters of text
    r = client.post("/documents", headers=AUTH, files={"file": ("expanding.pdf", pdf, "application/pdf")})
    assert r.status_code == 422 and "by page 3 of 400" in r.json()["detail"], r.text
    r = client.post("/documents", headers=AUTH, json={"title": "Long", "text": "word " * 20_000})
    assert r.status_code == 422 and "RAG_MAX_DOCUMENT_CHARS" in r.json()["detail"], r.text
    assert snapshot(client) == before


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 2001},
        {"query": "ok", "top_k": 0},
        {"query": "ok", "top_k": 101},
        {"query": "ok", "filters": {"no_such_field": 1}},
        {"top_k": 3},
        {"query": "ok", "mode": "magic"},
        {"query": "ok", "filters": {"year": {"between": 1}}},
    ],
)
def test_bad_search_input_is_4xx(client, body):
    before = snapshot(client)
    r = client.post("/search", json=body)
    assert 400 <= r.status_code < 500, (body, r.status_code)
    assert snapshot(client) == before


def test_malformed_json_and_hostile_queries(client):
    assert client.post("/search", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    assert client.post("/documents", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}).status_code == 422
    for q in ['NEAR("a" AND) OR * -:"', "\x00\u202e emoji 🚀 ?", "?"]:
        assert client.post("/search", json={"query": q}).status_code == 200


def test_metrics_prometheus(client):
    client.post("/search", json={"query": "NAFTA"})
    text = client.get("/metrics").text
    assert "# TYPE rag_requests_total counter" in text
    assert 'rag_requests_total{method="POST",route="/search",status="200"}' in text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in text_string_to_metric_families(text) for s in fam.samples}
    inf = ("rag_request_seconds_bucket", (("le", "+Inf"), ("method", "POST"), ("route", "/search")))
    assert samples[inf] >= 1
    assert samples[("rag_index_chunks", ())] > 100


def test_metrics_skip_a_worker_file_that_cannot_be_read(tmp_path, monkeypatch):
    """prometheus-client creates a worker's file before sizing it: a scrape at that moment (or after
    the worker was killed then) saw an empty file and failed whole (seen as a 500 in a kill -9 test)."""
    import json
    import struct

    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import MultiProcessCollector

    from api.metrics import Metrics

    live = MmapedDict(str(tmp_path / "counter_101.db"))
    live.write_value(json.dumps(["rag_timeouts", "rag_timeouts_total", {}, "help"]), 3.0, 0.0)
    live.close()
    (tmp_path / "counter_102.db").write_bytes(b"")  # a worker caught between creating and sizing its file
    with pytest.raises(struct.error):
        list(MultiProcessCollector(None, path=str(tmp_path)).collect())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = Metrics().render({"ready": 1}, workers=1).decode()
    samples = {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples["rag_timeouts_total"] == 3.0 and samples["rag_ready"] == 1


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_protected_reads(tmp_path, embedder):
    engine = engine_at(tmp_path, embedder, api_key=KEY, protect_reads=True, auth_max_failures=5)
    with TestClient(create_app(engine=engine)) as c:
        assert c.post("/search", json={"query": "x"}).status_code == 401
        assert c.post("/search", json={"query": "x"}, headers=AUTH).status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200
        assert c.get("/").status_code == 200 and "rag-key" in c.get("/").text  # the page can hold a key
        for path in ("/metrics", "/docs", "/openapi.json", "/stats", "/documents"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers=AUTH).status_code == 200, path
        schema = c.get("/openapi.json", headers=AUTH).json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert schema["paths"]["/search"]["post"]["security"] == [{"HTTPBearer": []}]
        wrong = {"Authorization": "Bearer guess"}
        statuses = [c.get("/stats", headers=wrong).status_code for _ in range(7)]
        assert statuses[:3] == [401] * 3 and statuses[-1] == 429  # 5 failures a minute, with earlier ones
        r = c.get("/stats", headers=AUTH)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right key must wait


def test_failed_keys_counted_in_a_shared_file_reach_every_limiter(tmp_path):
    """Two limiters on one file stand for two worker processes: guesses sent to either count for both."""
    from api.auth import FailureLimiter

    a, b = (FailureLimiter(4, path=tmp_path / "shared" / "auth.sqlite") for _ in range(2))
    for limiter in (a, b, a):
        limiter.fail("10.0.0.7")
    assert a.retry_after("10.0.0.7") == 0 and b.retry_after("10.0.0.7") == 0  # 3 of 4
    b.fail("10.0.0.7")
    assert a.retry_after("10.0.0.7") > 50 and b.retry_after("10.0.0.7") > 50
    assert a.retry_after("10.0.0.8") == 0  # another client is not affected
    quick = FailureLimiter(1, window_s=0.2, path=tmp_path / "shared" / "auth.sqlite")
    quick.fail("10.0.0.9")
    assert quick.retry_after("10.0.0.9") > 0
    time.sleep(0.25)
    assert quick.retry_after("10.0.0.9") == 0  # aged out


def test_a_locked_shared_failure_table_still_counts_and_never_raises(tmp_path, caplog):
    """Another worker holding the table's lock for long must not turn a key check into a 500: the
    failures are counted in this worker meanwhile, and added to the shared ones once it can read."""
    import sqlite3

    from api.auth import FailureLimiter

    path = tmp_path / "shared" / "auth.sqlite"
    limiter = FailureLimiter(3, path=path, busy_timeout_s=0.05)
    limiter.fail("10.0.0.7")  # in the table
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # a stuck writer: neither reads nor writes get through
    limiter.fail("10.0.0.7")
    limiter.fail("10.0.0.7")
    assert "counting in this worker" in caplog.text
    assert limiter.retry_after("10.0.0.7") > 50  # readers pass a writer in WAL: 1 shared + 2 held here
    other.execute("ROLLBACK")
    assert limiter.retry_after("10.0.0.8") == 0
    other.execute("DROP TABLE auth_failures")  # unreadable now: this worker's own count still limits
    for _ in range(3):
        limiter.fail("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") > 50 and "using this worker's counts" in caplog.text


def test_checks_alone_take_no_memory():
    """Every request from a new address is checked; only addresses that sent a wrong key are remembered."""
    from api.auth import FailureLimiter

    limiter = FailureLimiter(3)
    for i in range(1000):
        assert limiter.retry_after(f"10.1.{i // 256}.{i % 256}") == 0
    limiter.fail("10.0.0.7")
    assert len(limiter._failures) == 1


def test_open_reads_declare_no_security(client):
    schema = client.get("/openapi.json").json()
    assert "security" not in schema["paths"]["/search"]["post"]
    assert schema["paths"]["/documents"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "401" in schema["paths"]["/documents"]["post"]["responses"]
    assert set(schema["paths"]["/documents"]["post"]["requestBody"]["content"]) == {"application/json", "multipart/form-data"}


def test_protect_reads_without_a_key_refuses_to_start(tmp_path):
    with pytest.raises(ValueError, match="RAG_API_KEY"):
        create_app(Settings(index_dir=tmp_path, protect_reads=True))
    env = {**os.environ, "RAG_PROTECT_READS": "true", "RAG_API_KEY": ""}
    env.pop("RAG_API_KEY")
    r = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--index-dir", str(tmp_path), "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "RAG_API_KEY" in r.stderr and "Traceback" not in r.stderr


def test_a_shared_folder_that_is_a_file_refuses_to_start(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(ValueError, match="RAG_SHARED_DIR"):
        create_app(Settings(index_dir=tmp_path, shared_dir=tmp_path / "taken" / "auth"))
    env = {**os.environ, "RAG_SHARED_DIR": str(tmp_path / "taken")}
    r = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--index-dir", str(tmp_path), "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "RAG_SHARED_DIR" in r.stderr and "Traceback" not in r.stderr
