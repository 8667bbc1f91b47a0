"""AI/ML credential formats written from the providers' documentation, for an independent recall test.

Why apart from ringbreaker's rules: ``bench/scan.py`` plants the rules' own positive examples, so
its recall is 100% by construction. The formats here were written from the providers' documents
and from public descriptions of each format (the ``source`` of every entry), without reading
ringbreaker's rule files; where no document gives the length or alphabet, ``basis`` says what was
assumed. Each entry generates fresh random fake keys from a ``random.Random`` (never a real key)
and names the contexts a key appears in: named ones (the provider's environment variable, client
class, config section) and unnamed ones (``API_KEY=...``) that show what a context-gated rule misses.

Nothing here imports the benchmark harness, so ``python bench/scan_formats.py`` runs a self-check:
every generator's keys match the documented shape (``shape``) and every context holds the key.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

ALNUM: str = string.ascii_letters + string.digits
LOWER_ALNUM: str = string.ascii_lowercase + string.digits
UPPER_ALNUM: str = string.ascii_uppercase + string.digits
HEX: str = "0123456789abcdef"
B64: str = ALNUM + "+/"
B64URL: str = ALNUM + "-_"
BASE32: str = string.ascii_uppercase + "234567"

Values = dict[str, str]
Maker = Callable[[random.Random], Values]


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url_json(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def simple(prefix: str, *parts: tuple[str, int], sep: str = "") -> Maker:
    """A key made of ``prefix`` and random runs of (alphabet, length) joined by ``sep``."""

    def make(rng: random.Random) -> Values:
        return {"key": prefix + sep.join(rand(rng, a, n) for a, n in parts)}

    return make


def with_marker(prefix: str, alphabet: str, half: int, marker: str) -> Maker:
    """OpenAI-style keys: two random halves around a fixed marker."""

    def make(rng: random.Random) -> Values:
        return {"key": f"{prefix}{rand(rng, alphabet, half)}{marker}{rand(rng, alphabet, half)}"}

    return make


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------------------------------
# Contexts: where a key is written
# --------------------------------------------------------------------------------------------------

ENV_EXTS = (".txt", ".md", ".rst", ".cfg", ".ini", ".sh")
SHELL_EXTS = (".sh", ".md", ".rst", ".txt")
PY_EXTS = (".py",)
JS_EXTS = (".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx")
JSON_EXTS = (".json",)
YAML_EXTS = (".yaml", ".yml", ".md")
TOML_EXTS = (".toml", ".cfg", ".ini", ".md")
HTML_EXTS = (".html", ".md", ".txt", ".js", ".py")
NO_URL = "https://api.example.invalid/v1"


@dataclass(frozen=True)
class Context:
    """Lines (``string.Template``s; exactly one holds ``${key}``) and the file types they fit."""

    name: str
    named: bool  # does the text name the provider (variable, client, section, host)?
    lines: tuple[str, ...]
    exts: tuple[str, ...]

    def render(self, values: Values) -> tuple[list[str], int]:
        """The snippet's lines and the index of the line that holds the key."""
        lines = [string.Template(t).safe_substitute(values) for t in self.lines]
        at = [i for i, t in enumerate(self.lines) if "${key}" in t]
        assert len(at) == 1, f"context {self.name} must hold the key on exactly one line"
        return lines, at[0]


UNNAMED = (
    Context("unnamed-dotenv", False, ("API_KEY=${key}",), ENV_EXTS),
    Context("unnamed-python", False, ('api_key = "${key}"',), PY_EXTS),
    Context("unnamed-json", False, ('  "token": "${key}",',), JSON_EXTS),
    Context(
        "unnamed-curl",
        False,
        ('curl https://llm-gateway.internal.example/v1/chat/completions -H "Authorization: Bearer ${key}"',),
        SHELL_EXTS,
    ),
    Context("unnamed-headers", False, ('headers = {"Authorization": "Bearer ${key}"}',), PY_EXTS),
)


