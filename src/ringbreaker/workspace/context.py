"""The owner's context file: what the logs cannot say, kept in the workspace.

A seasoned analyst knows which egress address is the office, that the Terraform role turns logging
on every week and that the dev and prod accounts belong to one company. Without that, every rule
must guess; with it, severity says who and where. The file (YAML or JSON, schema in
``context.schema.json``) is loaded with ``ringbreaker context FILE`` or ``detect --context FILE`` and
stored in the ``context_*`` tables (migration 9), replacing what was there in one transaction, so a
later ``detect`` uses it without the file.

Example::

    networks:
      - {cidr: 203.0.113.0/24, kind: office, name: HQ egress}
      - {cidr: 198.51.100.7, kind: ci}
    principals:
      - {match: "arn:aws:iam::*:role/terraform-*", kind: iac}
    accounts:
      - {id: "111122223333", owner: acme}
      - {id: "444455556666", owner: acme}
    models:
      - {principal: "arn:aws:iam::111122223333:role/app-*", models: ["anthropic.claude-3-haiku*"]}
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import InputError

if TYPE_CHECKING:
    import duckdb

__all__ = ["TABLES", "Context", "load_context", "parse_context", "read_context", "store_context"]

NETWORK_KINDS = ("office", "ci", "vpn", "datacenter", "partner")
PRINCIPAL_KINDS = ("iac", "admin", "service", "ci")


@dataclass(frozen=True)
class Context:
    """The stored context, as plain rows (the shape of the four tables)."""

    networks: tuple[tuple[str, str, str | None], ...] = ()  # (cidr, kind, name)
    principals: tuple[tuple[str, str, str | None], ...] = ()  # (pattern, kind, name)
    accounts: tuple[tuple[str, str], ...] = ()  # (account, owner)
    models: tuple[tuple[str, str], ...] = ()  # (principal pattern, model pattern)
    source: str | None = field(default=None, compare=False)

    def is_empty(self) -> bool:
        return not (self.networks or self.principals or self.accounts or self.models)

    def to_document(self) -> dict[str, Any]:
        """The context as a context file would say it (for ``ringbreaker context`` without FILE)."""
        models: dict[str, list[str]] = {}
        for p, m in self.models:
            models.setdefault(p, []).append(m)
        return {
            "version": 1,
            "networks": [{"cidr": c, "kind": k, **({"name": n} if n else {})} for c, k, n in self.networks],
            "principals": [
                {"match": p, "kind": k, **({"name": n} if n else {})} for p, k, n in self.principals
            ],
            "accounts": [{"id": a, "owner": o} for a, o in self.accounts],
            "models": [{"principal": p, "models": ms} for p, ms in models.items()],
        }


def _schema() -> dict[str, Any]:
    text = (
        resources.files("ringbreaker.workspace").joinpath("context.schema.json").read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


def load_context(path: Path) -> Context:
    """Read and validate a context file; raise InputError naming the file and every bad entry."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read context file: {e.strerror or e}", source=str(path)) from e
    except UnicodeDecodeError as e:
        raise InputError(f"context file is not UTF-8 text: {e.reason}", source=str(path)) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}", source=str(path), line=line
        ) from e
    return parse_context({} if raw is None else raw, str(path))


def parse_context(raw: Any, source: str) -> Context:
    """Validate a context document (a context file's parsed YAML); InputError lists every problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    problems = [
        f"{'/'.join(map(str, e.path)) or '<file>'}: {e.message}"
        for e in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.path)))
    ]
    networks = []
    listed = raw.get("networks") if isinstance(raw, dict) else None
    for i, n in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(n, dict) or not isinstance(n.get("cidr"), str):
            continue  # the schema check has said what is wrong with it
        try:
            net = ipaddress.ip_network(n["cidr"].strip(), strict=False)
        except ValueError as e:
            problems.append(f"networks/{i}/cidr: {e}")
            continue
        networks.append((str(net), n["kind"], n.get("name")))
    if problems:
        raise InputError("invalid context file:\n  - " + "\n  - ".join(problems), source=source)
    return Context(
        networks=tuple(networks),
        principals=tuple((p["match"], p["kind"], p.get("name")) for p in raw.get("principals", [])),
        accounts=tuple((str(a["id"]), a["owner"]) for a in raw.get("accounts", [])),
        models=tuple((m["principal"], model) for m in raw.get("models", []) for model in m["models"]),
        source=source,
    )


TABLES = {  # table -> its columns, in the order migration 9 creates them
    "context_networks": ("cidr", "kind", "name"),
    "context_principals": ("pattern", "kind", "name"),
    "context_accounts": ("account", "owner"),
    "context_models": ("pattern", "model"),
}


def store_context(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """Replace the stored context with ``ctx`` in one transaction."""
    rows = {
        "context_networks": ctx.networks,
        "context_principals": ctx.principals,
        "context_accounts": ctx.accounts,
        "context_models": ctx.models,
    }
    con.execute("BEGIN TRANSACTION")
    try:
        for table, cols in TABLES.items():
            con.execute(f"DELETE FROM {table}")
            if rows[table]:
                marks = ", ".join("?" * len(cols))
                con.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", list(rows[table])
                )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_context(con: duckdb.DuckDBPyConnection) -> Context:
    """The context stored in the workspace (empty when none was loaded)."""
    got = {
        table: tuple(con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid").fetchall())
        for table, cols in TABLES.items()
    }
    return Context(
        networks=got["context_networks"],
        principals=got["context_principals"],
        accounts=got["context_accounts"],
        models=got["context_models"],
    )
