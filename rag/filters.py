"""Restrict a search to documents by id, title, source or manifest metadata."""
from __future__ import annotations

from typing import Any

BUILTIN_FIELDS = ("doc_id", "title", "source")


class FilterError(ValueError):
    """A filter names a field no document has, or gives an unusable value."""


def known_fields(documents: list[dict[str, Any]]) -> set[str]:
    return set(BUILTIN_FIELDS) | {k for d in documents for k in d.get("metadata", {})}


def matching_documents(filters: dict[str, Any], documents: list[dict[str, Any]]) -> set[str]:
    """doc_ids of documents that satisfy every filter.

    A value matches by equality (strings case-insensitively, lists by any member); a list of
    values means any of them; ``{"gte": x, "lte": y}`` (also gt/lt) gives a range."""
    fields = known_fields(documents)
    unknown = sorted(set(filters) - fields)
    if unknown:
        raise FilterError(f"unknown filter field(s) {unknown}; known: {sorted(fields)}")
    return {d["doc_id"] for d in documents
            if all(_matches(_field(d, f), v) for f, v in filters.items())}


def _field(doc: dict[str, Any], name: str) -> Any:
    return doc[name] if name in BUILTIN_FIELDS else doc.get("metadata", {}).get(name)


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return _in_range(actual, wanted)
    if isinstance(wanted, list):
        return any(_matches(actual, w) for w in wanted)
    if isinstance(actual, list):
        return any(_equal(a, wanted) for a in actual)
    return _equal(actual, wanted)


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        a, w = actual.casefold(), wanted.casefold()
        return a == w or (len(w) >= 3 and w in a)
    try:
        return actual == wanted or (actual is not None and float(actual) == float(wanted))
    except (TypeError, ValueError):
        return False


_OPS = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b, "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b}


def _in_range(actual: Any, bounds: dict[str, Any]) -> bool:
    bad = set(bounds) - set(_OPS)
    if bad:
        raise FilterError(f"unknown range operator(s) {sorted(bad)}; use gte, gt, lte, lt")
    try:
        return actual is not None and all(_OPS[op](float(actual), float(v)) for op, v in bounds.items())
    except (TypeError, ValueError):
        return False
