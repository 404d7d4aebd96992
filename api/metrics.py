"""Request counts and latency histograms per route, in Prometheus text format."""
from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.hist: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.counts[(method, route, status)] += 1
            h = self.hist[(method, route)]
            h[next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))] += 1
            self.sums[(method, route)] += seconds

    def render(self, gauges: dict[str, float]) -> str:
        lines = ["# HELP rag_requests_total HTTP requests by route and status.", "# TYPE rag_requests_total counter"]
        with self._lock:
            for (m, r, s), n in sorted(self.counts.items()):
                lines.append(f'rag_requests_total{{method="{m}",route="{r}",status="{s}"}} {n}')
            lines += ["# HELP rag_request_seconds Request latency.", "# TYPE rag_request_seconds histogram"]
            for (m, r), h in sorted(self.hist.items()):
                acc = 0
                for b, n in zip(BUCKETS + (float("inf"),), h):
                    acc += n
                    le = "+Inf" if b == float("inf") else f"{b}"
                    lines.append(f'rag_request_seconds_bucket{{method="{m}",route="{r}",le="{le}"}} {acc}')
                lines.append(f'rag_request_seconds_sum{{method="{m}",route="{r}"}} {self.sums[(m, r)]:.6f}')
                lines.append(f'rag_request_seconds_count{{method="{m}",route="{r}"}} {acc}')
        for name, value in gauges.items():
            lines += [f"# TYPE rag_{name} gauge", f"rag_{name} {value}"]
        return "\n".join(lines) + "\n"
