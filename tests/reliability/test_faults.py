"""Hostile and impatient clients against a real two-worker `rag serve`: afterwards every worker
must still answer every search within a second, and SIGTERM must end the server promptly."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from tests.reliability.conftest import record, scale
from tests.server import Server, port_free, request, session_pids

QUERIES = [
    "Who declared the war on drug cartels?",
    "Merida Initiative funding",
    "NAFTA and security",
    "Mexican military human rights",
    "border security cooperation with Canada",
    "When did Tillerson travel to Mexico City?",
    "role of the Mexican navy",
    "utility choppers",
]


def _deep(levels: int) -> bytes:
    return b'{"query": "cartels", "filters": {"year": ' + b'{"gte": ' * levels + b"1" + b"}" * levels + b"}}"


BAD_BODIES = [
    {"query": "cartels", "mode": "hybrid", "filters": {"no_such_field": 1}},
    {"query": "cartels", "mode": "dense", "filters": {"no_such_field": [1, 2]}},
    {"query": "cartels", "filters": {"year": {"between": 1}}},
    {"query": "cartels", "filters": {"year": {}}},
    {"query": "cartels", "filters": {"year": [[2009]]}},
    {"query": "cartels", "filters": {"doc_id": ["x" * 40] * 20_000}},  # ~900 KB: over the body limit
    {"query": "cartels", "filters": {"doc_id": [str(i) for i in range(5000)]}},  # over the value limit
    {"query": "", "filters": None},
    {"query": "cartels", "top_k": 10**12},
]
RAW_BAD = [_deep(500), _deep(40_000), b"{not json", b'{"query": "\\ud800"}', b"[" * 200_000, b"\x00\xff" * 1000]


def _bad_request(url: str, i: int) -> int:
    route = ("/search", "/context", "/ask")[i % 3]
    n = len(BAD_BODIES) + len(RAW_BAD)
    k = i % n
    if k < len(BAD_BODIES):
        body = dict(BAD_BODIES[k])
        if route == "/ask":
            body["question"] = body.pop("query")
        return request(url + route, body, timeout=30).status
    return request(url + route, raw=RAW_BAD[k - len(BAD_BODIES)], timeout=30).status


MORE_BAD = [
    {"query": "cartels", "mode": "sideways"},
    {"query": "cartels", "top_k": 0},
    {"query": "cartels", "filters": {"year": {"gte": None}}},
    {"query": "x" * 2001},
]


def _follow_up(server: Server, n: int = 200) -> dict:
    """``n`` searches from 8 clients; each must answer 200 within 1 s. Also every worker's /ready."""

    def one(i: int):
        try:
            r = server.call("/search", {"query": QUERIES[i % len(QUERIES)], "top_k": 5, "mode": "hybrid"}, timeout=1.0)
            return r.status, r.seconds
        except OSError:
            return "timeout", 1.0

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(n)))
    ready = {}
    for _ in range(400):
        r = server.call("/ready", timeout=5)
        ready[r.body["worker_pid"]] = r.status
        if len(ready) == server.workers:
            break
    ok = [s for st, s in results if st == 200]
    slowest = max(range(n), key=lambda i: results[i][1])
    return {
        "slowest_at": slowest,
        "first_ms": [round(s * 1000) for _, s in results[:8]],
        "searches": n,
        "ok_within_1s": len(ok),
        "failed": n - len(ok),
        "p50_ms": round(sorted(ok)[len(ok) // 2] * 1000, 1) if ok else None,
        "max_ms": round(max(ok) * 1000, 1) if ok else None,
        "ready": ready,
    }


def _metric(server: Server, name: str) -> float:
    text = server.call("/metrics").body
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_bad_filter_storm_then_every_worker_answers(index_copy):
    n = scale(300, 3000)
    with Server(index_copy, workers=2) as server:
        assert len(server.worker_pids()) == 2
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: _bad_request(server.url, i), range(n)))
            statuses += [server.call("/search", b).status for b in MORE_BAD]
        follow = _follow_up(server)
        record("bad_filter_storm", bad_requests=n, statuses=sorted(set(statuses)), **follow)
        assert all(400 <= s < 500 for s in statuses), sorted(set(statuses))
        assert follow["failed"] == 0, follow
        assert set(follow["ready"].values()) == {200} and len(follow["ready"]) == 2, follow