@dataclass(frozen=True)
class Format:
    """One credential format: how to generate it and how people write it down."""

    id: str
    provider: str  # as ringbreaker's findings spell it; "" where ringbreaker has no rule for it
    title: str
    source: str  # where the format is described
    basis: str  # what the source says and what was assumed
    make: Maker
    shape: str  # regex of the documented shape, checked against every generated key
    env: str  # the environment variable the provider's SDK or docs use
    py: str = ""  # one line of Python client code holding ${key}
    js: str = ""  # one line of JS/TS client code holding ${key}
    url: str = NO_URL  # an API URL of the provider, for curl and query strings
    header: str = "Authorization: Bearer "
    query: str = "api_key"
    section: str = ""
    contexts: tuple[Context, ...] = ()  # replaces the standard contexts (paired credentials)
    extra: tuple[Context, ...] = field(default=())  # added to the standard contexts
    py_import: str = ""  # an import line above ``py``, where only the import names the provider

    def all_contexts(self) -> tuple[Context, ...]:
        return self.contexts or (*standard_contexts(self), *self.extra, *UNNAMED)


def standard_contexts(f: Format) -> tuple[Context, ...]:
    """The named contexts every single-value key gets, built from the format's names."""
    h, _, hp = f.header.partition(": ")
    sec = f.section or f.provider or f.id.split("-")[0]
    py = f.py or f'os.environ["{f.env}"] = "${{key}}"'
    js = f.js or f'const apiKey = process.env.{f.env} ?? "${{key}}";'
    return (
        Context("dotenv", True, (f"{f.env}=${{key}}",), ENV_EXTS),
        Context("shell-export", True, (f'export {f.env}="${{key}}"',), SHELL_EXTS),
        Context("python-client", True, (f.py_import, py) if f.py_import else (py,), PY_EXTS),
        Context("js-client", True, (js,), JS_EXTS),
        Context(
            "json-config", True, ("{", f'  "{sec}": {{', '    "api_key": "${key}"', "  }", "}"), JSON_EXTS
        ),
        Context("yaml-config", True, (f"{sec}:", "  api_key: ${key}"), YAML_EXTS),
        Context("toml-config", True, (f"[{sec}]", 'api_key = "${key}"'), TOML_EXTS),
        Context("notebook-cell", True, (f'    "os.environ[\\"{f.env}\\"] = \\"${{key}}\\"\\n",',), JSON_EXTS),
        Context("curl-header", True, (f"curl {f.url} \\", f'  -H "{h}: {hp}${{key}}"'), SHELL_EXTS),
        Context("docker-compose", True, ("    environment:", f"      - {f.env}=${{key}}"), YAML_EXTS),
        Context("url-query", True, (f'resp = requests.get("{f.url}?{f.query}=${{key}}")',), HTML_EXTS),
    )


def pair_contexts(
    env_id: str, env_secret: str, py: tuple[str, ...], js: tuple[str, ...]
) -> tuple[Context, ...]:
    """Contexts for an (id, secret) pair; the scored value is the secret (``${key}``)."""
    return (
        Context("dotenv", True, (f"{env_id}=${{kid}}", f"{env_secret}=${{key}}"), ENV_EXTS),
        Context(
            "shell-export",
            True,
            (f'export {env_id}="${{kid}}"', f'export {env_secret}="${{key}}"'),
            SHELL_EXTS,
        ),
        Context("python-client", True, py, PY_EXTS),
        Context("js-client", True, js, JS_EXTS),
        Context(
            "docker-compose",
            True,
            ("    environment:", f"      - {env_id}=${{kid}}", f"      - {env_secret}=${{key}}"),
            YAML_EXTS,
        ),
        Context("unnamed-python", False, ('secret = "${key}"',), PY_EXTS),
        Context("unnamed-pair", False, ('creds = ("${kid}", "${key}")',), PY_EXTS),
        Context("unnamed-dotenv", False, ("SECRET_KEY=${key}",), ENV_EXTS),
    )


# --------------------------------------------------------------------------------------------------
# Composite formats
# --------------------------------------------------------------------------------------------------


def aws_pair(rng: random.Random) -> Values:
    return {"key": rand(rng, B64, 40), "kid": "AKIA" + rand(rng, BASE32, 16)}


def aws_key_id(prefix: str) -> Maker:
    return lambda rng: {"key": prefix + rand(rng, BASE32, 16)}


def bedrock_long_term(rng: random.Random) -> Values:
    inner = (
        f"BedrockAPIKey-{rand(rng, LOWER_ALNUM, 4)}-at-{rand(rng, string.digits, 12)}:{rand(rng, B64, 40)}"
    )
    return {"key": "ABSK" + base64.b64encode(inner.encode()).decode()}


