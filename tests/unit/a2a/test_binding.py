"""The A2A Kafka binding's rules in code: errors both ways, service parameters as headers, required fields as the
SDK checks them, states both ways, the task fold and ListTasks, the interface URL, ids."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from a2a.client.errors import A2AClientError
from a2a.helpers import new_text_message, new_text_part
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError, InvalidParamsError, TaskNotFoundError
from a2a.utils.proto_utils import validate_proto_required_fields

from a2a_fast.a2a import A2AAgent
from a2a_fast.a2a.binding import (
    CREDENTIAL_PARAMETERS,
    KAFKA_BINDING,
    METHODS,
    PRODUCE_SETTINGS,
    error_fields,
    error_from,
    new_id,
    service_parameter_headers,
    service_parameters,
    validate_required,
)
from a2a_fast.a2a.cards import KafkaAddress, advertised_card, parse_address
from a2a_fast.a2a.client import KafkaCaller
from a2a_fast.a2a.states import A2A_OF_MESH, MESH_OF_A2A, a2a_state, mesh_state
from a2a_fast.a2a.tasks import StoredTask, TaskStore, add_user_message, apply_event
from a2a_fast.errors import ConfigError
from a2a_fast.history.tasks import FINAL_STATES, STATES
from a2a_fast.transport.base import ProducerClient
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import fresh_mesh, run_strict
from tests.scenarios.a2a import EchoExecutor, card


@pytest.mark.parametrize("cls", list(JSON_RPC_ERROR_CODE_MAP), ids=lambda cls: cls.__name__)
def test_every_a2a_error_travels_as_its_code_and_comes_back_as_its_class(cls: type[A2AError]) -> None:
    error = cls("what went wrong", data={"task": "t-1"})
    fields = error_fields(error)
    assert fields["error_code"] == JSON_RPC_ERROR_CODE_MAP[cls]
    back = error_from(fields["error_code"], fields["error_message"], fields["error_details"])
    assert type(back) is cls and back.message == "what went wrong" and back.data == {"task": "t-1"}


def test_an_error_outside_the_table_travels_as_an_internal_error_and_an_unknown_code_names_itself() -> None:
    class Odd(A2AError):
        pass

    fields = error_fields(Odd("odd"))
    assert fields["error_code"] == -32603 and "odd" in fields["error_message"]
    unknown = error_from(-1, "from a newer agent", None)
    assert isinstance(unknown, A2AClientError) and "A2A error -1: from a newer agent" in str(unknown)


def test_invalid_params_details_carry_the_field_violations() -> None:
    with pytest.raises(InvalidParamsError) as raised:
        validate_required(SendMessageRequest(message=Message(parts=[Part(text="x")])))
    fields = error_fields(raised.value)
    assert '"fieldViolations"' in fields["error_details"] and "message.message_id" in fields["error_details"]
    back = error_from(fields["error_code"], fields["error_message"], fields["error_details"])
    assert isinstance(back, InvalidParamsError)


@pytest.mark.parametrize(
    "message",
    [
        SendMessageRequest(message=new_text_message("hi", role=Role.ROLE_USER)),
        SendMessageRequest(message=Message(parts=[Part()])),
        SendMessageRequest(),
        GetTaskRequest(),
        TaskPushNotificationConfig(),
        SendMessageRequest(
            message=Message(
                message_id="m", role=Role.ROLE_USER, parts=[Part(text="a")], metadata={"nested": {"deep": [1, 2]}}
            )
        ),
    ],
)
def test_required_fields_are_checked_as_the_sdk_checks_them(message: object) -> None:
    try:
        validate_proto_required_fields(message)  # type: ignore[arg-type]
        expected = None
    except InvalidParamsError as error:
        expected = error.data
    try:
        validate_required(message)  # type: ignore[arg-type]
        found = None
    except InvalidParamsError as error:
        found = error.data
    assert found == expected


def test_service_parameters_travel_as_headers_under_their_names_with_the_version() -> None:
    headers = service_parameter_headers({"A2A-Extensions": "urn:x,urn:y", "X-Request-Id": "r-1"})
    assert headers == [("A2A-Extensions", b"urn:x,urn:y"), ("X-Request-Id", b"r-1"), ("A2A-Version", b"1.0")]
    assert service_parameter_headers(None) == [("A2A-Version", b"1.0")]
    assert service_parameter_headers({"a2a-version": "0.3"}) == [("a2a-version", b"0.3")]
    read = service_parameters([("ce_id", b"1"), ("content-type", b"application/avro"), *headers])
    assert read == {"a2a-extensions": "urn:x,urn:y", "x-request-id": "r-1", "a2a-version": "1.0"}


@pytest.mark.parametrize("name", sorted(CREDENTIAL_PARAMETERS))
def test_credentials_are_never_written_to_the_log(name: str) -> None:
    with pytest.raises(A2AClientError, match="does not write credentials to the log"):
        service_parameter_headers({name.title(): "secret"})


@pytest.mark.parametrize("name", ["ce_id", "CE_TYPE", "content-type", "dlq.reason", ""])
def test_names_the_binding_reserves_are_refused(name: str) -> None:
    with pytest.raises(A2AClientError, match="reserved"):
        service_parameter_headers({name: "x"})


def test_a_parameter_given_twice_in_two_cases_is_refused() -> None:
    with pytest.raises(A2AClientError, match="given twice"):
        service_parameter_headers({"X-Id": "1", "x-id": "2"})


def test_the_state_table_goes_both_ways() -> None:
    for state, ours in MESH_OF_A2A.items():
        assert mesh_state(state) == ours and ours in STATES
        back = a2a_state(ours)
        assert back == state or (ours == "NEGOTIATING" and back == TaskState.TASK_STATE_INPUT_REQUIRED)
    assert mesh_state(TaskState.TASK_STATE_UNSPECIFIED) is None
    assert set(A2A_OF_MESH) == set(STATES)
    finals = {ours for state, ours in MESH_OF_A2A.items() if state in A2A_OF_MESH.values() and ours in FINAL_STATES}
    assert finals == {"COMPLETED", "FAILED", "CANCELED", "REJECTED"}
    with pytest.raises(KeyError, match="unknown task state 'DONE'"):
        a2a_state("DONE")


def test_every_operation_of_the_spec_is_a_method() -> None:
    assert set(METHODS) == {
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "CreateTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "DeleteTaskPushNotificationConfig",
        "GetExtendedAgentCard",
    }


def _status(state: TaskState, text: str | None = None) -> StreamResponse:
    status = TaskStatus(state=state)
    if text is not None:
        status.message.CopyFrom(new_text_message(text))
    return StreamResponse(status_update=TaskStatusUpdateEvent(task_id="t", context_id="c", status=status))


def _chunk(text: str, append: bool) -> StreamResponse:
    artifact = Artifact(artifact_id="a", parts=[new_text_part(text)])
    return StreamResponse(
        artifact_update=TaskArtifactUpdateEvent(task_id="t", context_id="c", artifact=artifact, append=append)
    )


def test_events_fold_into_the_task_as_the_sdks_task_manager_folds_them() -> None:
    user = new_text_message("book", role=Role.ROLE_USER)
    start = Task(id="t", context_id="c", status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED), history=[user])
    task = apply_event(None, StreamResponse(task=start))
    assert task is not None and task is not start
    task = apply_event(task, _status(TaskState.TASK_STATE_INPUT_REQUIRED, "from where?"))
    answer = new_text_message("SFO", role=Role.ROLE_USER)
    add_user_message(task, answer)  # type: ignore[arg-type]
    add_user_message(task, answer)  # type: ignore[arg-type]
    task = apply_event(task, _chunk("one", append=False))
    task = apply_event(task, _chunk("two", append=True))
    task = apply_event(task, _status(TaskState.TASK_STATE_COMPLETED))
    assert task is not None
    assert [m.parts[0].text for m in task.history] == ["book", "from where?", "SFO"]
    assert [p.text for p in task.artifacts[0].parts] == ["one", "two"]
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert apply_event(task, StreamResponse(task=Task(id="t"))) is task  # a later Task does not replace it


def _stored(task_id: str, state: TaskState, seconds: int, context: str = "c") -> StoredTask:
    status = TaskStatus(state=state)
    status.timestamp.FromSeconds(seconds)
    task = Task(id=task_id, context_id=context, status=status, artifacts=[Artifact(artifact_id="a")])
    task.history.append(new_text_message(task_id))
    return StoredTask(task, 1, "r")


def test_list_tasks_pages_newest_first_with_the_filters_of_the_spec() -> None:
    store = TaskStore()
    for n in range(5):
        store.put(_stored(f"t{n}", TaskState.TASK_STATE_WORKING if n % 2 else TaskState.TASK_STATE_COMPLETED, n))
    store.put(_stored("other", TaskState.TASK_STATE_WORKING, 9, context="elsewhere"))
    first = store.list(ListTasksRequest(context_id="c", page_size=2))
    assert [t.id for t in first.tasks] == ["t4", "t3"] and first.total_size == 5 and first.page_size == 2
    assert all(not t.artifacts for t in first.tasks)
    second = store.list(ListTasksRequest(context_id="c", page_size=2, page_token=first.next_page_token))
    third = store.list(ListTasksRequest(context_id="c", page_size=2, page_token=second.next_page_token))
    assert [t.id for t in [*second.tasks, *third.tasks]] == ["t2", "t1", "t0"] and third.next_page_token == ""
    working = store.list(
        ListTasksRequest(status=TaskState.TASK_STATE_WORKING, include_artifacts=True, history_length=0)
    )
    assert [t.id for t in working.tasks] == ["other", "t3", "t1"]
    assert all(t.artifacts and not t.history for t in working.tasks)
    assert store.get("t1") is not None and store.get("t1").task.history  # type: ignore[union-attr]
    with pytest.raises(InvalidParamsError):
        store.list(ListTasksRequest(page_size=101))
    with pytest.raises(InvalidParamsError, match="invalid page token"):
        store.list(ListTasksRequest(page_token="not a token"))


def test_the_store_keeps_open_tasks_and_the_last_ended_ones() -> None:
    store = TaskStore(retained=2)
    store.put(_stored("open", TaskState.TASK_STATE_WORKING, 0))
    for n in range(4):
        store.put(_stored(f"done{n}", TaskState.TASK_STATE_COMPLETED, n))
    assert sorted(store.tasks) == ["done2", "done3", "open"]
    assert not store.merge(StoredTask(Task(id="done3"), 1, "r"))  # not newer than what it knows
    assert store.merge(StoredTask(Task(id="done3"), 2, "r"))


def test_the_interface_url_names_broker_pool_prefix_and_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BROKER", raising=False)
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    address = KafkaAddress("a:9092,b:9092", "a2a-agents.echo", "demo.", "http://r:8081/apis/ccompat/v7")
    assert parse_address(address.url()) == address
    monkeypatch.setenv("KAFKA_BROKER", "elsewhere:9092")
    assert parse_address(address.url()).bootstrap == "elsewhere:9092"
    with pytest.raises(ConfigError, match="expected a kafka:// URL"):
        parse_address("http://x/y")
    with pytest.raises(ConfigError, match="must name the agent's consumer group"):
        parse_address("kafka://a:9092/")


def test_the_advertised_card_puts_the_kafka_interface_first_and_turns_push_off() -> None:
    card = AgentCard(
        name="Echo",
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url="http://x/", protocol_version="1.0")],
        skills=[AgentSkill(id="echo")],
    )
    kafka = AgentInterface(protocol_binding=KAFKA_BINDING, url="kafka://a:9092/p", protocol_version="1.0")
    shown = advertised_card(card, kafka, extended=False)
    assert [i.protocol_binding for i in shown.supported_interfaces] == [KAFKA_BINDING, "JSONRPC"]
    assert not shown.capabilities.push_notifications and shown.capabilities.streaming
    assert card.capabilities.push_notifications  # the agent's own card is left as it was


def test_ids_are_random_uuid4_text() -> None:
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_task_not_found_keeps_its_message() -> None:
    fields = error_fields(TaskNotFoundError("Task t not found"))
    assert error_from(fields["error_code"], fields["error_message"], None).message == "Task t not found"


class _RecordingTransport(MemoryTransport):
    """The in-memory transport, keeping the settings each producer was made with (the directory's too)."""

    def __init__(self) -> None:
        super().__init__()
        self.producer_settings: list[Mapping[str, Any]] = []

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        self.producer_settings.append(dict(config))
        return super().producer(config)


@pytest.mark.parametrize("given", [{}, {"max.in.flight.requests.per.connection": 5}], ids=["default", "given"])
def test_both_sides_produce_with_the_bindings_settings_unless_the_config_says_otherwise(
    given: dict[str, Any],
) -> None:
    transport = _RecordingTransport()

    async def scenario() -> None:
        with fresh_mesh(transport) as mesh:
            agent = A2AAgent(mesh.config("echo-1", producer_config=given), EchoExecutor(), card("Echo", "echo"))
            caller = KafkaCaller(mesh.config("client-1", join_mesh=False, producer_config=given))
            for member in (agent, caller):
                await member.start()
                await member.stop()

    run_strict(scenario)
    expected = {**PRODUCE_SETTINGS, **given}
    made = {settings.get("client.id"): settings for settings in transport.producer_settings}
    for member in ("echo-1", "client-1"):
        assert {name: made[member].get(name) for name in expected} == expected
