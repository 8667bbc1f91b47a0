"""``scan --verify`` against a real HTTP server on 127.0.0.1 that answers as each provider would
(``RINGBREAKER_VERIFY_HOSTS`` sends every provider host there): the outcomes per status, SigV4
against AWS's published example, no request without --verify, none in a dry run, the key never in
any output, requests spaced per host, and the workspace cache answering a second run."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from ringbreaker.errors import UsageError
from ringbreaker.model import Finding
from ringbreaker.rules.providers import check, load_providers
from ringbreaker.scan import ScanConfig, scan, verify_findings
from ringbreaker.scan.verify import HOSTS_ENV, host_overrides, plan, sigv4
from tests.conftest import ANTHROPIC, HF, OPENAI, rb


@dataclass
class Seen:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Peer:
    """The providers, played by one server: each request's status is the one registered for the key
    it carries (anywhere: path, query, headers, HTTP Basic, body), else 401."""

    port: int
    status: dict[str, int] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def base(self, host: str) -> str:
        return f"http://127.0.0.1:{self.port}/{host}"


@pytest.fixture
def peer() -> Iterator[Peer]:
    state = Peer(0)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            state.seen.append(Seen(time.monotonic(), self.path, headers, body))
            blob = self.path + json.dumps(headers) + body.decode("utf-8", "replace")
            auth = headers.get("Authorization", "")
            if auth.startswith("Basic "):
                blob += base64.b64decode(auth[6:]).decode()
            code = next((s for k, s in state.status.items() if k in blob), 401)
            payload = json.dumps({"status": code}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def every_host(peer: Peer) -> dict[str, str]:
    """Each check's host -> the peer (templated hosts with the resource the tests use)."""
    hosts = {"contoso.openai.azure.com", "bedrock.us-east-1.amazonaws.com"}
    for p in load_providers().values():
        for c in [p.verify, *(p.check_for(r) for r in p.overrides)]:
            url = getattr(c, "url", "")
            if url and "{" not in url.split("/")[2]:
                hosts.add(url.split("/")[2])
    return {h: peer.base(h) for h in hosts}


