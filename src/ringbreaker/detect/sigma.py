"""Sigma rules for CloudTrail and the Azure Activity Log, converted into ringbreaker detection rules.

pySigma parses the rule; the SQLite backend (its SQL also runs on DuckDB) writes the condition, with
three changes for DuckDB: LIKE becomes ILIKE and equality gets COLLATE NOCASE (Sigma matches case-
insensitively), and regular expressions use regexp_matches. The format's own field map
(``ringbreaker.ingest.FORMATS``) names the events column for each Sigma field (eventName ->
operation, ...); any other field is read from the original record, ``raw->>'$.path'``. What cannot
be converted is reported, never guessed: other log sources, keyword (full-text) searches,
correlation rules, fields the mapping cannot express.

Each converted rule gets two embedded tests built from its own detection: an event that satisfies
the first positive selection (values with wildcards filled in) and the same event with those values
changed, which must stay quiet. The importer runs both; a rule whose synthesised example does not
fire is reported so its author can write real examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ringbreaker.errors import InputError
from ringbreaker.ingest import FORMATS
from ringbreaker.model import ALERT_SEVERITIES, Severity

# Which formats Sigma rules can target, and their field maps: from the format registry, where each
# format declares its Sigma logsource, its field map (source path -> events column) and aliases.
LOGSOURCES = {fmt.sigma: fmt.name for fmt in FORMATS.values() if fmt.sigma is not None}
# Sigma level -> alert severity: the same scale, with ``informational`` spelled out. Plain text values
# (``.value``), for the YAML dumper represents only plain strings.
LEVELS = {("informational" if s is Severity.INFO else s.value): s.value for s in ALERT_SEVERITIES}
TACTICS = {
    "reconnaissance": "TA0043",
    "resource-development": "TA0042",
    "initial-access": "TA0001",
    "execution": "TA0002",
    "persistence": "TA0003",
    "privilege-escalation": "TA0004",
    "defense-evasion": "TA0005",
    "credential-access": "TA0006",
    "discovery": "TA0007",
    "lateral-movement": "TA0008",
    "collection": "TA0009",
    "command-and-control": "TA0011",
    "exfiltration": "TA0010",
    "impact": "TA0040",
}
_RAW = "rbraw__"  # placeholder identifier prefix for raw-record paths, replaced after conversion
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class Converted:
    """One Sigma rule's outcome: the ringbreaker rule (as YAML data) or why it could not be converted."""

    sigma_id: str
    title: str
    source: str
    rule: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def _backend() -> Any:
    """The SQLite backend adjusted for DuckDB (case-insensitive LIKE, regexp_matches, boolean COALESCE)."""
    from sigma.backends.sqlite.sqlite import sqliteBackend

    class DuckDBishBackend(sqliteBackend):
        wildcard_match_expression = "{field} ILIKE '{value}' ESCAPE '\\'"
        contains_expression = "{field} ILIKE '%{value}%' ESCAPE '\\'"
        re_expression = "regexp_matches({field}, '{regex}')"
        null_safe_expression = "COALESCE({expr}, false)"

    return DuckDBishBackend


def _mapping(fmt: str, fields: set[str]) -> tuple[dict[str, str], list[str]]:
    """Sigma field -> events column or raw placeholder; problems for fields no path can express."""
    out: dict[str, str] = {}
    problems = []
    known, aliases = FORMATS[fmt].fields, FORMATS[fmt].aliases
    for f in sorted(fields):
        path = aliases.get(f, f)
        if path in known:
            out[f] = known[path]
        elif _FIELD.match(f):
            out[f] = _RAW + f.replace(".", "__")
        else:
            problems.append(f"field {f!r} has no events column and is not a JSON path")
    return out, problems


def _raw_sql(sql: str) -> str:
    return re.sub(
        _RAW + r"([A-Za-z0-9_]+)", lambda m: "(raw->>'$." + m.group(1).replace("__", ".") + "')", sql
    )


