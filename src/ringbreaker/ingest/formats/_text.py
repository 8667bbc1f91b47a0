"""Prompt text from request bodies: Anthropic messages, Converse, OpenAI chat, Titan, Llama and others."""

from __future__ import annotations

from typing import Any


def _parts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                t = part.get("text")
                if isinstance(t, str):
                    out.append(t)
                elif isinstance(part.get("content"), list | str):  # tool results nest content
                    out.extend(_parts(part["content"]))
    elif isinstance(content, dict) and isinstance(content.get("text"), str):
        out.append(content["text"])
    return out


def prompt_text(body: Any) -> str | None:
    """The human-readable prompt of one request body, text parts joined by newlines; None if none."""
    if isinstance(body, str):
        return body or None
    if isinstance(body, list):  # a bare messages list (gateway logs)
        body = {"messages": body}
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    system = body.get("system")
    if system is not None:
        parts.extend(_parts(system))
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                parts.extend(_parts(m.get("content")))
    for key in ("prompt", "inputText", "message", "input"):
        v = body.get(key)
        if isinstance(v, str):
            parts.append(v)
    for key in ("text_prompts", "texts"):
        v = body.get(key)
        if isinstance(v, list):
            parts.extend(_parts(v))
    tti = body.get("textToImageParams")
    if isinstance(tti, dict) and isinstance(tti.get("text"), str):
        parts.append(tti["text"])
    text = "\n".join(p for p in parts if p)
    return text or None
