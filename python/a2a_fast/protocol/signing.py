"""Records that prove their sender: every agent signs what it produces, every reader checks what it reads.

Kafka does not stamp the producer's principal on a record, and several roles write the same topics, so access
control on the broker cannot tell a provider's ``COMPLETED`` from an executor's. Each agent therefore signs its
records with its own Ed25519 key (headers ``a2a.keyid`` and ``a2a.signature``, over the key, the CloudEvents
headers and the value; the native core does the work, :class:`a2a_fast._native.RecordSigner`). A reader
checks each consumed batch in one native call (:class:`a2a_fast._native.RecordVerifier`) and refuses a record

* that is unsigned, when signatures are required;
* signed by a key it does not trust, or whose signature does not match the record;
* whose ``ce_sourceagent`` is not the agent the key belongs to;
* whose signer's roles may not emit it (:mod:`a2a_fast.protocol.roles`: a provider's ``COMPLETED``).

A refused record raises nothing: it becomes an :class:`~a2a_fast.errors.AuthorizationError` in place of the
decoded message, which the agents dead-letter with ``dlq.stage=authorization`` and the log readers skip.

**Keys.** An agent's private key is a PEM file (PKCS#8, as ``openssl genpkey -algorithm ed25519`` or
``a2a-fast keys generate`` writes it), named by ``A2A_FAST_SIGNING_KEY`` (a path, or the PEM text itself
from a secret) or ``signing.key`` of the YAML config. The keys a reader trusts are pinned in a YAML file,
``A2A_FAST_TRUSTED_KEYS`` or ``signing.trusted_keys``::

    keys:
      - agent: provider-1
        roles: [provider]
        public_key: "2tS3...base64 of the 32 bytes, or the PEM block"
      - agent: mcp-1
        roles: [requester, coordinator]
        public_key: |
          -----BEGIN PUBLIC KEY-----
          ...

Each key is trusted for one agent id and the roles listed. ``A2A_FAST_REQUIRE_SIGNATURES=true`` (or
``signing.required``) refuses unsigned records too; without it unsigned records pass and only signed ones are
checked, which lets a mesh move to signing one agent at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from a2a_fast._native import RecordSigner, RecordVerifier
from a2a_fast.errors import AuthorizationError, ConfigError
from a2a_fast.protocol.roles import ROLES, may_emit, signing_role
from a2a_fast.redaction import remember

if TYPE_CHECKING:
    from a2a_fast.config import ProtocolConfig
    from a2a_fast.protocol.envelope import Consumed, Inbound

__all__ = [
    "KEY_ENV",
    "KEY_ID_HEADER",
    "REQUIRE_ENV",
    "SIGNATURE_HEADER",
    "TRUSTED_KEYS_ENV",
    "RecordSigning",
    "TrustedKey",
    "load_trusted_keys",
    "read_private_key",
    "trusted_entry",
]

KEY_ENV: Final = "A2A_FAST_SIGNING_KEY"
TRUSTED_KEYS_ENV: Final = "A2A_FAST_TRUSTED_KEYS"
REQUIRE_ENV: Final = "A2A_FAST_REQUIRE_SIGNATURES"
KEY_ID_HEADER: Final = "a2a.keyid"
SIGNATURE_HEADER: Final = "a2a.signature"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key trusted for the records of ``agent`` in ``roles``."""

    key_id: str
    agent: str
    roles: frozenset[str]
    public_key: str