@pytest.fixture
def env(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    hosts = every_host(peer) | {"api.replicate.com": f"http://127.0.0.1:{closed_port()}"}
    monkeypatch.setenv(HOSTS_ENV, json.dumps(hosts))
    return hosts


@dataclass
class Leak:
    """The keys planted for one test, the files they are in, and the status the peer gives each."""

    keys: dict[str, str]  # name -> key
    aws_secret: str


@pytest.fixture
def leak(tmp_path: Path, keygen: Callable[[str], str], peer: Peer) -> Leak:
    k = {
        "openai": keygen(OPENAI),
        "anthropic": keygen(ANTHROPIC),
        "huggingface": keygen(HF),
        "groq": keygen("gsk_{{alnum:52}}"),
        "replicate": keygen("r8_{{alnum:37}}"),
        "google": keygen("AIzaSy{{urlsafe:33}}"),
        "deepgram": keygen("{{hex:40}}"),
        "wandb": keygen("{{hex:40}}"),
        "nvidia": keygen("nvapi-{{urlsafe:64}}"),
        "aws": keygen("AKIA{{b32:16}}"),
        "azure": keygen("{{hex:32}}"),
        "perplexity": keygen("pplx-{{alnum:48}}"),
    }
    secret = keygen("{{b64:40}}")
    files = {
        "openai.env": f"OPENAI_API_KEY={k['openai']}\n",
        "anthropic.env": f"ANTHROPIC_API_KEY={k['anthropic']}\n",
        "hf.env": f"HF_TOKEN={k['huggingface']}\n",
        "groq.env": f"GROQ_API_KEY={k['groq']}\n",
        "replicate.env": f"REPLICATE_API_TOKEN={k['replicate']}\n",
        "google.env": f"GEMINI_API_KEY={k['google']}\n",
        "deepgram.env": f"DEEPGRAM_API_KEY={k['deepgram']}\n",
        "wandb.env": f"WANDB_API_KEY={k['wandb']}\n",
        "nvidia.env": f"NVIDIA_API_KEY={k['nvidia']}\n",
        "aws.ini": f"aws_access_key_id = {k['aws']}\naws_secret_access_key = {secret}\n",
        "azure.yaml": f"endpoint: https://contoso.openai.azure.com\nAZURE_OPENAI_API_KEY={k['azure']}\n",
        "pplx.env": f"PERPLEXITY_API_KEY={k['perplexity']}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    peer.status.update(
        {
            k["openai"]: 200,
            k["anthropic"]: 401,
            k["huggingface"]: 403,
            k["groq"]: 500,
            k["google"]: 400,
            k["deepgram"]: 200,
            k["wandb"]: 200,
            k["nvidia"]: 401,
            k["aws"]: 200,
            k["azure"]: 200,
        }
    )
    return Leak(k, secret)


def found(root: Path) -> list[Finding]:
    return list(scan([root], ScanConfig(jobs=1)).findings)


def by_provider(findings: list[Finding]) -> dict[str, Finding]:
    return {f.provider: f for f in findings}


def test_each_outcome_from_a_real_peer(tmp_path: Path, leak: Leak, peer: Peer, env: dict) -> None:
    result = verify_findings(found(tmp_path), rate=100)
    got = {p: f.verified for p, f in by_provider(result.findings).items()}
    assert got == {
        "openai": "live",
        "anthropic": "invalid",  # 401
        "huggingface": "invalid",  # 403
        "groq": "unknown",  # 500
        "replicate": "error",  # nothing listens
        "google": "invalid",  # Google says 400 API_KEY_INVALID, as its provider file declares
        "deepgram": "live",
        "wandb": "live",
        "nvidia": "invalid",
        "aws": "live",
        "azure-openai": "live",
        "perplexity": None,  # no read-only endpoint: not checked
    }
    for f in result.findings:
        if f.verified:
            assert datetime.fromisoformat(f.verified_at or "").tzinfo is not None
    assert result.sent == 11
    assert result.unchecked == {check("perplexity", "secret.perplexity.api-key").reason: 1}  # type: ignore[union-attr]

    paths = {s.path.split("/")[1]: s for s in peer.seen}
    assert paths["api.openai.com"].headers["Authorization"] == f"Bearer {leak.keys['openai']}"
    assert paths["api.anthropic.com"].headers["x-api-key"] == leak.keys["anthropic"]
    assert paths["api.anthropic.com"].headers["anthropic-version"] == "2023-06-01"
    assert f"key={leak.keys['google']}" in paths["generativelanguage.googleapis.com"].path
    assert paths["api.deepgram.com"].headers["Authorization"] == f"Token {leak.keys['deepgram']}"
    wandb = paths["api.wandb.ai"]
    assert (
        wandb.headers["Authorization"]
        == "Basic " + base64.b64encode(f"api:{leak.keys['wandb']}".encode()).decode()
    )
    assert json.loads(wandb.body) == {"query": "query { viewer { id } }"}
    assert paths["api.ngc.nvidia.com"].body == f"credentials={leak.keys['nvidia']}".encode()
    azure = paths["contoso.openai.azure.com"]
    assert azure.path.startswith("/contoso.openai.azure.com/openai/models?")
    assert azure.headers["api-key"] == leak.keys["azure"]
    sts = paths["sts.amazonaws.com"]
    assert sts.path == "/sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    auth = sts.headers["Authorization"]
    day = sts.headers["X-Amz-Date"][:8]
    assert auth.startswith(
        f"AWS4-HMAC-SHA256 Credential={leak.keys['aws']}/{day}/us-east-1/sts/aws4_request, "
    )
    for s in peer.seen:  # the AWS secret signs, it never travels; no request is a generation call
        assert leak.aws_secret not in s.path + json.dumps(s.headers) + s.body.decode()
        assert not any(w in s.path for w in ("completions", "messages", "generate", "embeddings"))
        assert s.headers["User-Agent"].startswith("ringbreaker/")


def test_sigv4_matches_the_aws_documentation_example() -> None:
    """The worked example of AWS's "Create a signed AWS API request" (IAM ListUsers), not our own."""
    h = sigv4(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"",
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "iam",
        datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
    )
    assert h["X-Amz-Date"] == "20150830T123600Z"
    assert h["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def test_unpaired_or_temporary_aws_keys_are_not_checked(tmp_path: Path, keygen: Callable) -> None:
    (tmp_path / "a.env").write_text(f"AWS_ACCESS_KEY_ID={keygen('AKIA{{b32:16}}')}\n")
    (tmp_path / "b.ini").write_text(
        f"aws_access_key_id = {keygen('ASIA{{b32:16}}')}\naws_secret_access_key = {keygen('{{b64:40}}')}\n"
    )
    reasons = sorted(str(plan(f, check(f.provider, f.rule))) for f in found(tmp_path))
    assert reasons == [
        "a temporary (ASIA) key cannot be checked without its session token",
        "its paired secret was not found near it",
    ]


def test_bedrock_short_term_key_is_checked_in_its_own_region(keygen: Callable) -> None:
    presigned = (
        "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential=ASIAEXAMPLE%2F20250701"
        "%2Feu-west-3%2Fbedrock%2Faws4_request&X-Amz-Date=20250701T000000Z"
    )
    key = "bedrock-api-key-" + base64.b64encode(presigned.encode()).decode()
    f = Finding(
        "i",
        "secret.aws-bedrock.short-term-key",
        "aws-bedrock",
        "t",
        "fp",
        "bedrock-…",
        9,
        "a",
        1,
        1,
        "high",
        secret=key,
    )  # type: ignore[arg-type]
    p = plan(f, check(f.provider, f.rule))
    assert not isinstance(p, str)
    assert p.url.startswith("https://bedrock.eu-west-3.amazonaws.com/foundation-models")


def test_no_request_without_verify(tmp_path: Path, leak: Leak, peer: Peer, env: dict) -> None:
    proc = rb("scan", str(tmp_path), "--format", "jsonl", "-q")
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 12
    assert all(r["verified"] is None and r["verified_at"] is None for r in rows)
    assert "contacting" not in proc.stderr
    assert peer.seen == []


def test_dry_run_sends_nothing_and_shows_no_key(tmp_path: Path, leak: Leak, peer: Peer, env: dict) -> None:
    proc = rb("scan", str(tmp_path), "--verify-dry-run", "--format", "jsonl")
    assert proc.returncode == 1
    assert peer.seen == []
    assert "verify dry run: 11 request(s), none sent" in proc.stderr
    assert "GET https://api.openai.com/v1/models" in proc.stderr
    assert "Authorization: Bearer <sk-proj-" in proc.stderr
    assert "POST https://api.wandb.ai/graphql" in proc.stderr
    assert "https://sts.amazonaws.com/?Action=GetCallerIdentity" in proc.stderr
    assert "key=<AIza" in proc.stderr
    for key in [*leak.keys.values(), leak.aws_secret]:
        assert key not in proc.stdout + proc.stderr
    assert all(json.loads(line)["verified"] is None for line in proc.stdout.splitlines())


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "sarif"])
def test_verify_prints_outcomes_never_the_key(
    tmp_path: Path, leak: Leak, peer: Peer, env: dict, fmt: str
) -> None:
    proc = rb("scan", str(tmp_path), "--verify", "--verify-rate", "100", "--format", fmt)
    assert proc.returncode == 1
    assert proc.stderr.count("verify: contacting providers") == 1
    assert "verify: 5 live, 4 invalid, 1 unknown, 1 error, 11 request(s) sent" in proc.stderr.replace(
        "\n", " "
    )
    for key in [*leak.keys.values(), leak.aws_secret]:
        assert key not in proc.stdout + proc.stderr
    if fmt == "table":
        assert "verified" in proc.stdout
        assert "live" in proc.stdout
        assert "invalid" in proc.stdout
    elif fmt == "sarif":
        results = json.loads(proc.stdout)["runs"][0]["results"]
        assert {r["properties"].get("verified") for r in results} == {
            "live",
            "invalid",
            "unknown",
            "error",
            None,
        }
    else:
        rows = (
            json.loads(proc.stdout)["findings"]
            if fmt == "json"
            else [json.loads(x) for x in proc.stdout.splitlines()]
        )
        assert {r["provider"]: r["verified"] for r in rows}["openai"] == "live"


