"""LiteLLM proxy SpendLogs exported as JSONL (``gateway/litellm_spendlogs.jsonl``).

``api_key`` is the SHA-256 hex of the virtual key, as LiteLLM stores it and as scan fingerprints
it. ``metadata.headers`` records whether forwarding headers arrived (a reseller proxy strips them)
and the client's user agent; ``messages``/``response`` are kept only for teams that opted in.
"""

from __future__ import annotations

import random
from typing import Any

from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.sink import APPEND, Sink
from ringbreaker.simulate.timefmt import iso_micro

FMT = "litellm-spendlogs"
PATH = "gateway/litellm_spendlogs.jsonl"
PRICE = {"gpt-4o": 5e-6, "gpt-4o-mini": 3e-7, "claude-3-5-sonnet": 6e-6, "llama-3.1-70b": 9e-7}


def emit(
    sink: Sink,
    rng: random.Random,
    t: int,
    key_hash: str,
    team: str,
    model: tuple[str, str, str],
    ip: str,
    ua: str,
    end_user: str,
    forwarded: bool,
    prompt: str | None,
    tokens_in: int,
    tokens_out: int,
    status: str = "success",
) -> None:
    """Queue one gateway call."""
    name, provider, api_base = model
    micro = rng.randrange(1_000_000)
    dur = rng.randint(300, 9000)
    end_t, end_micro = t + (micro + dur * 1000) // 1_000_000, (micro + dur * 1000) % 1_000_000
    headers: dict[str, Any] = {"user-agent": ua, "x-forwarded-for": forwarded}
    rec: dict[str, Any] = {
        "request_id": "chatcmpl-" + uuid4(rng),
        "call_type": "acompletion",
        "api_key": key_hash,
        "spend": round((tokens_in + 3 * tokens_out) * PRICE.get(name, 1e-6), 8),
        "total_tokens": tokens_in + tokens_out,
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "startTime": iso_micro(t, micro),
        "endTime": iso_micro(end_t, end_micro),
        "model": name,
        "model_group": name,
        "custom_llm_provider": provider,
        "api_base": api_base,
        "user": "",
        "team_id": team,
        "metadata": {"user_api_key_team_id": team, "headers": headers, "status": status},
        "cache_hit": "False",
        "end_user": end_user,
        "requester_ip_address": ip,
        "messages": [{"role": "user", "content": prompt}] if prompt is not None else {},
        "response": {"id": "chatcmpl-" + hexid(rng, 24)} if prompt is not None else {},
        "session_id": uuid4(rng),
        "status": status,
    }
    sink.add(FMT, PATH, APPEND, t, rec)
