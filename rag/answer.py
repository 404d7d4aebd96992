"""Extractive, cited answers and prompt-ready context blocks built from retrieved passages."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from .highlight import stem
from .late import maxsim_many
from .lexical import STOPWORDS
from .models import Hit, SourcePoints
from .normalize import point_lookup
from .places import mentions_place, strip_accents
from .sentences import reading_sentences
from .shapes import AskResponse, Citation, Claim, ContextResponse
from .tokens import count_tokens, truncate_tokens

if TYPE_CHECKING:
    from .llm import Completion

NOT_FOUND = "The indexed documents do not answer this question."
MIN_SENTENCE_CHARS = 25


@dataclass
class Answer:
    """An answer made of source sentences, each followed by a [n] marker naming a passage."""

    question: str
    answer: str
    grounded: bool
    score: float
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    mode: str = "extractive"
    model: str | None = None
    completion: Completion | None = field(default=None, repr=False)  # the LLM's own text and token counts

    def usage(self) -> dict[str, int] | None:
        """The LLM server's token counts for this answer (None when no LLM wrote one)."""
        c = self.completion
        return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens} if c else None

    def to_dict(self) -> AskResponse:
        return {
            "question": self.question,
            "answer": self.answer,
            "grounded": self.grounded,
            "score": round(self.score, 4),
            "mode": self.mode,
            "model": self.model,
            "citations": self.citations,
            "claims": self.claims,
            "passages": [h.to_dict() for h in self.passages],
        }


@dataclass
class _Sentence:
    hit: int
    start: int
    end: int
    text: str


def candidate_sentences(hits: list[Hit]) -> list[_Sentence]:
    """Sentences of the passages long enough to quote (section headings excluded); one a page break cut is
    whole (``reading_sentences``), so an answer never quotes half of it."""
    out = []
    for i, h in enumerate(hits):
        for s, e, text in reading_sentences(h.chunk.text):
            if len(text) >= MIN_SENTENCE_CHARS and text != h.chunk.section:
                out.append(_Sentence(i, s, e, text))
    return out


_SALIENT = re.compile(r"\b(?:\d{4}s?|\d+/\d+|[A-ZÁÉÍÓÚÑ][\w’'\-]*[\w])")


def fold(text: str) -> str:
    """Lower case without accents: 'Calderón' and 'Calderon' are the same name."""
    return strip_accents(text).lower()


def salient_terms(question: str) -> list[str]:
    """Names and years in the question (not its first word, nor offices such as "Foreign Minister"): facts
    the sources must mention."""
    return list(dict.fromkeys(w for name in salient_names(question) for w in name))


_SUFFIX = re.compile(r"[’']s$|(?:-[a-z][\w’']*)+$")


def salient_names(question: str) -> list[tuple[str, ...]]:
    """The question's names and years (``salient_terms``), a name of several capitalized words kept as one
    ("United States", "Osiel Cárdenas"); an office before it, a possessive or a year ends it."""
    first = question.split()[0].strip("¿¡\"'") if question.split() else ""
    names: list[list[str]] = []
    joinable, end = False, 0
    for m in _SALIENT.finditer(question):
        word = _SUFFIX.sub("", m.group(0))  # "Salinas-era", "Calderón's": the name is Salinas, Calderón
        adjacent, end = joinable and question[end : m.start()].isspace(), m.end()
        joinable = False
        if word == first or word.lower() in STOPWORDS or len(word) < 3 or fold(word) in _TITLES:
            continue
        if adjacent and not _DATED.fullmatch(word):
            names[-1].append(fold(word))
        else:
            names.append([fold(word)])
        joinable = word == m.group(0) and not _DATED.fullmatch(word)
    return list(dict.fromkeys(tuple(n) for n in names))


_ASKS_DATE = re.compile(
    r"^\W*(?:when\s+(?:did|was|were|is|are|does|do|has|have|had|will|would)\b|(?:in\s+)?(?:what|which)\s+year\b|since\s+when\b)", re.I
)
_DATE = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")


_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
# "after Peña Nieto's 2014 pledge", "since 2001", "before the 1994 treaty": a year that bounds the answer.
_AFTER = re.compile(r"\b(?:after|since|following)\s+(?:[\w'’.-]+\s+){0,3}?(1[5-9]\d\d|20\d\d)\b", re.I)
_BEFORE = re.compile(r"\b(?:before|prior\s+to|until)\s+(?:[\w'’.-]+\s+){0,3}?(1[5-9]\d\d|20\d\d)\b", re.I)