def test_impatient_clients_then_every_worker_answers_and_sigterm_is_prompt(index_copy):
    seconds = scale(12, 60)
    with Server(index_copy, workers=2) as server:
        stop = time.monotonic() + seconds
        sent = [0]

        def impatient(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop:
                route = rng.choice(["/search", "/search", "/ask", "/context"])
                key = "question" if route == "/ask" else "query"
                try:
                    server.call(route, {key: rng.choice(QUERIES) + f" {rng.randint(0, 10**6)}"}, timeout=rng.uniform(0.005, 0.05))
                except OSError:
                    pass
                sent[0] += 1

        threads = [threading.Thread(target=impatient, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        follow = _follow_up(server)
        abandoned = _metric(server, "rag_abandoned_requests_total")
        # SIGTERM while requests are in flight: the server must exit within its bound.
        load = [threading.Thread(target=lambda: [_quiet(server) for _ in range(50)]) for _ in range(8)]
        for t in load:
            t.start()
        time.sleep(0.5)
        sid = server.proc.pid
        took = server.terminate(timeout=30)
        time.sleep(0.5)
        left = session_pids(sid)
        for t in load:
            t.join()
        record(
            "impatient_clients",
            clients=64,
            seconds=seconds,
            requests=sent[0],
            abandoned=abandoned,
            sigterm_exit_s=round(took, 2),
            orphans=len(left),
            **follow,
        )
        assert follow["failed"] == 0, follow
        assert set(follow["ready"].values()) == {200} and len(follow["ready"]) == 2, follow
        assert abandoned > 0
        assert took < 10 and not left and port_free(server.port)


def _quiet(server: Server) -> None:
    try:
        server.call("/ask", {"question": random.choice(QUERIES)}, timeout=5)
    except OSError:
        pass


def test_killed_worker_is_replaced_and_counted(index_copy):
    import os
    import signal

    with Server(index_copy, workers=2) as server:
        victim = next(iter(server.worker_pids()))
        os.kill(victim, signal.SIGKILL)
        deadline = time.time() + 60
        while time.time() < deadline:
            pids = server.worker_pids(tries=100)
            if len(pids) == 2 and victim not in pids:
                break
            time.sleep(0.5)
        assert len(pids) == 2 and victim not in pids
        server.wait_ready()
        assert _metric(server, "rag_worker_restarts") == 1
        assert _follow_up(server, 50)["failed"] == 0


def test_an_upload_that_reads_too_long_is_refused_and_the_workers_keep_answering(index_copy):
    from tests.helpers import make_form_pdf

    slow = make_form_pdf(draws=100_000, chars=1_000)  # 3 KB that draws 100 M characters: over a minute to read
    env = {"RAG_PARSE_TIMEOUT_S": "2", "RAG_API_KEY": "k", "RAG_MAX_DOCUMENT_CHARS": "1000000000"}
    with Server(index_copy, workers=2, env=env) as server:
        t0 = time.monotonic()
        r = server.upload("slow.pdf", slow, {"Authorization": "Bearer k"}, timeout=60)
        took = time.monotonic() - t0
        assert r.status == 422 and "took longer than 2 s (RAG_PARSE_TIMEOUT_S)" in r.body["detail"], (r.status, r.body)
        assert _follow_up(server, 50)["failed"] == 0
        ok = server.upload("fine.txt", "Okapis crossed the river at dawn.", {"Authorization": "Bearer k"})
        assert ok.status == 201, ok.body
        assert "Traceback" not in server.log(None)
    record("slow_upload", refused_after_s=round(took, 1))