def read_private_key(spec: str, setting: str) -> RecordSigner:
    """The signer of the PEM private key in file ``spec`` (or ``spec`` itself when it is PEM text);
    ``setting`` names where ``spec`` came from, for the error."""
    if spec.lstrip().startswith("-----BEGIN"):
        remember(spec.strip())
        text, where = spec, setting
    else:
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{setting}={spec}: the signing key cannot be read ({error.strerror})") from None
        where = f"{setting}={spec}"
    try:
        return RecordSigner(text)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_trusted_keys(path: str, setting: str) -> list[TrustedKey]:
    """The keys of a trusted-keys YAML file (see the module docstring)."""
    import yaml

    where = f"{setting}={path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{where}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML ({error})") from None
    entries = data.get("keys") if isinstance(data, dict) and set(data) == {"keys"} else data
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: expected a list of keys, or a mapping whose only key is 'keys'")
    found: list[tuple[str, str, frozenset[str]]] = []
    for number, entry in enumerate(entries, 1):
        at = f"{where}, key {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a mapping with agent, roles and public_key")
        unknown = sorted(set(entry) - {"agent", "roles", "public_key"})
        if unknown:
            raise ConfigError(f"{at}: unknown field {unknown[0]!r} (known: agent, roles, public_key)")
        agent, roles, public_key = entry.get("agent"), entry.get("roles"), entry.get("public_key")
        if not isinstance(agent, str) or not agent:
            raise ConfigError(f"{at}: 'agent' must be an agent id")
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not roles or not all(isinstance(role, str) for role in roles):
            raise ConfigError(f"{at} ({agent}): 'roles' must be a list of {', '.join(ROLES)}")
        wrong = sorted(set(roles) - set(ROLES))
        if wrong:
            raise ConfigError(f"{at} ({agent}): role {wrong[0]!r} is not one of {', '.join(ROLES)}")
        if not isinstance(public_key, str) or not public_key.strip():
            raise ConfigError(f"{at} ({agent}): 'public_key' must be the key as base64 or PEM")
        try:
            RecordVerifier([(public_key, agent)])
        except ValueError as error:
            raise ConfigError(f"{at} ({agent}): {error}") from None
        found.append((public_key, agent, frozenset(roles)))
    try:
        verifier = RecordVerifier([(public_key, agent) for public_key, agent, _ in found])
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    return [
        TrustedKey(key_id, agent, roles, public_key)
        for key_id, (public_key, agent, roles) in zip(verifier.key_ids, found, strict=True)
    ]


