"""LiteLLM proxy SpendLogs exported as JSONL (``gateway/litellm_spendlogs.jsonl``).

``api_key`` is the SHA-256 hex of the virtual key, as LiteLLM stores it and as scan fingerprints
it. ``metadata.headers`` records whether forwarding headers arrived (a reseller proxy strips them)
and the client's user agent; ``messages``/``response`` are kept only for teams that opted in.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.sink import APPEND, Sink
from ringbreaker.simulate.template import Clock, Rand, Template, d, s, v
from ringbreaker.simulate.timefmt import iso_micro

FMT = "litellm-spendlogs"
PATH = "gateway/litellm_spendlogs.jsonl"
PRICE = {"gpt-4o": 5e-6, "gpt-4o-mini": 3e-7, "claude-3-5-sonnet": 6e-6, "llama-3.1-70b": 9e-7}


def record(
    request_id: str,
    key_hash: str,
    team: str,
    model: tuple[str, str, str],
    ip: str,
    ua: str,
    end_user: str,
    forwarded: bool,
    prompt: Any,
    response_id: str,
    tokens_in: Any,
    tokens_out: Any,
    total_tokens: Any,
    spend: Any,
    start: str,
    end: str,
    session_id: str,
    status: str = "success",
) -> dict[str, Any]:
    """One gateway call as SpendLogs stores it (times formatted; ``prompt`` None when not kept)."""
    name, provider, api_base = model
    headers: dict[str, Any] = {"user-agent": ua, "x-forwarded-for": forwarded}
    return {
        "request_id": "chatcmpl-" + request_id,
        "call_type": "acompletion",
        "api_key": key_hash,
        "spend": spend,
        "total_tokens": total_tokens,
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "startTime": start,
        "endTime": end,
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
        "response": {"id": "chatcmpl-" + response_id} if prompt is not None else {},
        "session_id": session_id,
        "status": status,
    }


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
    micro = rng.randrange(1_000_000)
    dur = rng.randint(300, 9000)
    end_t, end_micro = t + (micro + dur * 1000) // 1_000_000, (micro + dur * 1000) % 1_000_000
    request_id = uuid4(rng)
    response_id = hexid(rng, 24)
    rec = record(
        request_id,
        key_hash,
        team,
        model,
        ip,
        ua,
        end_user,
        forwarded,
        prompt,
        response_id,
        tokens_in,
        tokens_out,
        tokens_in + tokens_out,
        round((tokens_in + 3 * tokens_out) * PRICE.get(model[0], 1e-6), 8),
        iso_micro(t, micro),
        iso_micro(end_t, end_micro),
        uuid4(rng),
        status,
    )
    sink.add(FMT, PATH, APPEND, t, rec)


def template(
    key_hash: str, team: str, model: tuple[str, str, str], forwarded: bool, prompts: bool
) -> Template:
    """Calls with ``key_hash`` to ``model``: user agent, IP, end user, prompt, tokens, times are holes."""
    return Template(
        record(
            s("rid"),
            key_hash,
            team,
            model,
            s("ip"),
            s("ua"),
            s("user"),
            forwarded,
            v("prompt", "s") if prompts else None,
            s("respid"),
            v("tin"),
            v("tout"),
            v("total"),
            v("spend", "r"),
            s("start") + "." + d("smicro", "06d") + "+00:00",
            s("end") + "." + d("emicro", "06d") + "+00:00",
            s("sid"),
        )
    )


def emit_batch(
    sink: Sink,
    tmpl: Template,
    rs: Rand,
    clock: Clock,
    model: str,
    t: np.ndarray,
    tin: np.ndarray,
    tout: np.ndarray,
    cols: dict[str, Any],
) -> None:
    """Queue a batch of one hour's calls to one model (``cols``: ip, ua, user, prompt if kept)."""
    n = len(t)
    if not n:
        return
    micro = rs.g.integers(0, 1_000_000, n)
    end = micro + rs.g.integers(300, 9001, n) * 1000
    spend = np.round((tin + 3 * tout) * PRICE.get(model, 1e-6), 8)
    cols = {
        **cols,
        "rid": rs.uuids(n),
        "respid": rs.hex24(n),
        "sid": rs.uuids(n),
        "tin": tin.tolist(),
        "tout": tout.tolist(),
        "total": (tin + tout).tolist(),
        "spend": spend.tolist(),
        "start": clock.seconds(t).tolist(),
        "smicro": micro.tolist(),
        "end": clock.seconds(t + end // 1_000_000).tolist(),
        "emicro": (end % 1_000_000).tolist(),
    }
    sink.add_many(FMT, PATH, APPEND, t, tmpl.fill(cols))
