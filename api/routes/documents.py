"""Documents and chunks: list, read, upload (multipart or JSON), delete."""

from __future__ import annotations

import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile  # what request.form() returns (FastAPI's is a subclass)

from rag import NewDocument
from rag.loaders import SUPPORTED, LoadError

from ..deps import EngineDep, SettingsDep
from ..schemas import UPLOAD_BODY, ChunkOut, Deleted, DocumentIn, DocumentList, DocumentOut, Uploaded, errors

router = APIRouter(tags=["documents"], responses=errors(503))  # reads
writes = APIRouter(tags=["documents"], responses=errors(503, 507))  # behind the API key when one is set


@router.get("/documents", response_model=DocumentList)
def list_documents(engine: EngineDep):
    docs = [d.to_dict() for d in engine.documents()]
    return {"documents": docs, "count": len(docs)}


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=errors(404))
def get_document(doc_id: str, engine: EngineDep):
    doc = engine.document(doc_id)
    if doc is None:
        raise HTTPException(404, f"no document {doc_id!r}")
    return {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "metadata": doc.metadata, "sha256": doc.sha256, "text": doc.text}


@router.get("/chunks/{chunk_id}", response_model=ChunkOut, responses=errors(404))
def get_chunk(chunk_id: str, engine: EngineDep):
    found = engine.chunk(chunk_id)
    if found is None:
        raise HTTPException(404, f"no chunk {chunk_id!r}")
    return found.to_dict()


@writes.post("/documents", status_code=201, response_model=Uploaded, openapi_extra=UPLOAD_BODY, responses=errors(400, 413, 415, 422))
async def upload(request: Request, engine: EngineDep, settings: SettingsDep):
    """A multipart file upload (field ``file``, optional JSON field ``metadata``) or a JSON document."""
    limit = int(settings.max_upload_mb * 1024 * 1024)  # the whole body is bounded by api/guard.py already
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        doc = await _upload_file(request, engine, settings, limit)
    elif ctype.startswith("application/json"):
        doc = await _upload_json(request, engine, limit)
    else:
        raise HTTPException(415, "send multipart/form-data with a 'file' field, or application/json")
    return {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "metadata": doc.metadata}


async def _upload_json(request: Request, engine, limit: int):
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, "document larger than the upload limit")
    try:
        data = DocumentIn.model_validate_json(body)
    except ValidationError as e:
        raise HTTPException(422, json.loads(e.json(include_url=False))) from e
    try:
        docs = await run_in_threadpool(engine.add_documents, [NewDocument(data.title, data.text, data.metadata)])
    except LoadError as e:  # a text longer than RAG_MAX_DOCUMENT_CHARS: as for a file
        raise HTTPException(422, f"cannot index the document: {e}") from e
    return docs[0]


async def _upload_file(request: Request, engine, settings, limit: int):
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "multipart upload needs a 'file' field")
    name = upload.filename or ""
    if not name or PurePosixPath(name).name != name or PureWindowsPath(name).name != name or name in (".", ".."):
        raise HTTPException(400, "file name must be a plain name without path components")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise HTTPException(415, f"unsupported file type {suffix or '(none)'}; supported: {sorted(SUPPORTED)}")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than {settings.max_upload_mb:g} MB")
    metadata: Any = {}
    raw = form.get("metadata")
    if raw:
        try:
            metadata = json.loads(raw if isinstance(raw, str) else await raw.read())
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise HTTPException(422, "metadata must be a JSON object")
    try:
        return await run_in_threadpool(engine.add_file_bytes, data, name, metadata)
    except LoadError as e:
        raise HTTPException(422, f"cannot read {name}: {e}") from e


@writes.delete("/documents/{doc_id}", response_model=Deleted, responses=errors(404))
def delete_document(doc_id: str, engine: EngineDep):
    if not engine.delete_document(doc_id):
        raise HTTPException(404, f"no document {doc_id!r}")
    return {"deleted": doc_id}
