"""Grounded generation: the LLM answers from the numbered passages, every sentence it writes is
verified, and what the sources do not support leaves the answer (or refuses it, per the settings)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .answer import NOT_FOUND, Answer, pack_context
from .config import Settings
from .llm import LLM, Completion, LLMError, Message, Sampling
from .models import Hit, SourcePoints
from .prompt import answer_messages
from .shapes import Citation, Claim
from .verify import Verifier

log = logging.getLogger(__name__)
EventKind = Literal["passages", "token", "claims", "error", "done"]


@dataclass
class Event:
    """One step of a streamed answer: the passages, a piece of text, the verified claims, the end."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)
    answer: Answer | None = field(default=None, repr=False)  # on "done": the answer itself


@dataclass
class Policy:
    """What the verifier's verdicts do to an answer."""

    threshold: float
    mode: Literal["drop", "refuse"] = "drop"
    fallback: Literal["extractive", "abstain"] = "extractive"
    context_tokens: int = 1500
    max_concurrency: int = 4

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(s.verify_threshold, s.verify_mode, s.llm_fallback, s.llm_context_tokens, s.llm_max_concurrency)


class Generator:
    """Writes answers with ``llm`` and checks them; ``embed`` gives unit vectors (the engine's model)."""

    def __init__(
        self,
        llm: LLM,
        policy: Policy,
        embed: Callable[[list[str]], Awaitable[np.ndarray]],
        points_of: Callable[[str], SourcePoints],
    ) -> None:
        self.llm = llm
        self.policy = policy
        self.embed = embed
        self.points_of = points_of
        # A burst of questions must not become a burst on the LLM server: the rest wait their turn.
        self.slots = asyncio.Semaphore(policy.max_concurrency)

    def messages(self, question: str, hits: list[Hit]) -> list[Message]:
        """The prompt: the passages that fit the token budget, numbered as in the response."""
        return answer_messages(question, pack_context(hits, self.policy.context_tokens).context)

    async def answer(self, question: str, extractive: Answer, sampling: Sampling | None = None) -> Answer:
        """The generated, verified answer; the extractive one when the sources hold no answer
        (no LLM call is made then) or the LLM fails. ``sampling``: the request's own LLM limits."""
        if not extractive.grounded:
            return extractive
        try:
            async with self.slots:
                completion = await self.llm.complete(self.messages(question, extractive.passages), sampling)
        except LLMError as e:
            log.warning("%s; answering extractively", e)
            return self._fallback(extractive, [], None)
        return await self.verified(extractive, completion)

    async def stream(self, question: str, extractive: Answer, sampling: Sampling | None = None) -> AsyncIterator[Event]:
        """``answer`` as events: passages, the LLM's text as it comes, the verified claims, the end."""
        if not extractive.grounded:
            async for e in extractive_events(extractive):
                yield e
            return
        yield Event("passages", {"passages": [h.to_dict() for h in extractive.passages]})
        completion = Completion(model=self.llm.model)
        try:
            async with self.slots:
                async for piece in self.llm.stream(self.messages(question, extractive.passages), completion, sampling):
                    yield Event("token", {"text": piece})
            answer = await self.verified(extractive, completion)
        except LLMError as e:
            log.warning("%s; answering extractively", e)
            yield Event("error", {"detail": str(e)})
            answer = self._fallback(extractive, [], completion)
        yield Event("claims", {"claims": answer.claims, "citations": answer.citations})
        yield Event("done", {**answer.to_dict(), "usage": answer.usage()}, answer)

    async def verified(self, extractive: Answer, completion: Completion) -> Answer:
        """Check each sentence of ``completion`` and apply the policy."""
        verifier = Verifier(completion.text, extractive.passages, self.policy.threshold, self.points_of)
        texts = verifier.texts()
        claims = verifier.judge(await self.embed(texts) if texts else None)
        supported = [c for c in claims if c["supported"]]
        abstained = NOT_FOUND.lower().rstrip(".") in completion.text.lower()
        refused = self.policy.mode == "refuse" and len(supported) < len(claims)
        if abstained or refused or not supported:
            return self._fallback(extractive, claims, completion)
        answer = Answer(
            extractive.question,
            " ".join(c["text"] for c in supported),
            True,
            sum(c["score"] for c in supported) / len(supported),
            _citations(supported),
            extractive.passages,
            claims,
            mode="generated",
            model=completion.model or self.llm.model,
            completion=completion,
        )
        return answer

    def _fallback(self, extractive: Answer, claims: list[Claim], completion: Completion | None) -> Answer:
        """Nothing generated is supported (or the LLM failed): the extractive answer, whose quotes carry
        their own grounding, or an abstention (grounded=False); the rejected claims stay for display."""
        keep = self.policy.fallback == "extractive"
        return Answer(
            extractive.question,
            extractive.answer if keep else NOT_FOUND,
            extractive.grounded if keep else False,
            extractive.score if keep else 0.0,
            extractive.citations if keep else [],
            extractive.passages,
            claims,
            mode="fallback",
            model=(completion.model if completion else None) or self.llm.model,
            completion=completion,
        )


def _citations(claims: list[Claim]) -> list[Citation]:
    """The supporting spans of the claims, once each."""
    seen: dict[tuple[str, int], Citation] = {}
    for c in claims:
        src = c["source"]
        if src is not None:
            seen.setdefault((src["chunk_id"], src["char_start"]), src)
    return list(seen.values())


async def extractive_events(answer: Answer) -> AsyncIterator[Event]:
    """The events of an answer already made (extractive): passages, its text, claims, end."""
    yield Event("passages", {"passages": [h.to_dict() for h in answer.passages]})
    if answer.answer:
        yield Event("token", {"text": answer.answer})
    yield Event("claims", {"claims": answer.claims, "citations": answer.citations})
    yield Event("done", dict(answer.to_dict()), answer)
