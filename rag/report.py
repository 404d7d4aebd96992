"""`rag eval --report FILE.html`: one self-contained HTML file (inline CSS, PNG charts embedded, no
CDN) with the metrics per mode, Recall@k curves, the distribution of first relevant ranks and the
worst queries with their top passages."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from .evaluation import EvalReport
from .metrics import recall_at_k

KS = tuple(range(1, 21))
BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"), (11, 20, "11-20"), (21, 10**9, "21+"))
WORST = 10

STYLE = """body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}.q{margin:1em 0;padding:.6em;border:1px solid #ddd;border-radius:6px}
.p{margin:.3em 0 .3em 1em;color:#444;font-size:13px}.meta{color:#777;font-size:12px}img{max-width:100%}"""


def _ranked(run: dict[str, float]) -> list[str]:
    return [d for d, _ in sorted(run.items(), key=lambda t: -t[1])]


def recall_curve(report: EvalReport, mode: str, ks: Sequence[int] = KS) -> list[float]:
    """Mean Recall@k for each k over the judged queries."""
    qids = [q for q in report.qrels if any(r > 0 for r in report.qrels[q].values())]
    ranked = {q: _ranked(report.runs[mode].get(q, {})) for q in qids}
    return [sum(recall_at_k(ranked[q], report.qrels[q], k) for q in qids) / max(1, len(qids)) for k in ks]


def rank_buckets(ranks: dict[str, int | None]) -> dict[str, int]:
    """How many queries found their first relevant item at each rank bucket (or not at all)."""
    out = {label: sum(1 for r in ranks.values() if r is not None and lo <= r <= hi) for lo, hi, label in BUCKETS}
    out["not found"] = sum(1 for r in ranks.values() if r is None)
    return out


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _charts(report: EvalReport) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to PNG only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for mode in report.runs:
        ax.plot(KS, recall_curve(report, mode), marker="o", markersize=3, label=mode)
    ax.set(xlabel="k", ylabel="Recall@k", ylim=(0, 1.02), xticks=list(range(0, 21, 2)), title="Recall@k")
    ax.grid(alpha=0.3)
    ax.legend()
    curves = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    modes = list(report.first_ranks)
    labels = [b[2] for b in BUCKETS] + ["not found"]
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        counts = rank_buckets(report.first_ranks[mode])
        ax.bar([x + i * width for x in range(len(labels))], [counts[b] for b in labels], width, label=mode)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(labels))], labels)
    ax.set(xlabel="rank of the first relevant result", ylabel="queries", title="Per-query rank distribution")
    ax.legend()
    dist = _png(fig)
    plt.close(fig)
    return curves, dist


def _metric_table(report: EvalReport) -> str:
    modes = list(report.modes)
    metrics = list(next(iter(report.modes.values()), {}))
    head = "<tr><th>metric</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in modes) + "</tr>"
    rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{report.modes[m][k]:.4f}</td>" for m in modes) + "</tr>" for k in metrics)
    return f"<table>{head}{rows}</table>"


def _bucket_table(report: EvalReport) -> str:
    labels = [b[2] for b in BUCKETS] + ["not found"]
    head = "<tr><th>mode</th>" + "".join(f"<th>{html.escape(b)}</th>" for b in labels) + "</tr>"
    rows = ""
    for mode, ranks in report.first_ranks.items():
        counts = rank_buckets(ranks)
        rows += f"<tr><td>{html.escape(mode)}</td>" + "".join(f"<td>{counts[b]}</td>" for b in labels) + "</tr>"
    return f"<table>{head}{rows}</table>"


def worst_queries(report: EvalReport, mode: str, n: int = WORST) -> list[tuple[str, int | None]]:
    """The ``n`` queries whose first relevant result came last (not found first)."""
    ranks = report.first_ranks[mode]
    return sorted(ranks.items(), key=lambda t: (t[1] is not None, -(t[1] or 0), t[0]))[:n]


def _worst(report: EvalReport, mode: str) -> str:
    out = []
    for qid, rank in worst_queries(report, mode):
        where = f"first relevant at rank {rank}" if rank else "no relevant result retrieved"
        passages = "".join(
            f'<div class="p"><b>{i}. {html.escape(p["title"])}</b> <span class="meta">{html.escape(p["doc_id"])}, lines '
            f"{p['lines'][0]}-{p['lines'][1]}</span><br>{html.escape(p['text'])}</div>"
            for i, p in enumerate(report.tops.get(mode, {}).get(qid, []), start=1)
        )
        out.append(
            f'<div class="q"><b>{html.escape(report.texts.get(qid, qid))}</b> <span class="meta">[{html.escape(qid)}] {where}</span>{passages}</div>'
        )
    return "".join(out)


def html_report(report: EvalReport, command: str = "") -> str:
    """The whole report as one HTML document."""
    curves, dist = _charts(report)
    mode = "hybrid" if "hybrid" in report.first_ranks else next(iter(report.first_ranks))
    title = f"rag eval: {report.dataset}" + (f" [{report.split}]" if report.split else "")
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='meta'>{report.queries} queries · {html.escape(command)}</p>"
        f"<h2>Metrics</h2>{_metric_table(report)}<h2>Recall@k</h2>{curves}"
        f"<h2>Rank of the first relevant result</h2>{_bucket_table(report)}{dist}"
        f"<h2>The {WORST} worst queries ({html.escape(mode)})</h2>{_worst(report, mode)}</body></html>"
    )
