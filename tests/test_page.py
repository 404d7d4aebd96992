"""The chat page in a real browser (Debian's Chromium driven by Playwright) against a real `rag
serve` whose LLM is the scripted double: ask, watch the answer stream, open a citation, see the
supporting sentence highlighted, see the unsupported claim marked; document text stays text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.llm_double import Double
from tests.server import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "test-artifacts"
QUESTION = "What did the Merida Initiative fund?"

if not CHROMIUM:
    if os.environ.get("RAG_REQUIRE_BROWSER"):
        raise RuntimeError("Chromium is required (RAG_REQUIRE_BROWSER): apt-get install chromium, or `make browser`")
    pytest.skip("no Chromium here (make browser installs it; make test requires it)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory):
    engine, _ = seed_index
    index = tmp_path_factory.mktemp("page") / "index"
    shutil.copytree(engine.settings.index_dir, index)
    with Double() as double, Server(index, env={"RAG_LLM_BASE_URL": double.base_url, "RAG_LLM_MODEL": "fabricate"}) as s:
        yield s


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1280, "height": 800})
        browser.close()


def test_ask_stream_click_citation_see_highlighted_sentence(server, page):
    page.goto(server.url + "/")
    page.fill("#q", QUESTION)
    page.press("#q", "Enter")
    answer = page.locator(".a.done").first
    expect(answer).to_be_visible(timeout=30_000)
    assert answer.get_attribute("data-mode") == "generated"
    # the double's second sentence is fabricated: shown struck out, not in the answer
    expect(answer.locator(".unsupported s")).to_have_count(1)
    marker = answer.locator(".text .cite").first
    expect(marker).to_have_text("[1]")
    marker.click()
    aside = page.locator("#source")
    expect(aside).to_be_visible()
    mark = aside.locator("mark")
    expect(mark).to_have_count(1)
    first_sentence = answer.locator(".text").inner_text().split(" [1]")[0]
    assert mark.inner_text().strip() == first_sentence.strip()
    expect(aside.locator(".meta").first).to_contain_text("lines")
    # a follow-up goes with the conversation so far: the double's rewrite shows as the query searched
    page.fill("#q", "And who proposed it?")
    page.press("#q", "Enter")
    expect(page.locator(".a.done")).to_have_count(2, timeout=30_000)
    expect(page.locator(".a.done").nth(1).locator(".meta")).to_contain_text("searched for: standalone: And who proposed it?")
    page.locator(".a.done").first.locator(".text .cite").first.click()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-page.png"))
    assert (SCREENSHOTS / "chat-page.png").stat().st_size > 10_000


def test_document_text_is_never_markup(server, page, tmp_path: Path):
    hostile = tmp_path / "tapirs.txt"
    hostile.write_text('Tapirs of Chiapas\n\nTapirs <img src=x onerror="window.pwned=1"> cross the Usumacinta river at night.\n')
    page.goto(server.url + "/")
    page.set_input_files("#file", str(hostile))
    expect(page.locator("#upstatus")).to_contain_text("added", timeout=30_000)
    page.fill("#q", "Where do tapirs cross the river at night?")
    page.press("#q", "Enter")
    answer = page.locator(".a.done").last
    expect(answer).to_be_visible(timeout=30_000)
    answer.locator(".cite").first.click()
    expect(page.locator("#source .passage")).to_contain_text("<img src=x")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#source img, .a img").count() == 0


def test_collection_selector_asks_and_uploads_to_the_chosen_collection(server, page, tmp_path: Path):
    assert server.call("/collections", {"name": "fauna"}).status == 201
    doc = tmp_path / "ocelots.txt"
    doc.write_text("Ocelots of the Lacandon forest\n\nOcelots in the Lacandon forest hunt agoutis along the riverbanks at night.\n")
    page.goto(server.url + "/")
    expect(page.locator("#collection option")).to_have_count(2)
    assert page.locator("#collection").input_value() == "default"
    page.select_option("#collection", "fauna")
    expect(page.locator("#log [data-collection=fauna]")).to_be_visible()
    page.set_input_files("#file", str(doc))
    expect(page.locator("#upstatus")).to_contain_text("added Ocelots of the Lacandon forest to fauna", timeout=30_000)
    # The upload went to that collection only.
    titles = lambda path: [d["title"] for d in server.call(path).body["documents"]]  # noqa: E731
    assert titles("/collections/fauna/documents") == ["Ocelots of the Lacandon forest"]
    assert "Ocelots of the Lacandon forest" not in titles("/documents")

    question = "What do ocelots hunt along the riverbanks at night?"
    page.fill("#q", question)
    page.press("#q", "Enter")
    answer = page.locator(".a.done").last
    expect(answer).to_be_visible(timeout=30_000)
    answer.locator(".text .cite").first.click()
    expect(page.locator("#source h2")).to_contain_text("Ocelots of the Lacandon forest")

    # The choice survives a reload; switching back asks the default collection, which has no ocelots
    # (the same question there is refused).
    page.goto(server.url + "/")
    expect(page.locator("#collection")).to_have_value("fauna")
    page.select_option("#collection", "default")
    page.fill("#q", question)
    page.press("#q", "Enter")
    expect(page.locator(".a.done")).to_have_count(1, timeout=30_000)
    shown = page.locator(".a.done").last
    assert shown.get_attribute("data-grounded") == "false", shown.inner_text()
    page.evaluate("localStorage.removeItem('rag-collection')")
