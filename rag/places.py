"""Countries under their other names: a question about "Ottawa" or "Canadian" forces is about Canada,
and a passage that says "the U.S." mentions what a question calls "American"."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .lexical import STOPWORDS

TABLE = Path(__file__).with_name("data") / "places.tsv"


@dataclass(frozen=True)
class Place:
    """One country: the words that name it in prose (any case) and its codes (upper case only)."""

    names: tuple[str, ...]
    codes: tuple[str, ...]
    population: int


def strip_accents(text: str) -> str:
    """``text`` without accents, case kept: 'México' reads as 'Mexico'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _place(fields: list[str]) -> Place:
    name, demonym, capital, others, codes, population = (fields + [""] * 6)[:6]
    capital = re.sub(r"\s+D\.C\.$", "", capital)  # "Washington D.C." is called "Washington"
    names = [name, demonym, f"{demonym}s" if demonym else "", capital, *others.split("|")]
    upper = [c for c in codes.split("|") if c and c.lower() not in STOPWORDS]  # not "IN", "IT", "CAN"
    dotted = [".".join(c) + "." for c in upper if len(c) == 2]  # "U.S.", "U.K."
    names = [strip_accents(n) for n in dict.fromkeys(names + dotted) if n]
    return Place(tuple(names), tuple(upper), int(population or 0))


@lru_cache(maxsize=1)
def places() -> dict[str, Place]:
    """Each one-word name, demonym or capital (lower case, no accents) with the country it names; a word
    several countries share names the most populous ('American': the United States, not the Northern
    Mariana Islands)."""
    out: dict[str, Place] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        place = _place(line.split("\t"))
        for n in place.names:
            key = n.lower()
            if " " not in n and "." not in n and (key not in out or out[key].population < place.population):
                out[key] = place
    return out


@lru_cache(maxsize=4096)
def place_pattern(word: str) -> re.Pattern[str] | None:
    """A pattern finding any name of the countries ``word`` names ('mexican', 'ottawa'), to search in
    text with accents stripped; None when ``word`` names no country."""
    key = strip_accents(word).lower()
    place = places().get(key) or places().get(key.removesuffix("s"))
    if place is None:
        return None
    names = sorted(place.names, key=len, reverse=True)
    codes = sorted(place.codes, key=len, reverse=True)
    parts = [rf"(?i:(?<!\w){'|'.join(re.escape(n) for n in names)})(?!\w)"]
    if codes:
        parts.append(rf"(?<!\w)(?:{'|'.join(codes)})(?!\w)")
    return re.compile("|".join(parts))


def mentions_place(word: str, text: str) -> bool:
    """``word`` names a country (by name, demonym or capital) that ``text`` (accents stripped) names in any of these ways."""
    pattern = place_pattern(word)
    return bool(pattern and pattern.search(text))
