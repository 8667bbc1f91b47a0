"""The ``## scan recall on independently generated keys`` section of docs/benchmarks.md.

Why apart from ``scan_recall.py``: rendering reads only the saved results (``--render-only``
rewrites the section without scanning again), and the tables are most of the code.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness import MB

HEADING = "## scan recall on independently generated keys"


def frac(n: int, d: int) -> str:
    return "—" if d == 0 else f"{n}/{d} ({100 * n / d:.0f}%)"


def short(n: int, d: int) -> str:
    return "—" if d == 0 else f"{n}/{d}"


def totals_table(results: dict[str, Any]) -> list[str]:
    n = results["planted"]["keys"]
    tools = ok_tools(results)
    ref = tools[0]["by_provider"] if tools else {}
    with_provider = sum(v["planted"] for k, v in ref.items() if k != "(none)")
    lines = [
        f"| Tool | Version | Found, key line ({n}) | of them by a provider-specific rule | "
        "Found, anywhere in the snippet | Named contexts | Unnamed contexts | Right provider | Run (s) | "
        "Findings |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in results["tools"]:
        if not t["ok"]:
            lines.append(f"| {t['name']} | {t['version']} | error: {t['error'][:80]} | | | | | | | |")
            continue
        right = frac(t["right_provider"], with_provider) if t["name"] == "ringbreaker" else "—"
        lines.append(
            f"| {t['name']} | {t['version']} | {frac(t['found_line'], n)} | "
            f"{short(t['found_specific'], n)} | {frac(t['found_snippet'], n)} | "
            f"{frac(t['named'][1], t['named'][0])} | {frac(t['unnamed'][1], t['unnamed'][0])} | {right} | "
            f"{t['wall_s']:.1f} | {t['findings']:,} |"
        )
    return lines


def ok_tools(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in results["tools"] if t["ok"]]


def provider_table(results: dict[str, Any]) -> list[str]:
    tools = ok_tools(results)
    rb = next((t for t in tools if t["name"] == "ringbreaker"), None)
    others = [t for t in tools if t["name"] != "ringbreaker"]
    formats_of: dict[str, int] = defaultdict(int)
    for f in results["formats"]:
        formats_of[f["provider"] or "(none)"] += 1
    head = "| Provider | Formats | Planted | ringbreaker | right provider |" + "".join(
        f" {t['name']} |" for t in others
    )
    lines = [head, "|---|---:|---:|---:|---:|" + "---:|" * len(others)]
    ref = tools[0]["by_provider"] if tools else {}
    for prov in sorted(ref):
        planted = ref[prov]["planted"]
        cells = [prov, str(formats_of[prov]), str(planted)]
        if rb:
            c = rb["by_provider"][prov]
            cells += [short(c["line"], planted), short(c["right"], planted) if prov != "(none)" else "—"]
        else:
            cells += ["—", "—"]
        cells += [short(t["by_provider"][prov]["line"], planted) for t in others]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def context_table(results: dict[str, Any]) -> list[str]:
    """Recall per context: which ways of writing a key each tool misses."""
    tools = ok_tools(results)
    if not tools:
        return []
    lines = [
        "| Context | Names the provider | Planted |" + "".join(f" {t['name']} |" for t in tools),
        "|---|---|---:|" + "---:|" * len(tools),
    ]
    ref = tools[0]["by_context"]
    for ctx in sorted(ref, key=lambda c: (c.startswith("unnamed"), c)):
        planted = ref[ctx]["planted"]
        named = "no" if ctx.startswith("unnamed") else "yes"
        cells = [f"`{ctx}`", named, str(planted)]
        cells += [short(t["by_context"][ctx]["line"], planted) for t in tools]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def format_table(results: dict[str, Any]) -> list[str]:
    tools = ok_tools(results)
    rb = next((t for t in tools if t["name"] == "ringbreaker"), None)
    others = [t for t in tools if t["name"] != "ringbreaker"]
    lines = [
        "| Format | Provider | Planted (named + unnamed) | ringbreaker, named | ringbreaker, unnamed | "
        "right provider |" + "".join(f" {t['name']} |" for t in others),
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(others),
    ]
    for f in results["formats"]:
        fid = f["id"]
        ref = tools[0] if tools else None
        if ref is None or fid not in ref["by_format"]:
            continue
        named = ref["by_format_named"].get(f"{fid} named", {"planted": 0})["planted"]
        unnamed = ref["by_format_named"].get(f"{fid} unnamed", {"planted": 0})["planted"]
        planted = named + unnamed
        cells = [f"`{fid}`", f["provider"] or "(none)", f"{planted} ({named} + {unnamed})"]
        if rb:
            n = rb["by_format_named"].get(f"{fid} named", {"line": 0})["line"]
            u = rb["by_format_named"].get(f"{fid} unnamed", {"line": 0})["line"]
            right = short(rb["by_format"][fid]["right"], planted) if f["provider"] else "—"
            cells += [short(n, named), short(u, unnamed), right]
        cells += [short(t["by_format"][fid]["line"], planted) for t in others]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def misses(results: dict[str, Any]) -> list[str]:
    """Every format ringbreaker missed a key of, with the contexts, and keys it gave another provider."""
    rb = next((t for t in ok_tools(results) if t["name"] == "ringbreaker"), None)
    if rb is None:
        return ["ringbreaker did not run."]
    by_format: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in rb["missed"]:
        by_format[m["format"]].append(m)
    out = []
    for f in results["formats"]:
        ms = by_format.get(f["id"])
        if not ms:
            continue
        planted = rb["by_format"][f["id"]]["planted"]
        named = sorted(m["context"] for m in ms if m["named"])
        unnamed = sorted(m["context"] for m in ms if not m["named"])
        near = sum(m["in_snippet"] for m in ms)
        parts = []
        if named:
            parts.append(f"named: {', '.join(named)}")
        if unnamed:
            parts.append(f"unnamed: {', '.join(unnamed)}")
        note = f" ({near} of them with a finding elsewhere in the snippet)" if near else ""
        out.append(
            f"- `{f['id']}` ({f['provider'] or 'no ringbreaker provider'}): "
            f"missed {len(ms)} of {planted}{note} — " + "; ".join(parts)
        )
    other: dict[str, list[str]] = defaultdict(list)
    for o in rb["other_provider"]:
        other[o["format"]].append("/".join(o["said"]) or "?")
    if other:
        out += ["", "Found on the key line but under another provider:", ""]
        for fid, said in sorted(other.items()):
            counts = ", ".join(f"{p} x{said.count(p)}" for p in sorted(set(said)))
            out.append(f"- `{fid}`: {counts}")
    for t in ok_tools(results):
        if t["name"] == "ringbreaker":
            continue
        zero = [f"`{k}`" for k, v in t["by_format"].items() if v["line"] == 0]
        out += ["", f"Formats {t['name']} found no key of: {', '.join(zero) or 'none'}."]
    return out or ["none."]


METHOD = """
- The formats are in `bench/scan_formats_table.py` and `bench/scan_formats_platforms.py`, written
  from the providers' documentation and public descriptions of each format (listed below), not
  from ringbreaker's rule files. Where no page read states a length or alphabet, the entry says
  *observed* (how such keys publicly look) or *assumed*; a source marked "not read in this
  session" is only the provider's documentation home. Every key is fresh random text from
  `random.Random(seed)`; `python bench/scan_formats.py` checks that every generator's keys match
  the shape written for it and that every context holds the key.
