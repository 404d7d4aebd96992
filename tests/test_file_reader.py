"""Uploaded files read in a process of their own: the same text as reading in place, the same refusals, and a
file that reads too long stopped at the timeout with nothing left running."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from rag.errors import UnavailableError
from rag.file_reader import FileReader
from rag.loaders import LoadError, load_bytes
from tests.helpers import make_form_pdf, make_pdf

SLOW = make_form_pdf(draws=100_000, chars=1_000)  # 100 M characters drawn: a minute or more to read
MANY = 10_000_000_000  # a text limit that does not stop it first


@pytest.fixture(scope="module")
def reader() -> FileReader:
    return FileReader(timeout_s=30)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (make_pdf([[("Okapi Survey", 18), "Rangers counted okapis."], ["Page two text."]]), "survey.pdf"),
        (b"Plain **markdown** with a # heading\n\nand more", "notes.md"),
        (b"<h1>Title</h1><p>a * b</p>", "page.html"),
    ],
)
def test_reads_what_reading_in_place_reads(reader, data, name):
    assert reader.load(data, name, 10_000_000) == load_bytes(data, name, 10_000_000)


def test_refusals_keep_their_reason(reader):
    with pytest.raises(LoadError, match="cannot parse PDF"):
        reader.load(b"%PDF-1.4 not really", "bad.pdf", 10_000_000)
    with pytest.raises(LoadError, match="unsupported file type .rtf"):
        reader.load(b"{\\rtf1}", "old.rtf", 10_000_000)


def test_a_file_that_reads_too_long_is_stopped_and_nothing_is_left_running():
    with pytest.raises(LoadError, match=r"took longer than 1 s \(RAG_PARSE_TIMEOUT_S\)"):
        FileReader(timeout_s=1).load(SLOW, "slow.pdf", MANY)
    assert multiprocessing.active_children() == []


def test_files_past_the_parallel_limit_wait_their_turn_then_are_told_to_retry():
    reader = FileReader(timeout_s=2, parallel=1, wait_s=0.5)
    outcome: list[BaseException] = []

    def occupy() -> None:
        try:
            reader.load(SLOW, "slow.pdf", MANY)
        except LoadError as e:
            outcome.append(e)

    busy = threading.Thread(target=occupy)
    busy.start()
    try:
        for _ in range(500):  # until the other thread holds the only turn
            if reader.reading:
                break
            threading.Event().wait(0.01)
        assert reader.reading == 1
        with pytest.raises(UnavailableError, match="too many files"):
            reader.load(b"small", "a.txt", 1000)
    finally:
        busy.join()
    assert outcome and "took longer" in str(outcome[0]) and reader.reading == 0
