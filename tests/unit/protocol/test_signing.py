"""Record signing: keys and trust from the configuration, the roles table, and a batch check that refuses what
proves nothing."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from a2a_fast._native import RecordSigner
from a2a_fast.errors import AuthorizationError, ConfigError
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_STEP_RESULT, KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.roles import may_emit
from a2a_fast.protocol.signing import RecordSigning, load_trusted_keys, read_private_key, trusted_entry
from a2a_fast.transport.memory import MemoryMessage


def key() -> RecordSigner:
    return RecordSigner.from_seed(os.urandom(32))


def trust_file(path: Path, entries: list[dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump({"keys": entries}))
    return str(path)


@pytest.mark.parametrize(
    ("roles", "kind", "status", "target", "allowed"),
    [
        ({"provider"}, KIND_TASK_RESPONSE, "ACCEPTED", "requester-1", True),
        ({"provider"}, KIND_TASK_RESPONSE, "NEGOTIATING", "requester-1", True),
        ({"provider"}, KIND_TASK_RESPONSE, "COMPLETED", "requester-1", False),
        ({"executor"}, KIND_TASK_RESPONSE, "ACCEPTED", "requester-1", False),
        ({"executor"}, KIND_TASK_RESPONSE, "NEGOTIATING", "requester-1", False),
        ({"executor"}, KIND_TASK_RESPONSE, "COMPLETED", "requester-1", True),
        ({"executor"}, KIND_TASK_RESPONSE, "CANCELED", "requester-1", True),
        ({"requester"}, KIND_TASK_RESPONSE, "REJECTED", "me", True),
        ({"requester"}, KIND_TASK_RESPONSE, "REJECTED", "requester-2", False),
        ({"requester"}, KIND_TASK_REQUEST, None, None, True),
        ({"provider"}, KIND_TASK_REQUEST, None, None, False),
        ({"provider"}, KIND_NEGOTIATION, None, "provider-1", False),
        ({"coordinator"}, KIND_STEP_RESULT, None, "me", True),
        ({"coordinator"}, KIND_STEP_RESULT, None, "executor-1", False),
        ({"executor"}, KIND_TASK_RESPONSE, "TELEPORTED", "requester-1", False),
    ],
)
def test_the_roles_table(roles: set[str], kind: str, status: str | None, target: str | None, allowed: bool) -> None:
    record = {"status": status} if status else {}
    assert (may_emit(roles, "me", kind, record, target) is None) is allowed


def test_a_refusal_says_who_may() -> None:
    reason = may_emit({"provider"}, "provider-1", KIND_TASK_RESPONSE, {"status": "COMPLETED"}, "r")
    assert reason == "provider-1 (provider) may not emit a2a.task.response COMPLETED: only a executor may"


def test_keys_load_from_files_the_environment_and_the_yaml_config(tmp_path: Path) -> None:
    provider, executor = key(), key()
    (tmp_path / "provider.key").write_text(provider.private_pem())
    trusted = trust_file(
        tmp_path / "keys.yaml",
        [trusted_entry(provider, "provider-1", ["provider"]), trusted_entry(executor, "executor-1", ["executor"])],
    )
    signing = RecordSigning.load(
        {
            "A2A_FAST_SIGNING_KEY": str(tmp_path / "provider.key"),
            "A2A_FAST_TRUSTED_KEYS": trusted,
            "A2A_FAST_REQUIRE_SIGNATURES": "true",
        }
    )
    assert signing is not None and signing.required and signing.checks
    assert signing.identity is not None and signing.identity.agent == "provider-1"
    signing.check_identity("provider-1", "provider")
    with pytest.raises(ConfigError, match=r"belongs to agent 'provider-1'.*run it as --id provider-1"):
        signing.check_identity("provider-2", "provider")
    with pytest.raises(ConfigError, match=r"is trusted as provider, not executor"):
        signing.check_identity("provider-1", "executor")

    from a2a_fast.config import load_config

    config = tmp_path / "config.yaml"
    config.write_text(f"signing:\n  key: {tmp_path / 'provider.key'}\n  trusted_keys: {trusted}\n")
    from_yaml = RecordSigning.load({}, load_config(config), str(config))
    assert from_yaml is not None and from_yaml.signer is not None
    assert from_yaml.signer.key_id == provider.key_id and not from_yaml.required
    assert RecordSigning.load({}) is None


def test_the_key_may_come_as_pem_text_from_a_secret() -> None:
    provider = key()
    signer = read_private_key(provider.private_pem(), "A2A_FAST_SIGNING_KEY")
    assert signer.key_id == provider.key_id


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_keys_made_with_openssl_are_read(tmp_path: Path) -> None:
    private = tmp_path / "agent.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True)
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout"], check=True, capture_output=True, text=True
    ).stdout
    signer = read_private_key(str(private), "A2A_FAST_SIGNING_KEY")
    trusted = load_trusted_keys(
        trust_file(tmp_path / "keys.yaml", [{"agent": "a", "roles": ["provider"], "public_key": public}]), "T"
    )
    assert trusted[0].key_id == signer.key_id


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("keys: {}", r"expected a list of keys"),
        ("- agent: a\n  roles: [provider]\n", r"key 1 \(a\): 'public_key' must be the key as base64 or PEM"),
        ("- agent: a\n  roles: [admin]\n  public_key: x\n", r"role 'admin' is not one of requester, provider"),
        ("- agent: a\n  roles: [provider]\n  public_key: nope\n", r"key 1 \(a\): public_key: 3 bytes, an Ed25519 key"),
        ("- agent: a\n  roles: [provider]\n  public_key: '#'\n", r"key 1 \(a\): public_key: neither PEM nor base64"),
        ("- agent: a\n  role: provider\n", r"unknown field 'role'"),
    ],
)
def test_a_bad_trusted_keys_file_names_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_trusted_keys(str(path), "A2A_FAST_TRUSTED_KEYS")


def test_the_same_key_twice_is_refused(tmp_path: Path) -> None:
    provider = key()
    path = trust_file(
        tmp_path / "keys.yaml",
        [trusted_entry(provider, "a", ["provider"]), trusted_entry(provider, "b", ["provider"])],
    )
    with pytest.raises(ConfigError, match=r"is trusted already, for a"):
        load_trusted_keys(path, "T")


def test_required_signatures_need_trusted_keys() -> None:
    with pytest.raises(ConfigError, match=r"A2A_FAST_REQUIRE_SIGNATURES \(signing.required\) needs the keys"):
        RecordSigning.load({"A2A_FAST_REQUIRE_SIGNATURES": "yes"})
    with pytest.raises(ConfigError, match=r"A2A_FAST_REQUIRE_SIGNATURES='maybe': expected true or false"):
        RecordSigning.load({"A2A_FAST_REQUIRE_SIGNATURES": "maybe"})


def test_an_untrusted_key_or_a_missing_one_stops_an_agent_at_start(tmp_path: Path) -> None:
    provider = key()
    signing = RecordSigning(key(), (), False)
    signing.check_identity("anyone", "provider")  # signs, nobody here checks
    trusted = load_trusted_keys(trust_file(tmp_path / "k.yaml", [trusted_entry(provider, "p", ["provider"])]), "T")
    with pytest.raises(ConfigError, match=r"is not among the trusted keys"):
        RecordSigning(key(), tuple(trusted)).check_identity("p", "provider")
    with pytest.raises(ConfigError, match=r"requires signatures .* but this agent has no key"):
        RecordSigning(None, tuple(trusted), required=True).check_identity("p", "provider")


def message(headers: list[tuple[str, bytes]], value: bytes = b"\0\0\0\0\1body", key: bytes = b"t1") -> MemoryMessage:
    return MemoryMessage("task-responses", 0, 0, key, value, headers, 0)


def inbound(kind: str, status: str | None, source: str, target: str | None) -> Inbound:
    record: dict[str, Any] = {"task_id": "t1"}
    if status:
        record["status"] = status
    return Inbound(kind, record, "e1", "t1", source, target, None, None, 1, "task-responses", 0, 0)


def signed(signer: RecordSigner | None, source: str) -> MemoryMessage:
    headers = [("ce_id", b"e1"), ("ce_sourceagent", source.encode()), ("ce_type", KIND_TASK_RESPONSE.encode())]
    if signer is not None:
        signer.sign_into(b"t1", headers, b"\0\0\0\0\1body")
    return message(headers)


def test_a_batch_check_refuses_what_proves_nothing_and_keeps_the_rest(tmp_path: Path) -> None:
    provider, executor, stranger = key(), key(), key()
    trusted = load_trusted_keys(
        trust_file(
            tmp_path / "k.yaml",
            [trusted_entry(provider, "provider-1", ["provider"]), trusted_entry(executor, "executor-1", ["executor"])],
        ),
        "T",
    )
    signing = RecordSigning(None, tuple(trusted), required=True)
    cases = [
        (signed(executor, "executor-1"), inbound(KIND_TASK_RESPONSE, "COMPLETED", "executor-1", "r"), None),
        (signed(provider, "provider-1"), inbound(KIND_TASK_RESPONSE, "COMPLETED", "provider-1", "r"), "may not emit"),
        (signed(None, "executor-1"), inbound(KIND_TASK_RESPONSE, "COMPLETED", "executor-1", "r"), "unsigned record"),
        (signed(stranger, "executor-1"), inbound(KIND_TASK_RESPONSE, "COMPLETED", "executor-1", "r"), "unknown key"),
        (signed(provider, "executor-1"), inbound(KIND_TASK_RESPONSE, "ACCEPTED", "executor-1", "r"), "not the signer"),
        (signed(executor, "executor-1"), ValueError("did not decode"), None),
    ]
    records = [record for record, _, _ in cases]
    decoded: list[Inbound | ValueError] = [found for _, found, _ in cases]
    checked = signing.check(records, decoded)
    for (_, found, refusal), result in zip(cases, checked, strict=True):
        if refusal is None:
            assert result is found
        else:
            assert isinstance(result, AuthorizationError) and refusal in str(result), result
    one = signing.check_one(records[1], inbound(KIND_TASK_RESPONSE, "COMPLETED", "provider-1", "r"))
    assert isinstance(one, AuthorizationError)


def test_without_required_signatures_unsigned_records_pass_but_forged_ones_do_not(tmp_path: Path) -> None:
    provider = key()
    trusted = load_trusted_keys(
        trust_file(tmp_path / "k.yaml", [trusted_entry(provider, "provider-1", ["provider"])]), "T"
    )
    signing = RecordSigning(None, tuple(trusted), required=False)
    accepted = inbound(KIND_TASK_RESPONSE, "ACCEPTED", "provider-1", "r")
    assert signing.check([signed(None, "provider-1")], [accepted]) == [accepted]
    refused = signing.check([signed(key(), "provider-1")], [accepted])
    assert isinstance(refused[0], AuthorizationError)


def test_the_public_key_entry_is_base64_of_the_32_bytes() -> None:
    signer = key()
    entry = trusted_entry(signer, "a", ["executor", "provider"])
    assert base64.b64decode(entry["public_key"]) == signer.public_key
    assert entry["roles"] == ["executor", "provider"]