def _mitre(tags: list[Any]) -> list[str]:
    ids = []
    for t in tags:
        if t.namespace != "attack":
            continue
        name = t.name.lower().replace("_", "-")
        if re.fullmatch(r"t\d{4}(\.\d{3})?", name):
            ids.append(name.upper())
        elif name in TACTICS:
            ids.append(TACTICS[name])
    return ids


def _first_positive(condition: str, names: list[str]) -> str | None:
    """The first search identifier the condition uses without `not` (patterns like selection*)."""
    tokens = re.findall(r"[A-Za-z0-9_*]+|[()]", condition)
    negated = False
    for tok in tokens:
        low = tok.lower()
        if low == "not":
            negated = True
            continue
        if low in ("and", "or", "of", "1", "all", "them", "(", ")"):
            if low in ("and", "or"):
                negated = False
            continue
        pattern = re.compile("^" + re.escape(tok).replace(r"\*", ".*") + "$")
        hit = next((n for n in names if pattern.match(n)), None)
        if hit and not negated:
            return hit
        negated = False
    return None


def _example_value(item: Any) -> str | None:
    from sigma.types import SigmaNumber, SigmaString

    values = item.value
    if not values:
        return None
    v = values[0]
    if isinstance(v, SigmaNumber):
        return str(v)
    if isinstance(v, SigmaString):
        text = "".join(p if isinstance(p, str) else "X" for p in v.s)
        return text
    return None


def _set_path(record: dict[str, Any], path: str, value: str) -> None:
    parts = path.split(".")
    cur = record
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value


def _examples(rule: Any, fmt: str, mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A positive and a negative events row built from the rule's first positive selection."""
    names = list(rule.detection.detections)
    chosen = _first_positive(" ".join(rule.detection.condition), names)
    if chosen is None:
        return None
    det = rule.detection.detections[chosen]
    items = det.detection_items
    while items and hasattr(items[0], "detection_items"):  # list of maps: take the first map
        items = items[0].detection_items
    pos: dict[str, Any] = {"time": "2025-01-01T00:00:00Z", "operation": "Unknown", "source_format": fmt}
    neg: dict[str, Any] = dict(pos)
    raw_pos: dict[str, Any] = {}
    raw_neg: dict[str, Any] = {}
    for item in items:
        if item.field is None:
            return None
        value = _example_value(item)
        if value is None:
            return None
        col = mapping.get(item.field)
        if col is None:
            return None
        if col.startswith(_RAW):
            _set_path(raw_pos, item.field, value)
            _set_path(raw_neg, item.field, "ringbreaker-negative")
        else:
            pos[col] = value
            neg[col] = "ringbreaker-negative"
    pos["raw"], neg["raw"] = raw_pos, raw_neg
    return pos, neg


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:60].strip("-") or "rule"