def bedrock_short_term(rng: random.Random) -> Values:
    cred = f"ASIA{rand(rng, BASE32, 16)}%2F20260101%2Fus-east-1%2Fbedrock%2Faws4_request"
    url = (
        "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={cred}&X-Amz-Date=20260101T000000Z&X-Amz-Expires=43200"
        f"&X-Amz-Security-Token={rand(rng, B64, 300)}&X-Amz-Signature={rand(rng, HEX, 64)}"
        "&X-Amz-SignedHeaders=host&Version=1"
    )
    return {"key": "bedrock-api-key-" + base64.b64encode(url.encode()).decode()}


def azure_openai(rng: random.Random) -> Values:
    name = rng.choice(["contoso", "acme-ai", "research-east", "prod-oai"]) + "-" + rand(rng, LOWER_ALNUM, 4)
    return {"key": rand(rng, HEX, 32), "endpoint": f"https://{name}.openai.azure.com/"}


PKCS8_RSA_2048_HEADS = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ",
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQ",
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQ",
)


def gcp_service_account(rng: random.Random) -> Values:
    # PKCS#8 DER of a 2048-bit RSA key always opens the same way (RFC 5208); the rest is random here.
    der = rng.choice(PKCS8_RSA_2048_HEADS)
    body = der + rand(rng, B64, 1624 - len(der))
    pem = "-----BEGIN PRIVATE KEY-----\\n" + "\\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    project = rand(rng, string.ascii_lowercase, 8) + "-" + rand(rng, string.digits, 6)
    return {
        "key": pem + "\\n-----END PRIVATE KEY-----\\n",
        "kid": rand(rng, HEX, 40),
        "project": project,
        "email": f"svc-{rand(rng, LOWER_ALNUM, 6)}@{project}.iam.gserviceaccount.com",
        "client": rand(rng, string.digits, 21),
    }


def langfuse(rng: random.Random) -> Values:
    return {"key": "sk-lf-" + uuid4(rng), "kid": "pk-lf-" + uuid4(rng)}


def fal_key(rng: random.Random) -> Values:
    return {"key": f"{uuid4(rng)}:{rand(rng, HEX, 32)}"}


def minimax_jwt(rng: random.Random) -> Values:
    header = b64url_json({"alg": "RS256", "sign_type": "SIGN"})
    payload = b64url_json(
        {
            "GroupName": rand(rng, string.ascii_letters, 8),
            "UserName": rand(rng, string.ascii_letters, 8),
            "GroupID": rand(rng, string.digits, 19),
            "Mail": f"{rand(rng, string.ascii_lowercase, 6)}@example.com",
            "CreateTime": "2026-01-01 00:00:00",
            "TokenType": 1,
            "iss": "minimax",
        }
    )
    return {"key": f"{header}.{payload}.{rand(rng, B64URL, 342)}"}


def modal_pair(rng: random.Random) -> Values:
    return {"key": "as-" + rand(rng, ALNUM, 22), "kid": "ak-" + rand(rng, ALNUM, 22)}


GCP_CONTEXTS: tuple[Context, ...] = (
    Context(
        "json-key-file",
        True,
        (
            "{",
            '  "type": "service_account",',
            '  "project_id": "${project}",',
            '  "private_key_id": "${kid}",',
            '  "private_key": "${key}",',
            '  "client_email": "${email}",',
            '  "client_id": "${client}",',
            '  "token_uri": "https://oauth2.googleapis.com/token"',
            "}",
        ),
        JSON_EXTS,
    ),
    Context(
        "python-dict",
        True,
        (
            "SERVICE_ACCOUNT_INFO = {",
            '    "type": "service_account",',
            '    "project_id": "${project}",',
            '    "private_key": "${key}",',
            '    "client_email": "${email}",',
            "}",
        ),
        PY_EXTS,
    ),
    Context(
        "dotenv-one-line",
        True,
        (
            'GOOGLE_CREDENTIALS_JSON=\'{"type": "service_account", "private_key": "${key}", '
            '"client_email": "${email}"}\'',
        ),
        ENV_EXTS,
    ),
    Context("unnamed-private-key", False, ('  "private_key": "${key}",',), JSON_EXTS),
)

