"""``a2a-fast keys generate``: an agent's signing key, and its entry in the mesh's trusted keys."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["add_keys_parser"]

DESCRIPTION = """\
Make an Ed25519 signing key for one agent: the private key goes to DIR/AGENT.key (readable by its owner only;
give it to the agent as A2A_FAST_SIGNING_KEY), and the public key's entry of the trusted-keys file, binding it to
the agent id and its roles, is printed, or added to --trust FILE (the file every agent and tool of the mesh
names in A2A_FAST_TRUSTED_KEYS). Keys from openssl (genpkey -algorithm ed25519) work the same.
"""


def add_keys_parser(commands: Any) -> argparse.ArgumentParser:
    from a2a_fast.protocol.roles import ROLES

    parser: argparse.ArgumentParser = commands.add_parser(
        "keys",
        help="make an agent's record signing key and its trusted-keys entry",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["generate"], help="generate makes a new key")
    parser.add_argument("--agent", required=True, help="the agent id the key signs for")
    parser.add_argument(
        "--role", action="append", required=True, choices=ROLES, help="a role the agent has (repeat for more)"
    )
    parser.add_argument("--out", default=".", metavar="DIR", help="where the private key is written (default .)")
    parser.add_argument("--trust", default=None, metavar="FILE", help="add the public key to this trusted-keys file")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import yaml

    from a2a_fast._native import RecordSigner
    from a2a_fast.errors import ConfigError
    from a2a_fast.protocol.signing import load_trusted_keys, trusted_entry

    signer = RecordSigner.from_seed(secrets.token_bytes(32))
    entry = trusted_entry(signer, args.agent, args.role)
    trust = Path(args.trust) if args.trust else None
    entries: list[Any] = []
    if trust is not None and trust.exists():
        load_trusted_keys(str(trust), "--trust")  # a broken file is reported before anything is written
        data = yaml.safe_load(trust.read_text(encoding="utf-8"))
        entries = list((data.get("keys") if isinstance(data, dict) else data) or [])
    key_file = Path(args.out) / f"{args.agent}.key"
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{key_file} exists: a key is never overwritten (remove it first to replace it)") from None
    except OSError as error:
        raise ConfigError(f"{key_file}: cannot be written ({error.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(signer.private_pem())
    print(f"# private key {key_file} (key id {signer.key_id}): A2A_FAST_SIGNING_KEY={key_file}")
    if trust is None:
        print(yaml.safe_dump({"keys": [entry]}, sort_keys=False), end="")
        return 0
    trust.parent.mkdir(parents=True, exist_ok=True)
    trust.write_text(yaml.safe_dump({"keys": [*entries, entry]}, sort_keys=False), encoding="utf-8")
    print(f"# trusted by {trust} for {args.agent} as {', '.join(sorted(set(args.role)))}")
    return 0
