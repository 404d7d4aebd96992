"""Fault-injection suite: short by default (CI), full with RAG_RELIABILITY=long (`make reliability`).
Figures go to stdout and, with RAG_RELIABILITY_REPORT=FILE, one JSON line each to FILE."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

LONG = os.environ.get("RAG_RELIABILITY") == "long"


def scale(short: int, long: int) -> int:
    return long if LONG else short


def record(test: str, **figures) -> None:
    line = json.dumps({"test": test, "long": LONG, **figures})
    print(line)
    report = os.environ.get("RAG_RELIABILITY_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(line + "\n")


@pytest.fixture
def index_copy(tmp_path: Path, seed_index) -> Path:
    """A private copy of the indexed seed corpus (servers in these tests write to it)."""
    engine, _ = seed_index
    dest = tmp_path / "index"
    shutil.copytree(engine.settings.index_dir, dest, ignore=shutil.ignore_patterns("write.lock"))
    return dest


def pytest_collection_modifyitems(items):
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)
            if "test_properties" not in str(item.fspath):  # those run in seconds
                item.add_marker(pytest.mark.slow)
