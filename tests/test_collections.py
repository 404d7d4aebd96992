"""Collections: isolation of documents and keys, over the CLI and a real `rag serve`."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from openai import AuthenticationError, OpenAI

from rag import Engine, NewDocument, Settings
from rag.cli import main as rag
from rag.collections import DEFAULT, Collections
from rag.errors import BadInputError, ConflictError, NotFoundError
from tests.server import Server

ADMIN = "admin-key-for-tests"
PENGUINS = "Emperor penguins breed on the Antarctic sea ice during the southern winter."
FOXES = "Red foxes hunt voles in the snow by listening for them under the surface."


def test_collections_are_created_listed_and_deleted(tmp_path):
    cols = Collections(Settings(index_dir=tmp_path / "ix"))
    cfg, key = cols.create("notes", chunk_tokens=64, chunk_overlap=8, with_key=True)
    assert key and cfg.key_sha256 and key not in (tmp_path / "ix/collections/notes/collection.json").read_text()
    assert cols.names() == [DEFAULT, "notes"]
    assert cols.key_matches("notes", key) and not cols.key_matches("notes", key + "x")
    assert cols.settings_for("notes").chunk_tokens == 64
    with pytest.raises(ConflictError):
        cols.create("notes")
    for bad in ("", "Notes", "../x", "a b", "-x", "x" * 64):
        with pytest.raises(BadInputError):
            cols.create(bad)
    with pytest.raises(BadInputError):
        cols.delete(DEFAULT)
    cols.delete("notes")
    assert cols.names() == [DEFAULT]
    with pytest.raises(NotFoundError):
        cols.engine("notes")


def test_documents_stay_in_their_collection(tmp_path, embedder):
    cols = Collections(Settings(index_dir=tmp_path / "ix"))
    cols.create("birds")
    cols.create("mammals")
    cols.engine("birds").add_documents([NewDocument("Penguins", PENGUINS)])
    cols.engine("mammals").add_documents([NewDocument("Foxes", FOXES)])
    for name, title in (("birds", "Penguins"), ("mammals", "Foxes")):
        engine = cols.engine(name)
        assert [d.title for d in engine.documents()] == [title]
        hits = engine.search("animals in the snow and ice", top_k=5).hits
        assert {h.title for h in hits} == {title}
    assert cols.engine("birds").embedder is cols.engine("mammals").embedder  # one model in memory
    with Engine(Settings(index_dir=tmp_path / "ix"), embedder=embedder) as default:
        assert default.documents() == []
    cols.close()


def test_cli_index_and_search_a_collection(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "penguins.txt").write_text(PENGUINS)
    ix = str(tmp_path / "ix")
    assert rag(["index", str(docs), "--collection", "birds", "--index-dir", ix, "-q"]) == 0  # created on first use
    capsys.readouterr()
    assert rag(["search", "Where do penguins breed?", "--collection", "birds", "--index-dir", ix, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["source"] == "penguins.txt"
    assert rag(["search", "penguins", "--collection", "default", "--index-dir", ix, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
    assert rag(["collections", "list", "--index-dir", ix, "--json"]) == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)["collections"]}
    assert listed["birds"]["documents"] == 1 and listed["default"]["documents"] == 0
    assert rag(["search", "x", "--collection", "nope", "--index-dir", ix]) == 2
    assert "no collection 'nope'" in capsys.readouterr().err
    assert rag(["collections", "delete", "birds", "--index-dir", ix]) == 0
    assert not (tmp_path / "ix/collections/birds").exists()


@pytest.mark.slow
def test_http_collections_isolate_documents_and_keys(tmp_path, seed_index):
    seed, _ = seed_index
    index = tmp_path / "index"
    shutil.copytree(seed.settings.index_dir, index)
    with Server(index, workers=2, env={"RAG_API_KEY": ADMIN}) as server:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        made = {}
        for name in ("a", "b"):
            r = server.call("/collections", {"name": name, "with_key": True}, headers=admin)
            assert r.status == 201 and r.body["protected"] and r.body["api_key"], r.body
            made[name] = {"Authorization": f"Bearer {r.body['api_key']}"}
        assert server.call("/collections", {"name": "c"}).status == 401  # creating needs the service key
        assert server.call("/collections", {"name": "a"}, headers=admin).status == 409
        # Qdrant's embedded mode locks its folder to one process: two workers could not both open it.
        r = server.call("/collections", {"name": "q", "store": "qdrant"}, headers=admin)
        assert r.status == 400 and "RAG_QDRANT_URL" in r.body["detail"]

        assert server.call("/collections/a/documents", {"title": "Penguins", "text": PENGUINS}, headers=made["a"]).status == 201
        assert server.call("/collections/b/documents", {"title": "Foxes", "text": FOXES}, headers=made["b"]).status == 201
        # A's key never reads or writes B; no key reads neither; the service key reads both.
        assert server.call("/collections/b/search", {"query": "foxes"}, headers=made["a"]).status == 401
        assert server.call("/collections/b/documents", headers=made["a"]).status == 401
        assert server.call("/collections/b/documents", {"title": "x", "text": "intruder"}, headers=made["a"]).status == 401
        assert server.call("/collections/b/documents/Foxes", method="DELETE", headers=made["a"]).status == 401
        assert server.call("/collections/a/search", {"query": "penguins"}).status == 401
        assert server.call("/collections/a", method="DELETE", headers=made["b"]).status == 401

        for _ in range(4):  # both workers (each connection may reach either) see both collections
            r = server.call("/collections/a/search", {"query": "birds on the ice", "top_k": 5}, headers=made["a"])
            assert r.status == 200 and [h["title"] for h in r.body["results"]] == ["Penguins"]
            passage = r.body["results"][0]
            assert passage["line_start"] == 1 and passage["text"] == PENGUINS
            r = server.call("/collections/b/ask", {"question": "How do red foxes hunt voles?"}, headers=admin)
            assert r.status == 200 and r.body["citations"][0]["title"] == "Foxes", r.body
        # An OpenAI chat front end reaches a collection by its base URL, with the collection's key.
        chat = OpenAI(base_url=f"{server.url}/collections/b/v1", api_key=made["b"]["Authorization"][7:], max_retries=0)
        reply = chat.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": "How do red foxes hunt voles?"}])
        cited = reply.model_extra["citations"] if reply.model_extra else []
        assert [c["title"] for c in cited] == ["Foxes"] and "[1]" in (reply.choices[0].message.content or "")
        assert [m.id for m in chat.models.list().data] == ["grounded-rag"]
        outsider = OpenAI(base_url=f"{server.url}/collections/b/v1", api_key=made["a"]["Authorization"][7:], max_retries=0)
        with pytest.raises(AuthenticationError):
            outsider.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": "foxes"}])

        # MCP tools take a collection too, with the same key rule.
        def mcp_search(headers: dict, collection: str):
            return _mcp_search(server.url, headers, collection)

        found = mcp_search(made["b"], "b")
        assert not found.is_error and [x["title"] for x in found.structured_content["results"]] == ["Foxes"]
        for headers, name, why in ((made["a"], "b", "needs its API key"), ({}, "b", "needs its API key"), ({}, "nope", "nope")):
            refused = mcp_search(headers, name)
            assert refused.is_error and why in refused.content[0].text, (name, refused.content)
        assert all(x["title"] != "Foxes" for x in mcp_search({}, "default").structured_content["results"])
        r = server.call("/collections/a/search", {"query": "penguins", "filters": {"title": "Penguins"}}, headers=made["a"])
        assert r.status == 200 and len(r.body["results"]) == 1
        # The default collection (the old routes) does not see either.
        r = server.call("/search", {"query": "penguins on the sea ice", "top_k": 10})
        assert r.status == 200 and all(h["title"] != "Penguins" for h in r.body["results"])
        assert server.call("/collections/default/search", {"query": "cartels"}).body["results"]

        listed = server.call("/collections").body
        assert [c["name"] for c in listed["collections"]] == ["default", "a", "b"]
        assert server.call("/collections/a", headers=made["a"]).body["documents"] == 1
        assert server.call("/collections/nope/search", {"query": "x"}).status == 404

        assert server.call("/collections/a", method="DELETE", headers=made["a"]).status == 200
        for _ in range(4):
            assert server.call("/collections/a/search", {"query": "penguins"}, headers=admin).status == 404
        assert [c["name"] for c in server.call("/collections").body["collections"]] == ["default", "b"]


def _mcp_search(url: str, headers: dict, collection: str):
    async def run():
        async with Client(streamable_http_client(f"{url}/mcp", http_client=create_mcp_http_client(headers=headers))) as c:
            return await c.call_tool("search", {"query": "red foxes hunting", "collection": collection})

    return asyncio.run(run())


def test_mcp_key_guesses_count_toward_the_failed_attempt_limit(tmp_path, seed_index):
    seed, _ = seed_index
    index = tmp_path / "index"
    shutil.copytree(seed.settings.index_dir, index)
    with Server(index, workers=1, env={"RAG_API_KEY": ADMIN, "RAG_AUTH_MAX_FAILURES": "3"}) as server:
        key = server.call("/collections", {"name": "b", "with_key": True}, headers={"Authorization": f"Bearer {ADMIN}"}).body["api_key"]
        own = {"Authorization": f"Bearer {key}"}
        assert server.call("/collections/b/documents", {"title": "Foxes", "text": FOXES}, headers=own).status == 201
        assert not _mcp_search(server.url, own, "b").is_error
        for _ in range(3):
            assert "needs its API key" in _mcp_search(server.url, {"Authorization": "Bearer guess"}, "b").content[0].text
        assert "too many failed" in _mcp_search(server.url, own, "b").content[0].text  # even the right key, for a while
        assert server.call("/collections/b/search", {"query": "foxes"}, headers=own).status == 429  # one limit for both


def test_a_collection_can_have_its_own_store(tmp_path, embedder):
    cols = Collections(Settings(index_dir=tmp_path / "ix"))
    cols.create("big", store="qdrant")
    cols.create("small")
    cols.engine("big").add_documents([NewDocument("Penguins", PENGUINS)])
    cols.engine("small").add_documents([NewDocument("Foxes", FOXES)])
    assert cols.engine("big").stats()["vector_index"] == "qdrant" and cols.engine("small").stats()["vector_index"] == "flat"
    assert cols.engine("big").search("penguins on the ice", top_k=1).hits[0].title == "Penguins"
    assert cols.one_process_only() == ["big"]
    with pytest.raises(BadInputError, match="admits one process"):
        cols.create("shared", store="qdrant", processes=2)
    cols.delete("big")
    assert cols.names() == [DEFAULT, "small"] and cols.one_process_only() == []
    assert not list((tmp_path / "ix" / "collections").glob(".deleted-*"))
    with pytest.raises(BadInputError):
        cols.create("odd", store="elasticsearch")
    cols.close()


def test_a_collection_being_deleted_is_not_listed(tmp_path):
    """Deleting renames the folder to ``.deleted-…`` first: a listing in between (or after a removal
    that failed) must not show it, nor fail on its name."""
    cols = Collections(Settings(index_dir=tmp_path / "ix"))
    cols.create("notes")
    (cols.root / "notes").rename(cols.root / ".deleted-notes-1a2b3c4d")
    cols.create("kept")
    assert cols.names() == [DEFAULT, "kept"]
    assert [cols.config(n).name for n in cols.names()] == [DEFAULT, "kept"]


def test_rag_serve_runs_one_worker_for_an_embedded_qdrant_collection(tmp_path, embedder):
    index = tmp_path / "index"
    cols = Collections(Settings(index_dir=index))
    cols.create("big", store="qdrant")
    cols.engine("big").add_documents([NewDocument("Penguins", PENGUINS)])
    cols.close()
    with Server(index, workers=2) as server:
        assert "serving with one worker" in server.log()
        assert len(server.worker_pids(tries=40)) == 1
        for _ in range(6):  # with two workers, one of them would fail to open the embedded store
            r = server.call("/collections/big/search", {"query": "penguins on the ice"})
            assert r.status == 200 and r.body["results"][0]["title"] == "Penguins", r.body
