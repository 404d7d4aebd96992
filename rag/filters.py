"""Restrict a search to documents by id, title, source or manifest metadata.

Filters are parsed into typed conditions before any work starts (``parse_filters``), with bounded
size, so a bad or huge filter fails fast and matching stays cheap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadInputError

BUILTIN_FIELDS = ("doc_id", "title", "source")
RANGE_OPS = ("gte", "gt", "lte", "lt")
OPERATORS = (*RANGE_OPS, "contains")
MAX_FIELDS = 32
MAX_VALUES = 1024
MAX_STRING = 1000

Scalar = str | int | float | bool


class FilterError(BadInputError):
    """A filter names a field no document has, or gives an unusable value."""


@dataclass(frozen=True)
class Condition:
    """One field's test: equal to any of ``values``, inside every range bound, containing ``contains``."""

    field: str
    values: frozenset[Any] | None = None  # casefolded strings and floats
    ranges: tuple[tuple[str, float], ...] = ()
    contains: str | None = None

    def admits(self, actual: Any) -> bool:
        items = actual if isinstance(actual, list) else [actual]
        return any(self._admits_one(a) for a in items)

    def _admits_one(self, actual: Any) -> bool:
        if self.values is not None and self.values.isdisjoint(_keys(actual)):
            return False
        if self.contains is not None and not (isinstance(actual, str) and self.contains in actual.casefold()):
            return False
        if self.ranges:
            number = _number(actual)
            if number is None or not all(_compare(op, number, bound) for op, bound in self.ranges):
                return False
        return True


@dataclass(frozen=True)
class Filters:
    """Every condition must hold for a document to be searched."""

    conditions: tuple[Condition, ...]

    @property
    def fields(self) -> set[str]:
        return {c.field for c in self.conditions}

    def admits(self, doc: Mapping[str, Any]) -> bool:
        return all(c.admits(_field(doc, c.field)) for c in self.conditions)


def parse_filters(raw: Any) -> Filters:
    """Typed filters from JSON-like input; raises FilterError with a readable reason.

    A scalar means equality (strings case-insensitively, numbers numerically); a list means any of
    its values; ``{"gte": x, "lt": y}`` (also gt, lte) a range; ``{"contains": "text"}`` a substring."""
    if not isinstance(raw, Mapping):
        raise FilterError("filters must be a JSON object mapping field names to values")
    if len(raw) > MAX_FIELDS:
        raise FilterError(f"at most {MAX_FIELDS} filter fields")
    return Filters(tuple(_condition(str(f), v) for f, v in raw.items()))


def _condition(field: str, value: Any) -> Condition:
    if isinstance(value, Mapping):
        return _operators(field, value)
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_VALUES:
        raise FilterError(f"filter {field!r}: at most {MAX_VALUES} values")
    return Condition(field, values=frozenset(k for v in values for k in _keys(_scalar(field, v))))


def _operators(field: str, ops: Mapping[str, Any]) -> Condition:
    bad = sorted(str(k) for k in ops if k not in OPERATORS)
    if bad or not ops:
        raise FilterError(f"filter {field!r}: unknown operator(s) {bad}; use {', '.join(OPERATORS)}")
    ranges = []
    for op in RANGE_OPS:
        if op in ops:
            number = _number(_scalar(field, ops[op]))
            if number is None:
                raise FilterError(f"filter {field!r}: {op} needs a number, got {ops[op]!r}")
            ranges.append((op, number))
    contains = None
    if "contains" in ops:
        if not isinstance(ops["contains"], str) or not ops["contains"]:
            raise FilterError(f"filter {field!r}: contains needs a non-empty string")
        contains = str(_scalar(field, ops["contains"])).casefold()
    return Condition(field, ranges=tuple(ranges), contains=contains)


def _scalar(field: str, v: Any) -> Scalar:
    if isinstance(v, str) and len(v) > MAX_STRING:
        raise FilterError(f"filter {field!r}: values are at most {MAX_STRING} characters")
    if isinstance(v, (str, int, float, bool)):
        return v
    raise FilterError(f"filter {field!r}: values must be strings, numbers or booleans, got {type(v).__name__}")


def _keys(v: Any) -> tuple[Any, ...]:
    """Equality keys: strings casefolded, numbers (numeric strings too) as floats; two values are
    equal when they share a key (so 2009 matches "2009", but True never matches 1)."""
    if isinstance(v, bool):
        return (("bool", v),)
    if isinstance(v, (int, float)):
        return (float(v),)
    if isinstance(v, str):
        number = _number(v)
        return (v.casefold(),) if number is None else (v.casefold(), number)
    return ()


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _compare(op: str, a: float, b: float) -> bool:
    return {"gte": a >= b, "gt": a > b, "lte": a <= b, "lt": a < b}[op]


def _field(doc: Mapping[str, Any], name: str) -> Any:
    return doc.get(name) if name in BUILTIN_FIELDS else doc.get("metadata", {}).get(name)


def known_fields(documents: Iterable[Mapping[str, Any]]) -> set[str]:
    return set(BUILTIN_FIELDS) | {k for d in documents for k in d.get("metadata", {})}


def check_fields(filters: Filters, known: set[str]) -> None:
    """Raise FilterError if a filter names a field no document has."""
    unknown = sorted(filters.fields - known)
    if unknown:
        raise FilterError(f"unknown filter field(s) {unknown}; known: {sorted(known)}")


def matching_documents(filters: Filters | Mapping[str, Any], documents: list[dict[str, Any]]) -> set[str]:
    """doc_ids of documents that satisfy every filter."""
    spec = filters if isinstance(filters, Filters) else parse_filters(filters)
    check_fields(spec, known_fields(documents))
    return {d["doc_id"] for d in documents if spec.admits(d)}