@dataclass(frozen=True)
class RecordSigning:
    """What one process signs its records with (``signer``, optional) and checks the records it reads
    against (``trusted``; nothing is checked when empty). ``required`` refuses unsigned records."""

    signer: RecordSigner | None = None
    trusted: Sequence[TrustedKey] = ()
    required: bool = False
    source: str = ""
    """Where the settings came from, for messages."""
    _verifier: RecordVerifier | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.required and not self.trusted:
            raise ConfigError(
                f"{REQUIRE_ENV} (signing.required) needs the keys records are checked with: set {TRUSTED_KEYS_ENV} "
                "(signing.trusted_keys)"
            )
        if self.trusted:
            verifier = RecordVerifier([(key.public_key, key.agent) for key in self.trusted])
            object.__setattr__(self, "_verifier", verifier)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, protocol: ProtocolConfig | None = None, source: str = ""
    ) -> RecordSigning | None:
        """The signing settings of this process: the environment (``A2A_FAST_SIGNING_KEY``,
        ``A2A_FAST_TRUSTED_KEYS``, ``A2A_FAST_REQUIRE_SIGNATURES``) over the YAML config's ``signing`` section;
        None when neither names a key."""
        env = os.environ if environ is None else environ
        section = protocol.signing if protocol is not None else None
        in_file = f" in {source}" if source else ""
        key_spec, key_setting = env.get(KEY_ENV), KEY_ENV
        if not key_spec and section is not None and section.key:
            key_spec, key_setting = section.key, f"signing.key{in_file}"
        trust_spec, trust_setting = env.get(TRUSTED_KEYS_ENV), TRUSTED_KEYS_ENV
        if not trust_spec and section is not None and section.trusted_keys:
            trust_spec, trust_setting = section.trusted_keys, f"signing.trusted_keys{in_file}"
        required = section.required if section is not None else False
        raw = env.get(REQUIRE_ENV)
        if raw is not None:
            if raw.strip().lower() not in (*_TRUE, *_FALSE):
                raise ConfigError(f"{REQUIRE_ENV}={raw!r}: expected true or false")
            required = raw.strip().lower() in _TRUE
        if not key_spec and not trust_spec and not required:
            return None
        signer = read_private_key(key_spec, key_setting) if key_spec else None
        trusted = load_trusted_keys(trust_spec, trust_setting) if trust_spec else []
        return cls(signer, tuple(trusted), required, trust_setting if trust_spec else key_setting)

    def with_signer(self, signer: RecordSigner | None) -> RecordSigning:
        """The same trust, signing with ``signer``."""
        return RecordSigning(signer, self.trusted, self.required, self.source)

    @property
    def identity(self) -> TrustedKey | None:
        """The trusted entry of this process's own key, None when it has no key or the key is not trusted."""
        if self.signer is None:
            return None
        return next((key for key in self.trusted if key.key_id == self.signer.key_id), None)

    def check_identity(self, agent_id: str, role: str) -> None:
        """Raises ConfigError when agent ``agent_id`` in ``role`` could not sign what it sends with this key:
        its records would be refused by every reader, so it must not start."""
        wanted = signing_role(role)
        if self.signer is None:
            if self.required:
                raise ConfigError(
                    f"{agent_id}: the mesh requires signatures ({REQUIRE_ENV}) but this agent has no key: set {KEY_ENV}"
                )
            return
        if not self.trusted:
            return  # signing only; nobody here checks
        identity = self.identity
        if identity is None:
            raise ConfigError(
                f"{agent_id}: its signing key {self.signer.key_id} ({KEY_ENV}) is not among the trusted keys "
                f"({self.source}): readers would refuse its records"
            )
        if identity.agent != agent_id:
            raise ConfigError(
                f"{agent_id}: its signing key {identity.key_id} belongs to agent {identity.agent!r} ({self.source});"
                f" run it as --id {identity.agent}"
            )
        if wanted not in identity.roles:
            raise ConfigError(
                f"{agent_id}: its signing key {identity.key_id} is trusted as {', '.join(sorted(identity.roles))}, "
                f"not {wanted} ({self.source})"
            )

    # --- producing ------------------------------------------------------------------------------------------------

    def sign(self, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes | None) -> None:
        """Appends the signature headers of a record to ``headers`` (nothing without a key)."""
        if self.signer is not None:
            self.signer.sign_into(key, headers, value)

    # --- consuming ------------------------------------------------------------------------------------------------

    @property
    def checks(self) -> bool:
        """Whether records read are checked at all."""
        return self._verifier is not None

    def check(self, records: Sequence[Consumed], decoded: list[Inbound | ValueError]) -> list[Inbound | ValueError]:
        """``decoded`` (the messages of ``records``, or their decoding errors) with every record that proves
        nothing, or that its signer may not send, replaced by an :class:`AuthorizationError`."""
        verifier = self._verifier
        if verifier is None:
            return decoded
        verdicts = verifier.verify_many(records)
        out = decoded
        for index, verdict in enumerate(verdicts):
            refusal = self._refusal(verdict, decoded[index])
            if refusal is not None:
                if out is decoded:
                    out = list(decoded)
                out[index] = refusal
        return out

    def check_one(self, record: Consumed, message: Inbound) -> AuthorizationError | None:
        """:meth:`check` of one decoded record: the refusal, or None when it may be believed."""
        verifier = self._verifier
        if verifier is None:
            return None
        return self._refusal(verifier.verify(record.key(), _header_list(record.headers()), record.value()), message)

    def _refusal(self, verdict: int | str | None, message: Any) -> AuthorizationError | None:
        if verdict is None:
            if self.required:
                return AuthorizationError(
                    "unsigned record: this mesh requires signatures (A2A_FAST_REQUIRE_SIGNATURES, signing.required)"
                )
            return None
        if isinstance(verdict, str):
            return AuthorizationError(verdict)
        kind = getattr(message, "kind", None)
        if kind is None:
            return None  # a record that did not decode keeps its own error
        key = self.trusted[verdict]
        reason = may_emit(key.roles, key.agent, kind, message.record, message.target_agent)
        return None if reason is None else AuthorizationError(f"{reason} (key {key.key_id})")


def _header_list(headers: Any) -> list[tuple[str, Any]] | None:
    if headers is None or isinstance(headers, list):
        return headers
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def trusted_entry(signer: RecordSigner, agent: str, roles: Iterable[str]) -> dict[str, Any]:
    """The trusted-keys file entry of ``signer``'s public key for ``agent`` in ``roles``."""
    import base64

    return {"agent": agent, "roles": sorted(roles), "public_key": base64.b64encode(signer.public_key).decode()}