AZURE_CONTEXTS: tuple[Context, ...] = (
    Context("dotenv", True, ("AZURE_OPENAI_ENDPOINT=${endpoint}", "AZURE_OPENAI_API_KEY=${key}"), ENV_EXTS),
    Context(
        "python-client",
        True,
        (
            "client = AzureOpenAI(",
            '    azure_endpoint="${endpoint}",',
            '    api_key="${key}",',
            '    api_version="2024-10-21",',
            ")",
        ),
        PY_EXTS,
    ),
    Context(
        "js-client",
        True,
        (
            'const client = new AzureOpenAI({ endpoint: "${endpoint}", apiKey: "${key}", '
            'apiVersion: "2024-10-21" });',
        ),
        JS_EXTS,
    ),
    Context(
        "curl-header",
        True,
        (
            'curl "${endpoint}openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" \\',
            '  -H "api-key: ${key}"',
        ),
        SHELL_EXTS,
    ),
    Context(
        "yaml-config", True, ("azure_openai:", "  endpoint: ${endpoint}", "  api_key: ${key}"), YAML_EXTS
    ),
    Context(
        "json-config", True, ("{", '  "endpoint": "${endpoint}",', '  "apiKey": "${key}"', "}"), JSON_EXTS
    ),
    Context("unnamed-dotenv", False, ("API_KEY=${key}",), ENV_EXTS),
    Context("unnamed-python", False, ('api_key = "${key}"',), PY_EXTS),
)

AWS_CONTEXTS: tuple[Context, ...] = (
    *pair_contexts(
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        (
            "client = boto3.client(",
            '    "bedrock-runtime",',
            '    aws_access_key_id="${kid}",',
            '    aws_secret_access_key="${key}",',
            ")",
        ),
        (
            "const s3 = new S3Client({",
            '  credentials: { accessKeyId: "${kid}", secretAccessKey: "${key}" },',
            "});",
        ),
    ),
    Context(
        "credentials-file",
        True,
        ("[default]", "aws_access_key_id = ${kid}", "aws_secret_access_key = ${key}"),
        (".cfg", ".ini", ".txt"),
    ),
    Context(
        "sts-json", True, ("{", '  "AccessKeyId": "${kid}",', '  "SecretAccessKey": "${key}"', "}"), JSON_EXTS
    ),
)

LANGFUSE_CONTEXTS: tuple[Context, ...] = (
    *pair_contexts(
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        ('langfuse = Langfuse(public_key="${kid}", secret_key="${key}", host="https://cloud.langfuse.com")',),
        ('const langfuse = new Langfuse({ publicKey: "${kid}", secretKey: "${key}" });',),
    ),
    Context("unnamed-secret-alone", False, ('secret_key = "${key}"',), PY_EXTS),
)

MODAL_CONTEXTS: tuple[Context, ...] = (
    *pair_contexts(
        "MODAL_TOKEN_ID",
        "MODAL_TOKEN_SECRET",
        ('modal.config.token_secret = "${key}"',),
        ('const tokenSecret = "${key}";',),
    ),
    Context("modal-toml", True, ("[default]", 'token_id = "${kid}"', 'token_secret = "${key}"'), TOML_EXTS),
)

NETRC: Context = Context(
    "netrc", True, ("machine api.wandb.ai", "  login user", "  password ${key}"), ENV_EXTS
)


# --------------------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------------------


def self_check(formats: tuple[Format, ...], seed: int = 1) -> list[str]:
    """Problems with the table: keys off their documented shape, contexts that lose the key."""
    problems = []
    rng = random.Random(seed)
    ids = [f.id for f in formats]
    if len(set(ids)) != len(ids):
        problems.append("duplicate format ids")
    for f in formats:
        shape = re.compile(f.shape)
        for _ in range(20):
            values = f.make(rng)
            if not shape.fullmatch(values["key"]):
                problems.append(f"{f.id}: generated key does not match its shape {f.shape}")
                break
            for ctx in f.all_contexts():
                lines, at = ctx.render(values)
                if values["key"] not in lines[at] or any("${" in line for line in lines):
                    problems.append(f"{f.id}/{ctx.name}: the key is not on its line or a placeholder is left")
        if not f.contexts and f.url == NO_URL:
            problems.append(
                f"{f.id}: no API URL, so its curl and query-string contexts would not name the provider"
            )
        if not any(c.named for c in f.all_contexts()) or not any(not c.named for c in f.all_contexts()):
            problems.append(f"{f.id}: needs both named and unnamed contexts")
    return problems


if __name__ == "__main__":
    from scan_formats_table import FORMATS

    found = self_check(FORMATS)
    for p in found:
        print(p, file=sys.stderr)
    n_ctx = sum(len(f.all_contexts()) for f in FORMATS)
    print(
        f"{len(FORMATS)} formats, {len({f.provider for f in FORMATS})} providers, {n_ctx} contexts: "
        f"{'OK' if not found else f'{len(found)} problems'}"
    )
    sys.exit(1 if found else 0)