def question_years(question: str) -> list[str]:
    """The four-digit years the question names."""
    return list(dict.fromkeys(_YEAR.findall(question)))


# "How much did it cost" asks for an amount, "how much did NAFTA change things" for a degree: only money and
# quantity verbs or nouns make "how much" an amount question.
_ASKS_AMOUNT = re.compile(
    r"\bhow\s+many\b|\bhow\s+much\b(?=.*\b(?:cost|spen[dt]|pa(?:y|id)|money|aid|budget|fund|dollar|worth|price|receiv|"
    r"g[ia]ve|allocat|invest|owe|earn|weigh|charg|s[eo]l[ld]|b(?:uy|ought)|loan|len[dt]|grant|financ|tons?\b|barrel|kilo|pound))",
    re.I,
)
_AMOUNT = re.compile(
    r"\d[\d,.]*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"(?:hundred|thousand|million|billion|trillion)s?|dozens?|half|twice|double|triple)\b",
    re.I,
)


def answers_amount(question: str, sentences: list[str]) -> bool:
    """False when the question asks "how many/much" and no sentence holds a number other than the
    question's own ("201st Squadron"): a passage on the topic that does not count anything."""
    if not _ASKS_AMOUNT.search(question):
        return True
    own = {m.lower() for m in _AMOUNT.findall(question)}
    return any(m.lower() not in own for s in sentences for m in _AMOUNT.findall(s))


def answers_type(question: str, sentences: list[str]) -> bool:
    """False when the question asks for a date ("When did…", "In what year…") and no sentence holds a
    year or a month, or holds no year inside the window it sets ("after 2014", "before 1994"), or asks
    for an amount the sentences do not give (``answers_amount``): a near-topic passage, not an answer."""
    if not answers_amount(question, sentences):
        return False
    if not _ASKS_DATE.search(question):
        return True
    if not any(_DATE.search(s) for s in sentences):
        return False
    low = max((int(y) for y in _AFTER.findall(question)), default=None)
    high = min((int(y) for y in _BEFORE.findall(question)), default=None)
    if low is None and high is None:
        return True
    years = [int(y) for s in sentences for y in _YEAR.findall(s)]
    return any((low is None or y >= low) and (high is None or y <= high) for y in years)


def coverage(question: str, hits: list[Hit]) -> float:
    """Share of the question's names and years (``salient_names``) the passages mention, 1.0 when it has
    none; a name of several words counts once, found when each of its words is (dev: one more near-topic
    question refused, "Osiel Cárdenas" against a passage on Lázaro Cárdenas; no answerable one lost)."""
    names = salient_names(question)
    if not names:
        return 1.0
    raw = strip_accents(" ".join(f"{h.title} {h.chunk.text}" for h in hits))
    return sum(all(_mentions(raw, t) for t in name) for name in names) / len(names)


_DATED = re.compile(r"\d{4}s?|\d+/\d+")


def about_other(question: str, cited: list[Hit]) -> bool:
    """True when the question names something (not only dates) and the passages an answer would quote
    mention none of its names and years: they are near the topic (another country's army), not about it."""
    terms = salient_terms(question)
    if all(_DATED.fullmatch(t) for t in terms):
        return False
    raw = strip_accents(" ".join(f"{h.title} {h.chunk.text}" for h in cited))
    return not any(_mentions(raw, t, places=False) for t in terms)


def _mentions(raw: str, term: str, places: bool = True) -> bool:
    """``term`` (folded) occurs in ``raw`` (accents stripped, case kept); a decade ("1990s") also counts as
    any year inside it, and a country's name, demonym or capital as any other of them ('American': 'U.S.')."""
    text = raw.lower()
    decade = re.fullmatch(r"(\d{3})0s", term)
    if decade and re.search(rf"\b{decade.group(1)}\d\b", text):
        return True
    return stem(term) in text or places and mentions_place(term, raw)


class Ranked(NamedTuple):
    """A candidate sentence with its two scores."""

    similarity: float  # cosine of its vector with the question's: the grounding threshold reads the best one
    sentence: _Sentence
    match: float | None = None  # token-level maxsim with the question, when token rows are known: it picks the quotes


