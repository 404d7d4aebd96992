"""The OpenAI chat-completions protocol, as far as chat front ends use it, plus our citations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.llm import Sampling
from rag.shapes import Citation, Claim

from .schemas import MaxTokens, Temperature, _Filtered

MODEL_ID = "grounded-rag"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text; image and audio parts are left out."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatRequest(_Filtered):
    """OpenAI's request; fields front ends send that do not apply here (tools, n, ...) are accepted and
    ignored. ``top_k`` and ``filters`` are ours."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = Field(False, strict=True)
    top_k: int = Field(5, ge=1, le=20)
    temperature: Temperature = None
    max_tokens: MaxTokens = None
    max_completion_tokens: Annotated[MaxTokens, Field(description="OpenAI's newer name for max_tokens (wins when both are set).")] = None

    def sampling(self) -> Sampling:
        """The request's own LLM limits (extractive answers ignore them)."""
        return Sampling(self.max_completion_tokens or self.max_tokens, self.temperature)


class ChatReply(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChatReply
    finish_reason: str = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's response, with the answer's sources: ``citations`` (the spans behind its [n] markers),
    ``claims`` (each sentence's verdict) and ``grounded``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation]
    claims: list[Claim]
    grounded: bool
    query: str = Field(description="The standalone retrieval query made from the conversation.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def chunk(cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer."""
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
