"""Saved evaluation runs: one JSON file per run (ranx's {query: {doc: score}} with the judgments and
the configuration that produced it) and the same ranking as a TREC run file beside it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import BadInputError

# The settings that change a ranking: saved with every run, so two runs can be told apart.
CONFIG_FIELDS = (
    "store",
    "model",
    "backend",
    "chunk_tokens",
    "chunk_overlap",
    "embed_title",
    "fusion",
    "rrf_k",
    "dense_weight",
    "lexical_weight",
    "bm25_idf",
    "candidates",
    "rescore_model",
    "rescore_depth",
    "rescore_weights",
)


@dataclass
class SavedRun:
    """One mode's ranking of one dataset, its judgments and the configuration behind it."""

    name: str
    dataset: str
    split: str | None
    mode: str
    config: dict[str, Any]
    qrels: dict[str, dict[str, int]]
    run: dict[str, dict[str, float]]
    created: str = ""

    def save(self, path: Path) -> list[Path]:
        """Write ``path`` (JSON) and ``path`` with .trec; returns both."""
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {k: getattr(self, k) for k in ("name", "dataset", "split", "mode", "created", "config", "qrels", "run")}
        path.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
        trec = path.with_suffix(".trec")
        with open(trec, "w", encoding="utf-8") as f:
            for qid, docs in self.run.items():
                for rank, (doc, score) in enumerate(sorted(docs.items(), key=lambda t: -t[1]), start=1):
                    f.write(f"{qid} Q0 {doc} {rank} {score:.6f} {self.name}\n")
        return [path, trec]

    @classmethod
    def load(cls, path: Path) -> SavedRun:
        """A run written by ``save``; BadInputError when the file is missing or not one."""
        if not path.is_file():
            raise BadInputError(f"no such run file: {path}")
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: body[k] for k in ("name", "dataset", "split", "mode", "config", "qrels", "run")}, created=body.get("created", ""))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise BadInputError(f"{path} is not a run saved by `rag eval --save-run` ({type(e).__name__}: {e})") from e


def config_of(settings: Settings) -> dict[str, Any]:
    """The ranking-relevant settings, as saved with a run."""
    return {k: getattr(settings, k) for k in CONFIG_FIELDS}


def run_paths(target: Path, modes: list[str]) -> dict[str, Path]:
    """Where each mode's run goes: ``target`` itself for one mode, ``NAME-<mode>.json`` for several."""
    target = target if target.suffix == ".json" else target.with_suffix(".json")
    if len(modes) == 1:
        return {modes[0]: target}
    return {m: target.with_name(f"{target.stem}-{m}.json") for m in modes}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
