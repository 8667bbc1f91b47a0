"""``scan --verify``: ask each provider whether a leaked key still works, for the key's owner.

Opt-in only: nothing here runs, and no HTTP client is imported, unless the caller asks. Every
request is data (``rules/builtin/providers/<provider>.yaml``: method, URL, where the key goes,
which statuses mean live or invalid) against a read-only, non-billable endpoint (list models,
whoami, STS GetCallerIdentity signed with SigV4); never a generation call. Answers: ``live``
(a live status, 2xx by default), ``invalid`` (401/403 by default), ``unknown`` (anything else),
``error`` (no answer: DNS, refused, timeout, TLS). Requests to one host are spaced by ``1/rate``
seconds; one key is asked once per run; with a workspace, definitive answers (live, invalid) are
cached by fingerprint and reused while younger than ``max_age``. ``dry_run`` describes each request
(the key shown only as its redacted preview) and sends nothing.

Testing hook: ``RINGBREAKER_VERIFY_HOSTS`` (a JSON object, provider host -> base URL) sends the
requests for a host elsewhere, e.g. ``{"api.openai.com": "http://127.0.0.1:8080"}``; plain http
is accepted only for 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from ringbreaker import __version__
from ringbreaker.errors import UsageError
from ringbreaker.model import Finding, Verification
from ringbreaker.rules.providers import Check, NoCheck, check

HOSTS_ENV = "RINGBREAKER_VERIFY_HOSTS"
OUTCOMES = ("live", "invalid", "unknown", "error")
CACHED = frozenset({"live", "invalid"})
_KEY = "\x00KEY\x00"  # stands for the key in a planned request until it is sent or described
_BEDROCK_REGION = re.compile(r"X-Amz-Credential=[^&]*?(?:%2F|/)\d{8}(?:%2F|/)([a-z0-9-]+)(?:%2F|/)bedrock")


def host_overrides(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``RINGBREAKER_VERIFY_HOSTS`` parsed and checked: host -> base URL (no trailing slash).
    Raises UsageError for bad JSON, a non-URL, or plain http to anything but 127.0.0.1."""
    raw = (os.environ if env is None else env).get(HOSTS_ENV)
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UsageError(f"{HOSTS_ENV} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise UsageError(f"{HOSTS_ENV} must be a JSON object: provider host -> base URL")
    out: dict[str, str] = {}
    for host, base in doc.items():
        u = urlsplit(str(base))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"{HOSTS_ENV}: {host!r} -> {base!r} is not an http(s) URL")
        if u.scheme == "http" and u.hostname != "127.0.0.1":
            raise UsageError(f"{HOSTS_ENV}: plain http is allowed only for 127.0.0.1, not {u.hostname!r}")
        out[str(host).lower()] = str(base).rstrip("/")
    return out


# --------------------------------------------------------------------------- SigV4


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _aws_quote(s: str) -> str:
    return quote(s, safe="-_.~")