def test_requests_to_one_host_are_spaced(tmp_path: Path, keygen: Callable, peer: Peer, env: dict) -> None:
    keys = [keygen(OPENAI) for _ in range(4)]
    for i, k in enumerate(keys):
        (tmp_path / f"{i}.env").write_text(f"OPENAI_API_KEY={k}\n")
        peer.status[k] = 200
    (tmp_path / "hf.env").write_text(f"HF_TOKEN={keygen(HF)}\n")
    result = verify_findings(found(tmp_path), rate=5)
    assert result.counts == {"live": 4, "invalid": 1}
    openai = [s.at for s in peer.seen if s.path.startswith("/api.openai.com/")]
    assert len(openai) == 4
    gaps = [b - a for a, b in itertools.pairwise(openai)]
    assert min(gaps) >= 0.18, gaps  # 1/5 s, less scheduling slack


def test_one_key_is_asked_once(tmp_path: Path, keygen: Callable, peer: Peer, env: dict) -> None:
    key = keygen(OPENAI)
    for i in range(3):
        (tmp_path / f"{i}.env").write_text(f"OPENAI_API_KEY={key}\n")
    peer.status[key] = 200
    result = verify_findings(found(tmp_path), rate=100)
    assert [f.verified for f in result.findings] == ["live"] * 3
    assert len(peer.seen) == 1


