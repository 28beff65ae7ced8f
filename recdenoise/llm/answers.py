"""What the LLM client hands back and counts: answers, usage counters, failures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..errors import LLMError

__all__ = ["BudgetExhausted", "TransportError", "UsageStats", "ChatAnswer"]


class BudgetExhausted(LLMError):
    """The request budget (``max_requests``) is spent; the job stops cleanly and can be resumed."""


class TransportError(LLMError):
    """A request failed for good (retries spent or a non-retryable 4xx). ``reason`` names the kind."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass
class UsageStats:
    """Counters for one run: HTTP attempts, retries, errors by kind, tokens."""

    requests_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retry_after_seconds: float = 0.0
    errors: Counter = field(default_factory=Counter)
    endpoints: list = field(default_factory=list)  # per-endpoint stats (Endpoint.to_dict), filled at the end

    def to_dict(self) -> dict:
        return {
            "requests_sent": self.requests_sent,
            "retries": self.retries,
            "retry_after_seconds": round(self.retry_after_seconds, 3),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": dict(sorted(self.errors.items())),
            "endpoints": self.endpoints,
        }


@dataclass(frozen=True)
class ChatAnswer:
    """One completed chat request: the text and the ``usage`` the server reported."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    model: str