def rank_sentences(sents: list[_Sentence], vecs: np.ndarray | None, rows: list[np.ndarray] | None = None) -> list[Ranked]:
    """Sentences scored by cosine similarity to the question, best first; ``vecs`` holds the question's
    unit vector, then one per sentence. ``rows`` (the question's content token rows, then each
    sentence's) add the token-level maxsim that chooses which of them to quote."""
    if not sents or vecs is None:
        return []
    scores = [float(x) for x in vecs[1:] @ vecs[0]]
    matches: list[float | None] = [None] * len(sents)
    if rows is not None and len(rows) == len(sents) + 1:
        matches = list(maxsim_many(rows[0], rows[1:]))
    return sorted((Ranked(sc, s, m) for sc, s, m in zip(scores, sents, matches)), key=lambda r: -r.similarity)


def best_sentences(question: str, hits: list[Hit], embed) -> list[Ranked]:
    """Candidate sentences of the passages scored by cosine similarity to the question, best first."""
    sents = candidate_sentences(hits)
    return rank_sentences(sents, embed([question] + [s.text for s in sents]) if sents else None)


_QUOTED = re.compile(r"(?:^|[\s(])['‘\"“]([^'’\"”]{3,80})['’\"”](?=[\s,.;:?!)]|$)")
_CAPITALIZED_RUN = re.compile(r"(?:[A-ZÁÉÍÓÚÑ][\w\-]*[\w]\s+){2,}[A-ZÁÉÍÓÚÑ][\w\-]*[\w]")
# Offices and honorifics before a name: "Foreign Minister Castañeda" names Castañeda.
_TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "president",
        "vice",
        "prime",
        "minister",
        "foreign",
        "defense",
        "defence",
        "interior",
        "secretary",
        "ambassador",
        "general",
        "admiral",
        "colonel",
        "senator",
        "governor",
        "mayor",
        "chief",
        "former",
    ]
)


def exact_names(question: str) -> list[str]:
    """Phrases the question names exactly: quoted ones of two words or more, and proper names of three
    capitalized words or more (offices before a name dropped). Sources that discuss the thing asked
    about contain them verbatim."""
    first = question.split()[0].strip("¿¡\"'") if question.split() else ""
    found = [m.group(1).strip() for m in _QUOTED.finditer(question) if len(m.group(1).split()) >= 2]
    for m in _CAPITALIZED_RUN.finditer(question):
        words = m.group(0).split()
        while words and (words[0] == first or fold(words[0]) in _TITLES):
            words = words[1:]
        if len(words) >= 3:
            found.append(" ".join(words))
    return list(dict.fromkeys(found))


def missing_names(question: str, hits: list[Hit]) -> list[str]:
    """The question's exact names (``exact_names``) that none of the passages contains."""
    names = exact_names(question)
    if not names:
        return []
    text = re.sub(r"\s+", " ", fold(" ".join(f"{h.title} {h.chunk.text}" for h in hits)))
    return [n for n in names if fold(n) not in text]


def compose(
    question: str,
    hits: list[Hit],
    ranked: list[Ranked],
    threshold: float,
    points_of: Callable[[str], SourcePoints],
    min_coverage: float = 0.0,
    max_sentences: int = 2,
    margin: float = 0.08,
    evidence: list[Hit] | None = None,
    unknown_years: list[str] | None = None,
) -> Answer:
    """Quote the sentences that match the question best (token-level maxsim when ``ranked`` has it, else
    cosine); cite each with its passage's marker.

    Refuses (grounded=False) when no sentence is similar enough to the question; when the ``evidence``
    passages (default: ``hits``) miss the names and years the question asks about, or a name it quotes
    or spells out in full; when it names a year the index never mentions (``unknown_years``); when it
    asks for a date the sentences most similar to it (cosine) lack; or when the passages they come from
    mention none of the question's names and years (``about_other``: near-topic questions)."""
    evidence = hits if evidence is None else evidence
    best = ranked[0].similarity if ranked else 0.0
    if best < threshold or unknown_years or coverage(question, evidence) < min_coverage or missing_names(question, evidence):
        return Answer(question, NOT_FOUND, False, best, [], hits)
    gate = [r for r in ranked if r.similarity >= max(threshold, best - margin)][:max_sentences]
    if not answerable_from(question, gate, hits):
        return Answer(question, NOT_FOUND, False, best, [], hits)
    # Token rows known: quote the sentences maxsim prefers, if they pass the same checks.
    chosen = pick(ranked, margin, max_sentences) if ranked[0].match is not None else gate
    chosen = chosen if chosen is gate or answerable_from(question, chosen, hits) else gate
    chosen.sort(key=lambda r: (r.sentence.hit, r.sentence.start))
    parts: list[str] = []
    citations: list[Citation] = []
    for sc, s, _ in chosen:
        parts.append(f"{s.text} [{s.hit + 1}]")
        citations.append(cite(hits, s, sc, points_of))
    claims = [quoted_claim(c, r.sentence.text) for c, r in zip(citations, chosen)]
    return Answer(question, " ".join(parts), True, best, citations, hits, claims)


