"""Prometheus metrics through prometheus-client. With several `rag serve` workers,
PROMETHEUS_MULTIPROC_DIR (set by `rag serve`) makes one scrape of any worker see all of them."""

from __future__ import annotations

import glob
import logging
import os
import struct

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from rag.answer import Answer

disable_created_metrics()  # *_created samples only double the scrape

log = logging.getLogger(__name__)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class TolerantMultiProcessCollector(MultiProcessCollector):
    """Every worker's metric files, minus any that cannot be read. prometheus-client creates a file
    before sizing it, so a worker starting (or killed at that moment, leaving the file empty for good)
    would otherwise fail every scrape (prometheus/client_python#1199)."""

    def collect(self):
        return self.merge([f for f in glob.glob(os.path.join(self._path, "*.db")) if _readable(f)], accumulate=True)


def _readable(path: str) -> bool:
    try:
        MmapedDict.read_all_values_from_file(path)
        return True
    except FileNotFoundError:
        return False  # a dead worker's live gauge, removed since the glob
    except (struct.error, RuntimeError, ValueError, UnicodeDecodeError) as e:
        log.warning("metrics: skipping unreadable file %s: %s", os.path.basename(path), e)
        return False


class Metrics:
    """Request counts and latency per route, and counters for what the service refused or cut."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("rag_requests", "HTTP requests by route and status.", ["method", "route", "status"], registry=r)
        self.latency = Histogram("rag_request_seconds", "Request latency.", ["method", "route"], buckets=BUCKETS, registry=r)
        self.rejected = Counter("rag_rejected_requests", "Requests refused before any work, by reason.", ["reason"], registry=r)
        self.timeouts = Counter("rag_timeouts", "Requests cut because the model did not answer in time.", registry=r)
        self.abandoned = Counter("rag_abandoned_requests", "Requests cancelled because the client left.", registry=r)
        self.worker_starts = Counter("rag_worker_starts", "Server worker processes started (restarts included).", registry=r)
        self.answers = Counter("rag_answers", "Answers by mode (extractive, generated, fallback) and grounding.", ["mode", "grounded"], registry=r)
        self.claims = Counter("rag_claims", "Sentences of generated answers checked by the verifier, by verdict.", ["supported"], registry=r)

    def observe_answer(self, answer: Answer) -> None:
        """Count an answer and, for LLM-written ones, the verifier's verdicts."""
        self.answers.labels(answer.mode, str(answer.grounded).lower()).inc()
        if answer.mode != "extractive":
            for c in answer.claims:
                self.claims.labels(str(c["supported"]).lower()).inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self, gauges: dict[str, float], workers: int) -> bytes:
        """Prometheus text: every worker's counters (multiprocess mode) plus this worker's gauges."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            TolerantMultiProcessCollector(registry)
        else:
            registry = self.registry
        text = generate_latest(registry).decode()
        starts = _sample(registry, "rag_worker_starts_total")
        gauges = {**gauges, "worker_restarts": max(0, int(starts) - workers)}
        text += "".join(f"# TYPE rag_{name} gauge\nrag_{name} {value}\n" for name, value in gauges.items())
        return text.encode()


def _sample(registry: CollectorRegistry, name: str) -> float:
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name)