def convert_rule(rule: Any, source: str) -> Converted:
    """One parsed pySigma rule into a ringbreaker detection rule (or the reasons it cannot be)."""
    from sigma.exceptions import SigmaError
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    title = str(rule.title)
    out = Converted(str(rule.id or ""), title, source)
    ls = rule.logsource
    fmt = LOGSOURCES.get(((ls.product or "").lower(), (ls.service or "").lower()))
    if fmt is None:
        out.problems.append(
            f"log source product={ls.product} service={ls.service} category={ls.category} is not supported "
            f"({' and '.join(f'{p}/{s}' for p, s in LOGSOURCES)} are)"
        )
        return out
    fields = {
        item.field
        for det in rule.detection.detections.values()
        for item in _items(det)
        if getattr(item, "field", None) is not None
    }
    if any(
        getattr(item, "field", "x") is None
        for det in rule.detection.detections.values()
        for item in _items(det)
    ):
        out.problems.append("keyword (full-text) search without a field is not supported")
        return out
    mapping, problems = _mapping(fmt, fields)
    if problems:
        out.problems.extend(problems)
        return out
    examples = _examples(rule, fmt, mapping)  # before conversion: the pipeline renames fields in place
    field_map: dict[str | None, str | list[str]] = {k: v for k, v in mapping.items()}
    mapper = FieldMappingTransformation(field_map)
    pipeline = ProcessingPipeline(items=[ProcessingItem(transformation=mapper)])
    backend = _backend()(processing_pipeline=pipeline, collate_nocase=True, table="events")
    try:
        queries = backend.convert_rule(rule)
    except (SigmaError, NotImplementedError, TypeError, ValueError) as e:
        out.problems.append(f"pySigma cannot convert it: {e}")
        return out
    if len(queries) != 1:
        why = "none (a rule used only by a correlation)" if not queries else str(len(queries))
        out.problems.append(f"pySigma produced {why} queries; expected one")
        return out
    where = _raw_sql(queries[0].split(" WHERE ", 1)[1]) if " WHERE " in queries[0] else None
    if where is None:
        out.problems.append("converted query has no condition")
        return out
    mitre = _mitre(rule.tags)
    if not mitre:
        out.problems.append("no ATT&CK tag (attack.tNNNN or a tactic): add `mitre` by hand")
        return out
    rid = f"det.sigma.{_slug(title)}"
    label = title.replace("'", "''")
    query = (
        "SELECT id, actor, account, src_ip, key_fingerprint, resource,\n"
        "       time AS first_time, time AS last_time,\n"
        f"       [id] AS event_ids, '{label}: ' || operation || ' by ' || coalesce(actor, '?') AS summary\n"
        f"FROM events\nWHERE source_format = '{fmt}' AND ({where})\n"
    )
    tests: list[dict[str, Any]] = []
    if examples:
        pos, neg = examples
        tests = [
            {
                "name": "sigma-selection",
                "events": [{"id": "sigma-pos", **pos}],
                "expect": [{"event_ids": ["sigma-pos"]}],
            },
            {"name": "values-changed", "events": [neg], "expect": []},
        ]
    else:
        out.problems.append("could not build an example event from the selection: write the tests by hand")
    falsepositives = "; ".join(str(f) for f in (rule.falsepositives or [])) or "none listed"
    out.rule = {
        "id": rid,
        "title": title,
        "description": (
            str(rule.description or title).strip() + f"\n\nConverted from Sigma rule {rule.id} "
            "(SigmaHQ rules are under the Detection Rule License 1.1)."
        ),
        "severity": LEVELS.get(str(rule.level.name).lower() if rule.level else "", Severity.MEDIUM.value),
        "mitre": sorted(set(mitre)),
        "sources": [fmt],
        "group_by": ["actor"],
        "entities": {
            "principals": "actor",
            "accounts": "account",
            "src_ips": "src_ip",
            "key_fingerprints": "key_fingerprint",
            "resources": "resource",
        },
        "runbook": f"Review the evidence events. Sigma lists these false positives: {falsepositives}",
        "references": [str(r) for r in (rule.references or [])],
        "query": query,
        "tests": tests,
    }
    return out


def _items(det: Any) -> list[Any]:
    out = []
    for item in getattr(det, "detection_items", []):
        if hasattr(item, "detection_items"):
            out.extend(_items(item))
        else:
            out.append(item)
    return out


def convert_file(path: Path) -> list[Converted]:
    """Every rule in a Sigma YAML file (correlation rules are reported as unsupported)."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    try:
        text = path.read_text(encoding="utf-8")
        collection = SigmaCollection.from_yaml(text)
    except (OSError, SigmaError, yaml.YAMLError) as e:
        raise InputError(f"cannot read Sigma rule: {e}", source=str(path)) from e
    results = []
    for rule in collection.rules:
        if not hasattr(rule, "detection"):
            results.append(
                Converted(
                    str(getattr(rule, "id", "")),
                    str(rule.title),
                    str(path),
                    None,
                    ["correlation rules are not supported (write a ringbreaker rule with a window)"],
                )
            )
            continue
        results.append(convert_rule(rule, str(path)))
    for r in collection.errors if hasattr(collection, "errors") else []:
        results.append(Converted("", "?", str(path), None, [f"pySigma: {r}"]))
    return results


def dump(rule: dict[str, Any]) -> str:
    """YAML text of a converted rule, the query as a block scalar."""

    class Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, _str)
    header = "# Converted by `ringbreaker rules import-sigma`; check the field mapping and the tests.\n"
    return header + yaml.dump(rule, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110)