- Contexts (`bench/scan_formats.py`): named ones are a `.env` line, a shell export, a line of
  Python and of JS/TS client code, a JSON, YAML and TOML config block with the provider's
  section, a notebook cell's source line, a curl `-H` header with the provider's URL, a
  docker-compose `environment:` entry and a URL query string; paired credentials (AWS key id +
  secret, Azure key + endpoint, Langfuse public + secret, GCP service-account JSON, Modal id +
  secret) have their own. Unnamed ones (`API_KEY=...`, `api_key = "..."`, `"token": "..."`, a
  Bearer header to a neutral host) carry no provider name: a rule that needs the provider's name
  nearby misses them by design, which is what that column measures.
- Planting: one snippet per file, into a random file of a type the snippet fits (`.py` for
  Python, `.json` for JSON and notebook lines, `.yml`/`.yaml`/`.md` for YAML, and so on; any
  text file when none is left), at a random line, in a hard-linked copy of the corpus (the
  unplanted tree never changes); each key's path and line are recorded in
  `bench/out/planted-independent.json`.
- Found, key line: a finding at the key's path whose line (or line range) covers the key's
  line. Found, anywhere in the snippet: a finding on any line of the planted snippet (for
  multi-line snippets a tool may report the block's first line, or only the companion value,
  such as the AWS key id). Right provider: ringbreaker's `provider` on a key-line finding is the
  format's provider (formats ringbreaker has no provider for, such as GitHub, are counted under
  `(none)`).
"""


def bullets(text: str) -> list[str]:
    """Markdown bullets of ``text`` (wrapped here for the source's line length), one line each."""
    return ["- " + " ".join(b.split()) for b in text.strip().removeprefix("- ").split("\n- ")]


def render_markdown(results: dict[str, Any]) -> str:
    m, c, p = results["machine"], results["corpus"], results["planted"]
    mode = "quick corpus" if results["quick"] else "full corpus"
    lines = [
        HEADING,
        "",
        f"Generated by `bench/scan_recall.py` on {results['date']} "
        f"(ringbreaker at {results['ringbreaker_source']}). Machine: {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB RAM, Python {m['python']}.",
        "",
        f"Data: the bench corpus of `## scan` ({mode}: {c['bytes'] / MB:.0f} MB in {c['files']:,} files "
        f"of real code), copied with {p['keys']} fake keys of {p['formats']} formats from {p['providers']} "
        f"providers planted into it ({p['named']} in contexts that name the provider, {p['unnamed']} in "
        f"contexts that do not); seed {p['seed']}, {p['passes']} key per format and context.",
        "",
        "### Totals",
        "",
        *totals_table(results),
        "",
        "### Per provider (found on the key line)",
        "",
        *provider_table(results),
        "",
        "### Per context (found on the key line)",
        "",
        *context_table(results),
        "",
        "### Per format (found on the key line)",
        "",
        *format_table(results),
        "",
        "### What ringbreaker missed (and the formats the others found nothing of)",
        "",
        *misses(results),
        "",
        "### How the keys were made",
        "",
        *bullets(METHOD),
        "- One run per tool over the planted tree, with the commands of `## scan`"
        + "".join(f"; {k} {v}" for k, v in results.get("skipped_tools", {}).items())
        + ". The tools' other findings in the corpus are not counted here (see `## scan` for noise).",
        "",
        "### Formats and sources",
        "",
    ]
    lines += [
        f"- `{f['id']}` ({f['provider'] or 'none'}), {f['title']}: {f['basis']}. Source: {f['source']}"
        for f in results["formats"]
    ]
    lines.append("")
    return "\n".join(lines)
