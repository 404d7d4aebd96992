"""The prompts: numbered passages with an instruction to cite them, and a question made standalone
from a conversation."""

from __future__ import annotations

from .llm import Message

ANSWER_SYSTEM = (
    "You answer questions using only the numbered passages you are given. "
    "Write a short answer of one to four sentences. End every sentence with the number of the passage "
    "that supports it in square brackets, like [1] or [2]. Copy names, numbers and dates exactly as the "
    "passages give them. If the passages do not answer the question, say: "
    "The indexed documents do not answer this question."
)

REWRITE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation: "
    "replace pronouns and references with what they refer to. Reply with the question only."
)

MAX_REWRITE_TURNS = 6


def answer_messages(question: str, context: str) -> list[Message]:
    """The chat messages asking the LLM to answer ``question`` from the numbered ``context``."""
    return [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": f"Passages:\n\n{context}\n\nQuestion: {question}"},
    ]


def rewrite_messages(history: list[Message]) -> list[Message]:
    """The chat messages asking the LLM for a standalone version of the conversation's last question."""
    turns = "\n".join(f"{m['role']}: {m['content']}" for m in history[-MAX_REWRITE_TURNS:])
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": turns}]


def standalone_from_turns(history: list[Message], max_chars: int) -> str:
    """Without an LLM: the last user turn, preceded by the one before it when there is one (a follow-up
    such as "and in 2010?" needs its predecessor's words to retrieve anything)."""
    users = [m["content"].strip() for m in history if m["role"] == "user" and m["content"].strip()]
    if not users:
        return ""
    query = " ".join(users[-2:])
    return query[-max_chars:]
