"""The owner's inventory file: every form a line may take, the ids of a key, and bad lines that
stop the scan with the file and line (never the key) in the message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ringbreaker.errors import InputError
from ringbreaker.model import fingerprint
from ringbreaker.scan import load_inventory, read_inventory
from tests.conftest import HF, OPENAI

ADMIN = "sk-admin-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"
KEY_ID = "key_{{alnum:16}}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_earlier_form_still_reads_as_before(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    a, b, c, d, e = (keygen(HF) for _ in range(5))
    path = _write(
        tmp_path,
        f"# my keys\n\n{a}\n{fingerprint(b).upper()}\nHF_TOKEN={c}\nexport HF_OTHER='{d}'\nHF_X = \"{e}\"\n",
    )
    inv = load_inventory(path)
    assert inv.fingerprints == {fingerprint(k) for k in (a, b, c, d, e)}
    assert inv.aliases == ()
    assert read_inventory(path) == inv.fingerprints
    assert inv.source == str(path.resolve())


def test_ids_follow_the_key(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    admin, proj, kid = keygen(ADMIN), keygen(OPENAI), keygen(KEY_ID)
    arn = "arn:aws:iam::111122223333:user/svc-batch"
    role = "arn:aws:iam::111122223333:role/app/runner"
    path = _write(
        tmp_path,
        f"OPENAI_ADMIN_KEY={admin}  openai-key-id={kid}   # the automation key\n"
        f"{fingerprint(proj)} azure-resource=https://Contoso-OpenAI.openai.azure.com/ "
        "azure-resource=/subscriptions/0000/resourceGroups/rg/providers/Microsoft.CognitiveServices"
        "/accounts/Other-Res "
        f"aws-principal={arn} aws-principal={role}\n"
        f"{admin} openai-key-id={kid}\n",  # the same key and id again: one alias
    )
    inv = load_inventory(path)
    got = sorted((a.kind, a.alias, a.fingerprint) for a in inv.aliases)
    assert got == sorted(
        [
            ("openai-key-id", kid, fingerprint(admin)),
            ("azure-resource", "contoso-openai", fingerprint(proj)),
            ("azure-resource", "other-res", fingerprint(proj)),
            ("aws-principal", arn, fingerprint(proj)),
            ("aws-principal", role, fingerprint(proj)),
        ]
    )
    assert inv.fingerprints == {fingerprint(admin), fingerprint(proj)}
    assert {a.source for a in inv.aliases} == {str(path.resolve())}
    assert admin not in repr(inv)  # hashed on read, never kept
    assert proj not in repr(inv)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{key} openai-key-id=sk-notanid", "openai-key-id: expected an OpenAI key id"),
        ("{key} azure-resource=not/a/resource", "azure-resource: expected an Azure resource"),
        ("{key} aws-principal=svc-batch", "aws-principal: expected an IAM user, role or assumed-role ARN"),
        ("{key} aws-principal=", "aws-principal: expected"),
        ("openai-key-id=key_abcdef123", "ids without a key"),
        ("{key} openai-kid=key_abcdef123", "unknown id kind 'openai-kid'"),
        ("{key} {key}", "more than one word where the key should be"),
    ],
)
def test_a_bad_line_names_file_and_line_not_the_key(
    tmp_path: Path, keygen: Callable[[str], str], line: str, says: str
) -> None:
    key = keygen(HF)
    path = _write(tmp_path, f"# ok\n{keygen(HF)}\n" + line.format(key=key) + "\n")
    with pytest.raises(InputError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}:3: "), err.value
    assert says in str(err.value)
    assert key not in str(err.value)


def test_one_openai_key_id_for_two_keys_is_an_error(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    kid = keygen(KEY_ID)
    path = _write(tmp_path, f"{keygen(ADMIN)} openai-key-id={kid}\n{keygen(ADMIN)} openai-key-id={kid}\n")
    with pytest.raises(
        InputError, match=rf"keys.txt:2: openai-key-id {kid} is also given for another key on line 1"
    ):
        load_inventory(path)


def test_one_resource_for_two_keys_is_kept(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    """Azure gives every resource two keys: listing both under it is right, it just cannot join."""
    k1, k2 = keygen("{{hex:32}}"), keygen("{{hex:32}}")
    inv = load_inventory(_write(tmp_path, f"{k1} azure-resource=res1\n{k2} azure-resource=res1\n"))
    assert {(a.alias, a.fingerprint) for a in inv.aliases} == {
        ("res1", fingerprint(k1)),
        ("res1", fingerprint(k2)),
    }