def answerable_from(question: str, chosen: list[Ranked], hits: list[Hit]) -> bool:
    """The chosen sentences pass the checks on what they quote: a date for a date question
    (``answers_type``), a passage about what the question names (``about_other``)."""
    return answers_type(question, [r.sentence.text for r in chosen]) and not about_other(question, [hits[r.sentence.hit] for r in chosen])


def pick(ranked: list[Ranked], margin: float, max_sentences: int) -> list[Ranked]:
    """The sentences to quote: the best by token-level maxsim and those within ``margin`` of it (dev: the
    quotes hold the evidence for 45 of 55 questions, against 32 when chosen by cosine)."""
    by_match = sorted(ranked, key=_match, reverse=True)
    floor = _match(by_match[0]) - margin
    return [r for r in by_match if _match(r) >= floor][:max_sentences]


def _match(r: Ranked) -> float:
    return r.match if r.match is not None else r.similarity


def quoted_claim(c: Citation, text: str | None = None) -> Claim:
    """An extractive sentence as a claim: it is an exact quote of its source, so fully supported. ``text``:
    the sentence as read, when notes the citation's exact span holds are left out."""
    return {
        "text": c["text"] if text is None else text,
        "markers": [c["marker"]],
        "supported": True,
        "score": 1.0,
        "coverage": 1.0,
        "similarity": 1.0,
        "unsupported_terms": [],
        "source": c,
    }


def cite(hits: list[Hit], s: _Sentence, score: float, points_of: Callable[[str], SourcePoints]) -> Citation:
    """The provenance of sentence ``s`` of passage ``hits[s.hit]``: document, section, page, lines, character span."""
    h = hits[s.hit]
    start, end = h.chunk.char_start + s.start, h.chunk.char_start + s.end
    points = points_of(h.chunk.doc_id)
    return {
        "marker": s.hit + 1,
        "chunk_id": h.chunk.chunk_id,
        "doc_id": h.chunk.doc_id,
        "title": h.title,
        "source": h.source,
        "text": h.chunk.text[s.start : s.end],  # exact, notes and all: the document's text at char_start..char_end
        "char_start": start,
        "char_end": end,
        "section": h.chunk.section,
        "page": point_lookup(points.pages, start, h.chunk.page) if h.chunk.page is not None else None,
        "line_start": point_lookup(points.lines, start, h.chunk.line_start),
        "line_end": point_lookup(points.lines, end - 1, h.chunk.line_end),
        "score": round(score, 4),
    }


@dataclass
class ContextBlock:
    """Numbered passages for an LLM prompt, within a token budget."""

    context: str
    passages: list[Hit]
    tokens: int

    def to_dict(self) -> ContextResponse:
        return {"context": self.context, "passages": [h.to_dict() for h in self.passages], "tokens": self.tokens}


def _block(n: int, h: Hit, text: str) -> str:
    page = f", page {h.chunk.page}" if h.chunk.page else ""
    return f"[{n}] {h.title} ({h.source}, lines {h.chunk.line_start}-{h.chunk.line_end}{page})\n{text}\n\n"


def pack_context(hits: list[Hit], max_tokens: int) -> ContextBlock:
    """Add whole passages in rank order while they fit; the first one is cut to fit if it must."""
    text, used = "", cast(list[Hit], [])
    for h in hits:
        block = _block(len(used) + 1, h, h.chunk.text)
        if count_tokens(text + block) <= max_tokens:
            text += block
            used.append(h)
        elif not used:
            header = count_tokens(_block(1, h, ""))
            if max_tokens - header > 8:
                cut = truncate_tokens(h.chunk.text, max_tokens - header - 1)
                while cut and count_tokens(_block(1, h, cut)) > max_tokens:
                    cut = truncate_tokens(cut, count_tokens(cut) - 4)
                if cut:
                    text, used = _block(1, h, cut), [h]
            break
        else:
            break
    text = text.rstrip("\n")
    return ContextBlock(text, used, count_tokens(text) if text else 0)
