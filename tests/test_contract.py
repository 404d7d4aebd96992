"""Every route's real output against the model it declares (the source of /openapi.json): the body
must validate and survive a round trip unchanged, so no key, type or status drifts from the contract."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api import chat_schemas, schemas
from api.app import create_app
from tests.helpers import engine_at, make_pdf

KEY = "contract-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder, seed_index):
    _, corpus = seed_index
    engine = engine_at(tmp_path_factory.mktemp("contract") / "index", embedder, api_key=KEY)
    engine.sync([corpus])
    with TestClient(create_app(engine=engine)) as c:
        yield c


def _calls(client) -> list[tuple[str, str, dict]]:
    """One real request per route (method, path, request kwargs), valid and invalid ones."""
    doc_id = client.get("/documents").json()["documents"][0]["doc_id"]
    upload = client.post("/documents", headers=AUTH, json={"title": "Contract", "text": "Tapirs crossed the river."})
    pdf = {"file": ("c.pdf", make_pdf(["Okapis in Chiapas."]), "application/pdf")}
    own = {"Authorization": f"Bearer {client.post('/collections', headers=AUTH, json={'name': 'contract', 'with_key': True}).json()['api_key']}"}
    scoped = "/collections/contract"
    return [
        ("GET", "/collections", {}),
        ("POST", "/collections", {"headers": AUTH, "json": {"name": "contract-two", "chunk_tokens": 64, "chunk_overlap": 8}}),
        ("POST", "/collections", {"headers": AUTH, "json": {"name": "contract"}}),
        ("POST", "/collections", {"headers": AUTH, "json": {"name": "elsewhere", "model": "/etc/passwd"}}),
        ("POST", "/collections", {"headers": AUTH, "json": {"name": "Bad Name"}}),
        ("GET", scoped, {"headers": own}),
        ("GET", scoped, {}),
        ("POST", f"{scoped}/documents", {"headers": own, "json": {"doc_id": "tapirs", "title": "Tapirs", "text": "Tapirs crossed the river."}}),
        ("GET", f"{scoped}/documents", {"headers": own}),
        ("GET", f"{scoped}/documents/tapirs", {"headers": own}),
        ("GET", f"{scoped}/chunks/tapirs:0", {"headers": own}),
        ("POST", f"{scoped}/search", {"headers": own, "json": {"query": "tapirs"}}),
        ("POST", f"{scoped}/search", {"json": {"query": "tapirs"}}),
        ("POST", f"{scoped}/ask", {"headers": own, "json": {"question": "What crossed the river?"}}),
        ("POST", f"{scoped}/context", {"headers": own, "json": {"query": "river"}}),
        ("GET", f"{scoped}/v1/models", {"headers": own}),
        ("POST", f"{scoped}/v1/chat/completions", {"headers": own, "json": {"messages": [{"role": "user", "content": "What crossed the river?"}]}}),
        ("POST", f"{scoped}/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "river"}]}}),
        ("POST", "/collections/nope/search", {"json": {"query": "x"}}),
        ("DELETE", f"{scoped}/documents/tapirs", {"headers": own}),
        ("DELETE", "/collections/contract-two", {"headers": AUTH}),
        ("GET", "/health", {}),
        ("GET", "/ready", {}),
        ("GET", "/stats", {}),
        ("GET", "/documents", {}),
        ("GET", f"/documents/{doc_id}", {}),
        ("GET", "/documents/nope", {}),
        ("GET", f"/chunks/{doc_id}:0", {}),
        ("GET", "/chunks/nope:0", {}),
        ("POST", "/search", {"json": {"query": "Merida Initiative", "top_k": 3}}),
        ("POST", "/search", {"json": {"query": "Merida", "filters": {"year": {"gte": 2009}, "title": {"contains": "mexico"}}}}),
        ("POST", "/search", {"json": {"query": "Merida", "filters": {"colour": "red"}}}),
        ("POST", "/search", {"json": {"query": ""}}),
        ("POST", "/ask", {"json": {"question": "When did Tillerson travel to Mexico City?"}}),
        ("POST", "/ask", {"json": {"question": "Which team won the 1998 FIFA World Cup final?"}}),
        ("POST", "/ask", {"json": {"question": "", "stream": True}}),
        ("POST", "/context", {"json": {"query": "Mexican army", "max_tokens": 200}}),
        ("GET", "/v1/models", {}),
        (
            "POST",
            "/v1/chat/completions",
            {"json": {"model": "grounded-rag", "messages": [{"role": "user", "content": "What is the Merida Initiative?"}]}},
        ),
        ("POST", "/v1/chat/completions", {"json": {"messages": [{"role": "system", "content": "Be brief."}]}}),
        ("POST", "/v1/chat/completions", {"json": {"messages": []}}),
        ("POST", "/documents", {"headers": AUTH, "files": pdf}),
        ("POST", "/documents", {"json": {"title": "x", "text": "y"}}),
        ("POST", "/documents", {"headers": {**AUTH, "Content-Type": "text/plain"}, "content": b"hello"}),
        ("DELETE", f"/documents/{upload.json()['doc_id']}", {"headers": AUTH}),
        ("DELETE", "/documents/nope", {"headers": AUTH}),
    ]


def _operation(openapi: dict, method: str, path: str) -> tuple[str, dict]:
    """The documented operation a concrete request path belongs to."""
    for template, ops in openapi["paths"].items():
        if method.lower() in ops and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template, ops[method.lower()]
    raise AssertionError(f"{method} {path} is not in /openapi.json")


def _model(response: dict) -> TypeAdapter | None:
    """A validator for the model or TypedDict behind a documented JSON response (None for
    FastAPI's own 422 model)."""
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    shape = (getattr(schemas, name, None) or getattr(chat_schemas, name, None)) if name else None
    return TypeAdapter(shape) if shape is not None else None


def test_every_route_output_matches_its_documented_schema(client):
    openapi = client.get("/openapi.json").json()
    seen = set()
    for method, path, kwargs in _calls(client):
        r = client.request(method, path, **kwargs)
        template, op = _operation(openapi, method, path)
        seen.add((method, template))
        assert r.status_code < 500, (method, path, r.text)
        response = op["responses"].get(str(r.status_code))
        assert response is not None, f"{method} {path} gave undocumented {r.status_code}"
        model = _model(response)
        if model is None:
            assert r.status_code == 422, (method, path, r.status_code)
            continue
        body = r.json()
        assert model.dump_python(model.validate_python(body), mode="json") == body, f"{method} {path} drifted from its schema"
    documented = {(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops}
    assert documented - seen == {("GET", "/metrics")}  # Prometheus text, checked in test_api


def test_every_operation_declares_a_response_model_and_tags(client):
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            assert op.get("tags"), (method, path)
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            if path != "/metrics":
                assert _model(ok) is not None, (method, path)
