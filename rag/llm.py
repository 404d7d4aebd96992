"""Talking to any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp's server, OpenAI) through
the official ``openai`` client: one call or a token stream, with usage and finish reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .errors import UnavailableError
from .tokens import count_tokens

Message = dict[str, str]


@dataclass
class Completion:
    """What the LLM wrote, why it stopped, and the token counts its server reported."""

    text: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    pieces: int = 0  # text pieces streamed
    estimated: bool = False  # token counts estimated here (the server reported none)


@dataclass(frozen=True)
class Sampling:
    """A request's own limits for the LLM (OpenAI's ``max_tokens`` and ``temperature``); None keeps
    the configured value, and ``max_tokens`` never exceeds ``RAG_LLM_MAX_TOKENS``."""

    max_tokens: int | None = None
    temperature: float | None = None


class LLMError(UnavailableError):
    """The LLM server failed, timed out or could not be reached."""


class LLM:
    """A chat model behind an OpenAI-compatible base URL."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0, max_tokens: int = 400, temperature: float = 0.0
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        import openai  # here: importing it costs the CLI ~1 s, and only generation needs it

        self._failure: type[Exception] = openai.OpenAIError
        # Local servers usually want no key, but the client insists on one.
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout_s, max_retries=0)

    @classmethod
    def from_settings(cls, s: Settings) -> LLM | None:
        """The configured LLM, or None when ``RAG_LLM_BASE_URL`` is unset (extractive answers)."""
        if not s.llm_base_url:
            return None
        return cls(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout_s, s.llm_max_tokens, s.llm_temperature)

    def _limits(self, sampling: Sampling | None) -> tuple[int, float]:
        s = sampling or Sampling()
        max_tokens = min(s.max_tokens, self.max_tokens) if s.max_tokens else self.max_tokens
        return max_tokens, self.temperature if s.temperature is None else s.temperature

    async def complete(self, messages: list[Message], sampling: Sampling | None = None) -> Completion:
        """The whole answer in one call."""
        max_tokens, temperature = self._limits(sampling)
        try:
            r = await self.client.chat.completions.create(
                model=self.model,
                messages=_typed(messages),
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except self._failure as e:
            raise LLMError(f"LLM call failed: {_reason(e)}") from e
        choice = r.choices[0] if r.choices else None
        usage = r.usage
        return Completion(
            text=(choice.message.content or "") if choice else "",
            finish_reason=(choice.finish_reason or "stop") if choice else "stop",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=r.model or self.model,
        )

    async def stream(self, messages: list[Message], done: Completion, sampling: Sampling | None = None) -> AsyncIterator[str]:
        """Yield text pieces as the server writes them; ``done`` is filled in as they arrive.
        Closing the iterator (a client that left) closes the HTTP stream, which stops the server."""
        max_tokens, temperature = self._limits(sampling)
        try:
            stream = await self.client.chat.completions.create(
                model=self.model,
                messages=_typed(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
            )
        except self._failure as e:
            raise LLMError(f"LLM call failed: {_reason(e)}") from e
        try:
            async for chunk in stream:
                done.model = chunk.model or done.model or self.model
                if chunk.usage:
                    done.prompt_tokens, done.completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.finish_reason:
                        done.finish_reason = choice.finish_reason
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        done.text += piece
                        done.pieces += 1
                        yield piece
        except self._failure as e:
            raise LLMError(f"LLM stream failed: {_reason(e)}") from e
        finally:
            await stream.close()
        if not done.completion_tokens:  # servers that ignore include_usage (llama.cpp's): estimate
            done.estimated = True
            done.completion_tokens = done.pieces  # such servers send one token per piece
            done.prompt_tokens = sum(count_tokens(m["content"]) for m in messages)

    async def close(self) -> None:
        await self.client.close()


def _typed(messages: list[Message]) -> Any:
    # Our messages are plain role/content dicts, which the client's per-role TypedDicts all accept.
    return messages


def _reason(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:300]