def sigv4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    secret: str,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """AWS Signature Version 4: the ``X-Amz-Date`` and ``Authorization`` headers for a request
    (botocore is not a dependency; the algorithm is short). ``headers`` are signed with ``host``."""
    u = urlsplit(url)
    amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed_headers = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed_headers |= {"host": u.netloc, "x-amz-date": amz_date}
    names = sorted(signed_headers)
    query = "&".join(
        f"{_aws_quote(k)}={_aws_quote(v)}" for k, v in sorted(parse_qsl(u.query, keep_blank_values=True))
    )
    canonical = "\n".join(
        [
            method,
            quote(u.path or "/", safe="/-_.~"),
            query,
            "".join(f"{n}:{signed_headers[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _hmac(("AWS4" + secret).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    signature = hmac.new(k, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={';'.join(names)}"
    return {"X-Amz-Date": amz_date, "Authorization": f"{auth}, Signature={signature}"}


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Planned:
    """A request for one key with the key still a placeholder: ``describe`` shows it redacted,
    ``materialize`` fills the key in (only when it is about to be sent)."""

    finding: Finding
    check: Check
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def endpoint(self) -> str:
        """Method and URL without the key (what the cache and the dry run name)."""
        return f"{self.method} {self.url.split('?')[0] if _KEY in self.url else self.url}"

    def describe(self) -> str:
        """The request as a dry run prints it: the key is its preview, signatures are not made."""
        shown = self.finding.preview

        def red(s: str) -> str:
            return s.replace(quote(_KEY, safe=""), f"<{shown}>").replace(_KEY, f"<{shown}>")

        lines = [f"{self.method} {red(self.url)}"]
        for k, v in self.headers.items():
            lines.append(f"  {k}: {red(v)}")
        if self.check.auth == "basic":
            lines.append(f"  Authorization: Basic base64({self.check.param}:<{shown}>)")
        if self.check.auth == "aws-sigv4":
            lines.append(
                f"  Authorization: AWS4-HMAC-SHA256 Credential=<{shown}>/…/{self.check.region}/"
                f"{self.check.service}/aws4_request, Signature=<signed with the paired secret when sent>"
            )
        if self.body is not None:
            lines.append(f"  body: {red(self.body)}")
        return "\n".join(lines)

    def materialize(self, overrides: Mapping[str, str]) -> tuple[str, str, dict[str, str], bytes | None]:
        """(method, url, headers, body) ready to send, redirected by ``overrides``."""
        key = self.finding.secret or ""
        url = self.url.replace(quote(_KEY, safe=""), quote(key, safe="")).replace(_KEY, key)
        headers = {k: v.replace(_KEY, key) for k, v in self.headers.items()}
        body = None if self.body is None else self.body.replace(quote(_KEY, safe=""), quote(key, safe=""))
        data = None if body is None else body.replace(_KEY, key).encode("utf-8")
        if self.check.auth == "basic":
            token = base64.b64encode(f"{self.check.param}:{key}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if self.check.auth == "aws-sigv4":
            signed = {k: v for k, v in headers.items() if k.lower() != "user-agent"}
            headers |= sigv4(
                self.method,
                url,
                signed,
                data or b"",
                key,
                self.finding.companion or "",
                self.check.region,
                self.check.service,
            )
        base = overrides.get(self.host)
        if base:
            u = urlsplit(url)
            url = base + u.path + (f"?{u.query}" if u.query else "")
        return self.method, url, headers, data


def _region(f: Finding, c: Check) -> str:
    if f.secret and f.secret.startswith("bedrock-api-key-"):
        b64 = f.secret[len("bedrock-api-key-") :].split("&")[0]
        try:
            text = base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-8", "replace")
        except ValueError:
            return c.region
        m = _BEDROCK_REGION.search(text)
        return m.group(1) if m else c.region
    return c.region


def plan(f: Finding, spec: Check | NoCheck) -> Planned | str:
    """The request that checks finding ``f``, or why there is none."""
    if isinstance(spec, NoCheck):
        return spec.reason
    if not f.secret:
        return "the key itself is not in memory"
    if spec.needs == "resource" and not f.resource:
        return "no resource (endpoint) named near the key"
    if spec.needs == "companion" or spec.auth == "aws-sigv4":
        if not f.companion:
            return "its paired secret was not found near it"
        if not f.secret.startswith("AKIA"):
            return "a temporary (ASIA) key cannot be checked without its session token"
    url = spec.url.replace("{resource}", f.resource or "").replace("{region}", _region(f, spec))
    headers = {"User-Agent": f"ringbreaker/{__version__} (scan --verify; read-only key check)"}
    headers |= dict(spec.headers)
    body = spec.body
    if spec.auth == "bearer":
        headers["Authorization"] = f"Bearer {_KEY}"
    elif spec.auth == "header":
        headers[spec.param] = spec.prefix + _KEY
    elif spec.auth == "query":
        url += ("&" if "?" in url else "?") + f"{spec.param}={quote(_KEY, safe='')}"
    elif spec.auth == "form":
        body = f"{spec.param}={quote(_KEY, safe='')}"
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if spec.content_type:
        headers["Content-Type"] = spec.content_type
    return Planned(f, spec, spec.method, url, headers, body)


# --------------------------------------------------------------------------- running


@dataclass
class VerifyResult:
    """The findings with ``verified``/``verified_at`` set, and what it took."""

    findings: list[Finding]
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> findings
    sent: int = 0  # requests sent to providers
    cached: int = 0  # keys answered from the workspace cache
    unchecked: dict[str, int] = field(default_factory=dict)  # reason -> findings without a check
    requests: list[str] = field(default_factory=list)  # dry run: each request, redacted


class _Spacer:
    """At most ``rate`` requests a second to one host (a leaked-key sweep must not hammer anyone)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.next: dict[str, float] = {}

    def wait(self, host: str) -> None:
        now = self.clock()
        at = self.next.get(host, now)
        if at > now:
            time.sleep(at - now)
            now = at
        self.next[host] = now + self.gap


def _outcome(status: int, c: Check) -> str:
    if status in c.live:
        return "live"
    if status in c.invalid:
        return "invalid"
    return "unknown"


def _send(pool: Any, p: Planned, overrides: Mapping[str, str], timeout: float) -> tuple[str, int | None]:
    import urllib3

    method, url, headers, body = p.materialize(overrides)
    try:
        r = pool.request(
            method,
            url,
            headers=headers,
            body=body,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            preload_content=False,
        )
        try:
            r.read(64 << 10)
        finally:
            r.release_conn()
    except (urllib3.exceptions.HTTPError, OSError):
        return "error", None
    return _outcome(int(r.status), p.check), int(r.status)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def verify_findings(
    findings: Sequence[Finding],
    *,
    dry_run: bool = False,
    workspace: str | os.PathLike[str] | None = None,
    rate: float = 2.0,
    timeout: float = 10.0,
    max_age: timedelta = timedelta(hours=24),
) -> VerifyResult:
    """Check every finding's key with its provider (see the module docstring); ``dry_run``: plan
    and describe the requests, send none, change no finding."""
    overrides = host_overrides()
    planned: dict[tuple[str, str], Planned] = {}
    result = VerifyResult(list(findings))
    for f in findings:
        p = plan(f, check(f.provider, f.rule))
        if isinstance(p, str):
            result.unchecked[p] = result.unchecked.get(p, 0) + 1
        else:
            planned.setdefault((f.fingerprint, f.rule), p)
    if dry_run:
        result.requests = [p.describe() for p in planned.values()]
        return result

    answers: dict[tuple[str, str], tuple[str, str]] = {}  # (fp, rule) -> (outcome, ISO time)
    con = None
    if workspace and planned:
        from ringbreaker.workspace import guarded, open_workspace
        from ringbreaker.workspace.verifications import read_verifications

        con = open_workspace(workspace)
        with guarded(con, "reading the verification cache"):
            for v in read_verifications(con, datetime.now(UTC) - max_age):
                if (v.fingerprint, v.rule) in planned:
                    at = v.verified_at.astimezone(UTC).isoformat(timespec="seconds")
                    answers[(v.fingerprint, v.rule)] = (v.verified, at)
        result.cached = len(answers)

    fresh: list[Verification] = []
    todo = [(k, p) for k, p in planned.items() if k not in answers]
    if todo:
        import urllib3

        pool = urllib3.PoolManager(num_pools=8, retries=False)
        spacer = _Spacer(rate)
        for k, p in todo:
            spacer.wait(p.host)
            outcome, status = _send(pool, p, overrides, timeout)
            result.sent += 1
            at = _now()
            answers[k] = (outcome, at)
            if outcome in CACHED:
                when = datetime.now(UTC)
                fresh.append(Verification(k[0], k[1], p.finding.provider, outcome, status, p.endpoint, when))
        pool.clear()
    if con is not None:
        from ringbreaker.workspace import guarded
        from ringbreaker.workspace.verifications import store_verifications

        try:
            with guarded(con, "storing verifications"):
                store_verifications(con, fresh)
        finally:
            con.close()

    out = []
    for f in findings:
        a = answers.get((f.fingerprint, f.rule))
        if a:
            result.counts[a[0]] = result.counts.get(a[0], 0) + 1
        out.append(replace(f, verified=a[0], verified_at=a[1]) if a else f)
    result.findings = out
    return result
