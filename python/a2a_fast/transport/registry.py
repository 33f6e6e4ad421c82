"""The agents' view of the schema registry: their own schemas registered, writers' schemas fetched by id.

Subjects follow the TopicNameStrategy: the value schema of topic ``T`` is registered under ``T-value``
(kinds sharing a topic, like the collaboration records, use ``T-<record full name>``),
and each subject gets a compatibility level (``BACKWARD`` by default) so that the registry refuses a
change that readers of older data could not handle. An agent writes with the schema it was built against
(its *reader* schema too); every message carries that schema's registered id, and a reader fetches the
writer's schema by id once, caches it and resolves it against its own.

Every method here may block on HTTP: agents call them at start-up or from a worker thread, never on the
event loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from a2a_fast.codecs.avro import Codec
from a2a_fast.errors import SchemaError
from a2a_fast.protocol.kinds import MESSAGE_KINDS
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.base import Transport
from a2a_fast.transport.kafka import KafkaTransport

__all__ = ["SCHEMA_DIR", "SchemaCatalog", "default_schemas", "full_name"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""In an installed package, the schemas the wheel ships; in a checkout, a link to ``schemas/`` at the root."""


def default_schemas() -> dict[str, str]:
    """The schema text of each message kind, from the package's ``schemas/`` folder."""
    try:
        return {kind: (SCHEMA_DIR / spec.schema_file).read_text() for kind, spec in MESSAGE_KINDS.items()}
    except OSError as error:
        raise SchemaError(
            f"the package's Avro schemas cannot be read ({error.strerror}: {error.filename}): the installation is "
            "incomplete, or in a checkout the link python/a2a_fast/schemas -> ../../schemas is missing"
        ) from error


def full_name(schema_text: str) -> str:
    """``namespace.name`` of an Avro record schema."""
    try:
        parsed = json.loads(schema_text)
    except ValueError as error:
        raise SchemaError(f"schema is not JSON: {error}") from error
    if not isinstance(parsed, dict) or "name" not in parsed:
        raise SchemaError("schema is not a named Avro record")
    name = str(parsed["name"])
    namespace = parsed.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


class SchemaCatalog:
    """Registers one agent's schemas and keeps the writer schemas it has met, by id.

    ``schemas`` maps a message kind (``a2a.task.request``...) to the Avro schema text this agent writes
    and reads; kinds left out use the package's schema files.
    """

    def __init__(
        self,
        registry: str | Transport,
        topics: TopicNames,
        schemas: Mapping[str, str] | None = None,
        compatibility: str = "BACKWARD",
    ) -> None:
        transport = KafkaTransport("", registry) if isinstance(registry, str) else registry
        self.url = transport.schema_registry_url
        self.topics = topics
        self.compatibility = compatibility
        self.schemas = {**default_schemas(), **(schemas or {})}
        self._client = transport.registry()
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[str, Codec]] = {}
        self._writers: dict[str, Codec] = {}
        self._readers: dict[str, Codec] = {}

    def subject(self, kind: str) -> str:
        topic = self.topics.for_kind(kind)
        if MESSAGE_KINDS[kind].shared_topic:
            return f"{topic}-{full_name(self.schemas[kind])}"
        return f"{topic}-value"

    def schema_uri(self, kind: str) -> str:
        """The registry URL of the schema this agent writes ``kind`` with, naming id and subject."""
        schema_id = self.writer_codec(kind).schema_id
        return f"{self.url.rstrip('/')}/schemas/ids/{schema_id}?subject={self.subject(kind)}"

    def register(self) -> dict[str, int]:
        """Registers every kind's schema under its subject and sets the subject's compatibility level.

        Returns the schema id of each kind. Raises :class:`SchemaError` when the registry refuses a
        schema (for example an incompatible change).
        """
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        ids = {}
        for kind, text in self.schemas.items():
            subject = self.subject(kind)
            try:
                schema_id = self._client.register_schema(subject, Schema(text, "AVRO"))
                self._ensure_compatibility(subject)
            except SchemaRegistryError as error:
                raise SchemaError(f"registry refused the {kind} schema under {subject!r}: {error}") from error
            ids[kind] = schema_id
            with self._lock:
                self._writers[kind] = Codec(text, schema_id)
                self._readers[kind] = Codec(text, schema_id)
                self._by_id[schema_id] = (full_name(text), Codec(text))
        return ids

    def load_readers(self) -> None:
        """Readers from the local schema text without registering anything: enough to decode, for tools
        that only read the log (``a2a-fast tail``, ``replay``, ``tasks``)."""
        with self._lock:
            for kind, text in self.schemas.items():
                # Any schema id makes the codec read the wire framing; each message's own id names its writer.
                self._readers.setdefault(kind, Codec(text, 0))

    def writer_codec(self, kind: str) -> Codec:
        try:
            return self._writers[kind]
        except KeyError:
            raise SchemaError(f"no registered schema for {kind!r}: call register() first") from None

    def reader_codec(self, kind: str) -> Codec:
        try:
            return self._readers[kind]
        except KeyError:
            raise SchemaError(f"no registered schema for {kind!r}: call register() first") from None

    def cached_schema(self, schema_id: int) -> tuple[str, Codec] | None:
        """The record name and a codec of the writer schema ``schema_id``, once fetched or registered."""
        return self._by_id.get(schema_id)

    def fetch(self, schema_ids: Iterable[int]) -> None:
        """Fetches the schemas of ids not seen yet; an id the registry does not know is left out."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        for schema_id in schema_ids:
            if schema_id in self._by_id:
                continue
            try:
                text = self._client.get_schema(schema_id).schema_str
            except SchemaRegistryError:
                continue
            if text is None:
                continue
            try:
                entry = (full_name(text), Codec(text))
            except (SchemaError, ValueError):
                continue
            with self._lock:
                self._by_id[schema_id] = entry

    def _ensure_compatibility(self, subject: str) -> None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        # Agents starting together race to set the same level; a registry may refuse the loser (Apicurio
        # answers "rule already exists"). The level being in place is what matters, whoever set it.
        for attempt in range(3):
            try:
                self._client.set_compatibility(subject_name=subject, level=self.compatibility)
                return
            except SchemaRegistryError:
                if attempt == 2:
                    raise
                try:
                    if self._level(subject) == self.compatibility:
                        return
                except SchemaRegistryError:
                    pass
                time.sleep(0.1 * (attempt + 1))

    def _level(self, subject: str) -> str:
        level: Any = self._client.get_compatibility(subject)
        return str(getattr(level, "value", level))

    def compatibility_of(self, kind: str) -> str:
        return self._level(self.subject(kind))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SchemaCatalog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
