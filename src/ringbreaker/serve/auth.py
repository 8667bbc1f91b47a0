"""The workbench's front door: the token, security headers and an access log without secrets.

One ASGI middleware, so no route can forget it:

- every path but ``/healthz`` needs the token: ``Authorization: Bearer T``, or the cookie set by
  visiting any URL once with ``?token=T`` (the start line prints that URL, as Jupyter does). That visit
  answers 303 to the same URL without the token, so it leaves the address bar, the history and the
  Referer; the cookie is HttpOnly and SameSite=Strict and holds an HMAC of the token, not the token.
  Anything else gets 401 (HTML pages too, with a page saying what to do);
- every answer carries a strict Content-Security-Policy (nothing but this origin, no inline script
  or style, no frames), nosniff, no Referer, no caching;
- the access log line (method, path, status, milliseconds) is written here, never with the query
  string, so a token in a URL never reaches a log. uvicorn's own access log is off.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "ringbreaker_session"
OPEN_PATHS = frozenset({"/healthz"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
UNAUTHORIZED_HTML = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>401 token needed</title></head><body>"
    "<h1>401: this workbench needs its token</h1><p>Open the URL that <code>ringbreaker serve</code> printed "
    "when it started (it ends in <code>?token=...</code>), or send <code>Authorization: Bearer TOKEN</code>."
    "</p></body></html>"
)

log = logging.getLogger("ringbreaker.serve.access")


def session_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token (a stolen cookie is not the token itself)."""
    return hmac.new(token.encode(), b"ringbreaker-serve-session", hashlib.sha256).hexdigest()


class TokenGate:
    """ASGI middleware: token check, security headers and the access log (see the module docstring)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token)

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(
            auth[7:].strip().encode(), self.token.encode()
        ):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:  # a malformed Cookie header is a missing one
            return False
        got = cookie.get(COOKIE)
        return got is not None and hmac.compare_digest(got.value.encode(), self.session.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        path: str = scope.get("path", "")
        status = 500
        csp = CSP.encode()  # unless the route sets its own (case.html carries its hash-based policy)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in [(b"content-security-policy", csp), *HEADERS] if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            headers = {k.lower(): v for k, v in scope.get("headers", [])}
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = next((v for k, v in query if k == "token"), None)
            if path in OPEN_PATHS:
                await self.app(scope, receive, send_with_headers)
            elif given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                await self._redirect(send_with_headers, path + (f"?{rest}" if rest else ""))
            elif self._authorised(headers):
                await self.app(scope, receive, send_with_headers)
            else:
                await self._unauthorised(send_with_headers, path)
        finally:
            log.info(
                '%s "%s %s" %d %.1fms',
                (scope.get("client") or ("-", 0))[0],
                scope.get("method", "-"),
                path,
                status,
                (time.monotonic() - start) * 1000,
            )

    async def _redirect(self, send: Send, location: str) -> None:
        cookie = f"{COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _unauthorised(self, send: Send, path: str) -> None:
        api = path.startswith("/api/")
        body = (
            b'{"error": "unauthorized: send Authorization: Bearer TOKEN"}'
            if api
            else UNAUTHORIZED_HTML.encode()
        )
        ctype = b"application/json" if api else b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", ctype),
                    (b"www-authenticate", b'Bearer realm="ringbreaker"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