def test_the_workspace_caches_answers(tmp_path: Path, leak: Leak, peer: Peer, env: dict) -> None:
    ws = tmp_path.parent / f"{tmp_path.name}-ws.duckdb"
    args = (
        "scan",
        str(tmp_path),
        "--verify",
        "--verify-rate",
        "100",
        "--workspace",
        str(ws),
        "--format",
        "jsonl",
    )
    first = rb(*args)
    assert first.returncode == 1, first.stderr
    sent = len(peer.seen)
    assert sent == 10  # 11 sent, one to the closed port (replicate)
    second = rb(*args)
    # live and invalid answers come from the cache; unknown (500) and error are asked again
    assert len(peer.seen) == sent + 1  # groq's 500 again (replicate's error too, on the closed port)
    assert "2 request(s) sent, 9 from the workspace cache" in second.stderr
    before = {json.loads(x)["fingerprint"]: json.loads(x) for x in first.stdout.splitlines()}
    after = {json.loads(x)["fingerprint"]: json.loads(x) for x in second.stdout.splitlines()}
    for fp, row in after.items():
        assert row["verified"] == before[fp]["verified"]
        if row["verified"] in ("live", "invalid"):
            assert row["verified_at"] == before[fp]["verified_at"]  # when the provider answered
    con = duckdb.connect(str(ws), read_only=True)
    rows = con.execute("SELECT fingerprint, verified, endpoint FROM verifications").fetchall()
    con.close()
    assert len(rows) == 9
    assert all(v in ("live", "invalid") for _, v, _ in rows)
    for key in [*leak.keys.values(), leak.aws_secret]:
        assert key not in ws.read_bytes().decode("latin-1")
    third = rb(*args, "--verify-max-age", "0")
    assert len(peer.seen) == sent + 1 + 10
    assert "0 from the workspace cache" in third.stderr


def test_the_hosts_hook_takes_plain_http_only_for_loopback() -> None:
    assert host_overrides({HOSTS_ENV: '{"api.openai.com": "http://127.0.0.1:9/"}'}) == {
        "api.openai.com": "http://127.0.0.1:9"
    }
    assert host_overrides({HOSTS_ENV: '{"api.openai.com": "https://mirror.example"}'})
    for bad in ('{"api.openai.com": "http://10.0.0.1:80"}', '{"a": "ftp://127.0.0.1"}', "[1]", "nope"):
        with pytest.raises(UsageError):
            host_overrides({HOSTS_ENV: bad})


def test_a_refused_hook_is_a_usage_error(tmp_path: Path, leak: Leak, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOSTS_ENV, '{"api.openai.com": "http://localhost:1"}')
    proc = rb("scan", str(tmp_path), "--verify", "-q")
    assert proc.returncode == 2
    assert "plain http is allowed only for 127.0.0.1" in proc.stderr
