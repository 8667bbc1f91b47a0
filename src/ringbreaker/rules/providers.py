"""Provider data: what the owner of a leaked key does next, and how ``scan --verify`` checks it.

One YAML file per provider under ``builtin/providers/`` (the file name is the ``provider`` of the
secret rules it serves, so every rule points at its file through the field it already has). Each
holds the owner's remediation (where to revoke, how to rotate, what to look for in the usage logs)
and one declarative liveness check against a read-only, non-billable endpoint (list models,
whoami), or ``verify: {none: <reason>}`` where no such endpoint exists. A ``rules:`` map overrides
either part for one rule id. Checks are data so that a reviewer can see every request ringbreaker
could ever send, in one place; ``schema/provider.schema.json`` is their shape (held by the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ringbreaker.errors import RuleError
from ringbreaker.rules.loader import builtin_dir, load_yaml

AUTH_SCHEMES = ("bearer", "header", "query", "basic", "form", "aws-sigv4")


@dataclass(frozen=True)
class Check:
    """One liveness request. ``url`` may hold ``{resource}`` (the finding's resource) and
    ``{region}``; ``auth`` says where the key goes: ``bearer`` (Authorization: Bearer), ``header``
    (header ``param``, value ``prefix`` + key), ``query`` (parameter ``param``), ``basic`` (user
    ``param``, password the key), ``form`` (form field ``param`` of a POST body) or ``aws-sigv4``
    (the access key id and its paired secret sign the request). Statuses in ``live`` mean the key
    works, in ``invalid`` that it was rejected; anything else is ``unknown``."""

    method: str
    url: str
    auth: str
    param: str = ""
    prefix: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    content_type: str | None = None
    live: tuple[int, ...] = (200, 201, 202, 203, 204, 206)
    invalid: tuple[int, ...] = (401, 403)
    region: str = "us-east-1"
    service: str = ""
    needs: str = ""  # "resource" or "companion": the finding must carry it


@dataclass(frozen=True)
class NoCheck:
    """Why a key of this rule is not checked (no read-only endpoint, or it would need more)."""

    reason: str


@dataclass(frozen=True)
class Remediation:
    """The owner's next steps: ``revoke`` (where and how), ``rotate``, ``logs`` (what to check in
    the usage logs), ``console`` (the page that lists the keys)."""

    revoke: str
    rotate: str
    logs: str
    console: str

    def to_dict(self) -> dict[str, str]:
        return {"console": self.console, "revoke": self.revoke, "rotate": self.rotate, "logs": self.logs}


GENERIC = Remediation(
    revoke="Revoke (delete) the key in the provider's console; removing it from the code does not.",
    rotate="Create a new key, deploy it from a secret store, then revoke the leaked one.",
    logs="Check the provider's usage and billing since the leak time for calls you did not make.",
    console="",
)


@dataclass(frozen=True)
class Provider:
    """A provider file, with its per-rule overrides resolved by ``check_for``/``remediation_for``."""

    id: str
    name: str
    remediation: Remediation
    verify: Check | NoCheck
    overrides: Mapping[str, Mapping[str, Any]]
    source: str

    def check_for(self, rule: str) -> Check | NoCheck:
        over = self.overrides.get(rule, {}).get("verify")
        if over is None:
            return self.verify
        return _verify(over, self.verify if isinstance(self.verify, Check) else None)

    def remediation_for(self, rule: str) -> Remediation:
        over = self.overrides.get(rule, {}).get("remediation")
        return _remediation(over, self.remediation) if over else self.remediation


def _verify(raw: Mapping[str, Any], base: Check | None) -> Check | NoCheck:
    if "none" in raw:
        return NoCheck(str(raw["none"]))
    d: dict[str, Any] = dict(base.__dict__) if base else {}
    for k, v in raw.items():
        d[k] = tuple(v) if k in ("live", "invalid") else v
    d["method"] = str(d.get("method", "GET")).upper()
    if d.get("auth") not in AUTH_SCHEMES:
        raise RuleError(f"verify.auth must be one of {', '.join(AUTH_SCHEMES)}, not {d.get('auth')!r}")
    return Check(**d)


def _remediation(raw: Mapping[str, Any], base: Remediation | None = None) -> Remediation:
    d = dict(base.__dict__) if base else {}
    d.update({k: str(v).strip() for k, v in raw.items()})
    return Remediation(**d)


def _provider(path: Path) -> Provider:
    raw = load_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise RuleError("a provider file is a YAML mapping", source=str(path))
    try:
        return Provider(
            id=raw["provider"],
            name=raw["name"],
            remediation=_remediation(raw["remediation"]),
            verify=_verify(raw["verify"], None),
            overrides=raw.get("rules") or {},
            source=str(path),
        )
    except (KeyError, TypeError) as e:
        raise RuleError(f"bad provider file: {e!r}", source=str(path)) from e


@cache
def load_providers() -> dict[str, Provider]:
    """Every built-in provider file, by provider id (read once per process)."""
    out: dict[str, Provider] = {}
    for path in sorted(builtin_dir("providers").glob("*.yaml")):
        p = _provider(path)
        if p.id != path.stem:
            raise RuleError(f"provider {p.id!r} must be in {p.id}.yaml", source=str(path))
        out[p.id] = p
    return out


def remediation(provider: str, rule: str) -> Remediation:
    """The owner's next steps for a finding of ``rule`` (a rule without a provider file, e.g. from
    ``--rules``, gets the generic steps)."""
    p = load_providers().get(provider)
    return p.remediation_for(rule) if p else GENERIC


def check(provider: str, rule: str) -> Check | NoCheck:
    """The liveness check for ``rule``, or why there is none."""
    p = load_providers().get(provider)
    return p.check_for(rule) if p else NoCheck(f"no provider file for {provider!r}")
