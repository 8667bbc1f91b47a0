"""The log-format registry: one ``Format`` per module, field maps that name real ``events`` columns,
and each format's own sample recognised as that format and no other."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import msgspec
import pytest

from ringbreaker.errors import UsageError
from ringbreaker.ingest import FORMATS, Format, get_format, sniff
from ringbreaker.ingest import formats as formats_pkg
from ringbreaker.ingest.readers import split
from ringbreaker.workspace import open_workspace
from tests.ingest.conftest import DATA


def _samples(name: str) -> list[Path]:
    """The fixtures under data/ named after the format (``<name>.*`` or ``<name>-<variant>.*``)."""
    return sorted(p for p in DATA.iterdir() if p.name.split(".")[0] == name or p.name.startswith(name + "-"))


def test_every_format_module_declares_one_format_and_the_registry_holds_them_all() -> None:
    modules = [m.name for m in pkgutil.iter_modules(formats_pkg.__path__) if not m.name.startswith("_")]
    declared = []
    for name in modules:
        module = importlib.import_module(f"{formats_pkg.__name__}.{name}")
        assert isinstance(module.FORMAT, Format), name
        assert module.FORMAT.name == module.NAME
        assert sum(isinstance(v, Format) for v in vars(module).values()) == 1, f"{name}: one Format only"
        declared.append(module.FORMAT)
    assert sorted(f.name for f in declared) == sorted(FORMATS)
    assert all(FORMATS[f.name] is f for f in declared)
    priorities = [f.priority for f in FORMATS.values()]
    assert priorities == sorted(priorities)
    assert len(set(priorities)) == len(priorities)  # the order never hangs on names
    assert get_format("cloudtrail") is FORMATS["cloudtrail"]
    with pytest.raises(UsageError, match="unknown log format 'nope'"):
        get_format("nope")


def test_field_map_targets_are_events_columns(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "ws.duckdb")
    try:
        columns = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
            ).fetchall()
        }
    finally:
        con.close()
    assert {"operation", "actor", "src_ip"} <= columns
    for fmt in FORMATS.values():
        assert fmt.fields, fmt.name
        assert set(fmt.fields.values()) <= columns, (fmt.name, set(fmt.fields.values()) - columns)
        assert set(fmt.derived) <= columns, (fmt.name, set(fmt.derived) - columns)
        assert all(fmt.derived.values()), fmt.name  # every derived column names the paths it reads
        assert set(fmt.aliases.values()) <= set(fmt.fields), fmt.name  # an alias names a mapped path


@pytest.mark.parametrize("name", list(FORMATS))
def test_own_sample_sniffs_as_its_format_and_no_other(name: str) -> None:
    samples = _samples(name)
    assert samples, f"no sample of {name} under {DATA}"
    for path in samples:
        raws = split(path.read_bytes()).raws
        assert raws, path
        assert sniff(raws)[0] == name, path
        for raw in raws:
            rec = msgspec.json.decode(raw)
            accepted = [f.name for f in FORMATS.values() if f.sniff(rec)]
            assert accepted == [name], (path.name, accepted)


def test_sniffing_follows_priority_when_two_formats_accept_a_record() -> None:
    # a record carrying both Bedrock's schemaType and CloudTrail's event fields: Bedrock is asked first
    both = msgspec.json.encode(
        {"schemaType": "ModelInvocationLog", "eventSource": "s", "eventName": "n", "eventTime": "t"}
    )
    assert FORMATS["bedrock-invocation"].priority < FORMATS["cloudtrail"].priority
    assert sniff([both])[0] == "bedrock-invocation"
    assert sniff([b'{"name": "x"}']) == (None, "none of 1 sampled record(s) matches a known format")
