"""deploy/k8s: every manifest valid against the Kubernetes API schemas (offline), and in agreement with the code."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from a2a_fast.cli.agents import build_agent
from a2a_fast.cli.control import LOG_JSON_ENV
from a2a_fast.config import CONFIG_ENV, ProtocolConfig
from a2a_fast.stack import KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV
from tests.conftest import REPO
from tests.unit.deploy.deployment import (
    GROUP_ROLES,
    check_agent_does_something,
    environment,
    http_port,
    members_per_group,
    parse_command,
)

K8S = REPO / "deploy" / "k8s"
VERSIONS = ("1.28.0", "1.37.0")
"""The oldest Kubernetes deploy/k8s/README.md promises, and the newest the validator knows."""
WORKLOADS = ("Deployment", "StatefulSet", "Job")
READ_BY_THE_AGENTS = {KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV, CONFIG_ENV, LOG_JSON_ENV, "A2A_FAST_HTTP_HOST"}
SASL_SETTINGS = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
"""Broker credentials the agents read for SASL (transport/security.py); the workloads take them from the Secret."""
POD_NAME_FIELD = "metadata.name"


def manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def manifests() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects(manifests: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def replicas(workload: dict[str, Any]) -> int:
    count: int = workload["spec"].get("parallelism" if workload["kind"] == "Job" else "replicas", 1)
    return count


class AgentContainer:
    """One workload's agent container, its environment resolved as the kubelet would."""

    def __init__(self, workload: dict[str, Any], manifests: list[tuple[str, dict[str, Any]]]) -> None:
        self.workload = workload
        self.name = f"{workload['kind']} {workload['metadata']['name']}"
        containers = pod_spec(workload)["containers"]
        assert len(containers) == 1, f"{self.name}: one agent per pod"
        self.container: dict[str, Any] = containers[0]
        self.configmaps = objects(manifests, "ConfigMap")
        self.secrets = objects(manifests, "Secret")
        self.env: dict[str, str] = {}
        self.pod_name_vars: set[str] = set()
        self.secret_refs: dict[str, tuple[str, str]] = {}
        for source in self.container.get("envFrom", []):
            ref = source["configMapRef"]["name"]
            assert ref in self.configmaps, f"{self.name}: no ConfigMap {ref}"
            self.env.update(self.configmaps[ref]["data"])
        for variable in self.container.get("env", []):
            value_from = variable.get("valueFrom", {})
            if "value" in variable:
                self.env[variable["name"]] = variable["value"]
            elif value_from.get("fieldRef", {}).get("fieldPath") == POD_NAME_FIELD:
                self.pod_name_vars.add(variable["name"])
                self.env[variable["name"]] = f"{workload['metadata']['name']}-pod"
            elif "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                assert ref["name"] in self.secrets, f"{self.name}: no Secret {ref['name']}"
                assert ref["key"] in self.secrets[ref["name"]]["stringData"], f"{self.name}: no key {ref['key']}"
                self.secret_refs[variable["name"]] = (ref["name"], ref["key"])
                self.env[variable["name"]] = self.secrets[ref["name"]]["stringData"][ref["key"]]
            else:
                raise AssertionError(f"{self.name}: env {variable['name']} comes from nowhere this test knows")
        self.argv = [self._expand(arg) for arg in self.container["args"]]
        self.args: argparse.Namespace = parse_command(self.argv, self.name)
        assert self.args.command == "agent", f"{self.name}: runs {self.args.command}, not an agent"

    def _expand(self, arg: str) -> str:
        # Kubernetes replaces $(NAME) in args with the container's variable NAME, and leaves unknown ones as they are.
        return re.sub(r"\$\((\w+)\)", lambda found: self.env.get(found[1], found[0]), arg)

    def mounted_file(self, path: str) -> str:
        """The text a file at ``path`` in the container has, from the ConfigMap volume mounted there."""
        volumes = {volume["name"]: volume for volume in pod_spec(self.workload).get("volumes", [])}
        for mount in self.container.get("volumeMounts", []):
            base = mount["mountPath"].rstrip("/")
            if mount.get("subPath"):
                if path != base:
                    continue
                relative = mount["subPath"]
            elif path.startswith(base + "/"):
                relative = path[len(base) + 1 :]
            else:
                continue
            source = volumes[mount["name"]].get("configMap")
            assert source is not None, f"{self.name}: {path} is mounted from a volume that is not a ConfigMap"
            keys = {item["path"]: item["key"] for item in source.get("items", [])} or None
            key = keys.get(relative) if keys else relative
            data = self.configmaps[source["name"]]["data"]
            assert key in data, f"{self.name}: {path} would not exist: ConfigMap {source['name']} has no {key}"
            text: str = data[key]
            return text
        raise AssertionError(f"{self.name}: nothing is mounted at {path}")

    def port_number(self, port: int | str) -> int:
        if isinstance(port, int):
            return port
        named = {entry.get("name"): entry["containerPort"] for entry in self.container.get("ports", [])}
        assert port in named, f"{self.name}: no container port named {port}"
        number: int = named[port]
        return number


@pytest.fixture(scope="module")
def agents(manifests: list[tuple[str, dict[str, Any]]]) -> list[AgentContainer]:
    return [AgentContainer(doc, manifests) for _, doc in manifests if doc["kind"] in WORKLOADS]


def test_the_kustomization_applies_every_manifest(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [path.name for path in manifest_files()]
    assert [kustomization["namespace"]] == list(objects(manifests, "Namespace"))
    images = {image["name"] for image in kustomization.get("images", [])}
    for _, doc in manifests:
        if doc["kind"] in WORKLOADS:
            for container in pod_spec(doc)["containers"]:
                assert container["image"].split(":")[0] in images, f"{doc['metadata']['name']}: image not set by -k"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_api_schemas(
    manifests: list[tuple[str, dict[str, Any]]], version: str
) -> None:
    assert {doc["kind"] for _, doc in manifests} >= {"Namespace", "ConfigMap", "Secret", *WORKLOADS}
    for file, doc in manifests:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            raise AssertionError(f"{file}: {doc['kind']} {doc['metadata']['name']}: {where}: {error.message}") from None


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_what_kubectl_kustomize_renders_is_valid_too(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert sorted((doc["kind"], doc["metadata"]["name"]) for doc in docs) == sorted(
        (doc["kind"], doc["metadata"]["name"]) for _, doc in manifests
    )
    for doc in docs:
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "a2a-fast"


def test_every_role_runs(agents: list[AgentContainer]) -> None:
    assert sorted(agent.args.role for agent in agents) == ["coordinator", "executor", "provider", "requester"]


def test_the_agents_read_the_configuration_and_secrets_as_the_code_expects(
    agents: list[AgentContainer], manifests: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    for agent in agents:
        configmap = {
            key
            for source in agent.container.get("envFrom", [])
            for key in agent.configmaps[source["configMapRef"]["name"]]["data"]
        }
        assert {KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV, CONFIG_ENV} <= configmap, agent.name
        unknown = set(agent.env) - READ_BY_THE_AGENTS - SASL_SETTINGS - agent.pod_name_vars
        assert not unknown, f"{agent.name}: the agents read no variable {sorted(unknown)}"
        assert agent.secret_refs == {name: ("a2a-fast-credentials", name) for name in SASL_SETTINGS}, agent.name
        protocol = tmp_path / f"{agent.workload['metadata']['name']}.yaml"
        protocol.write_text(agent.mounted_file(agent.env[CONFIG_ENV]))
        with environment({**agent.env, CONFIG_ENV: str(protocol)}):
            args = parse_command(agent.argv, agent.name)
            built = build_agent(args)
        assert built.config.kafka == agent.env[KAFKA_BROKER_ENV], agent.name
        assert built.config.schema_registry == agent.env[SCHEMA_REGISTRY_ENV], agent.name
        assert built.config.http_host == "0.0.0.0", f"{agent.name}: probes cannot reach a monitoring bound to loopback"
        assert args.log_json, agent.name
        assert built.config.protocol == ProtocolConfig.from_mapping(yaml.safe_load(protocol.read_text()))
    secrets = objects(manifests, "Secret")
    assert list(secrets) == ["a2a-fast-credentials"]
    assert set(secrets["a2a-fast-credentials"]["stringData"]) == SASL_SETTINGS


def test_probes_ask_the_agents_monitoring_for_health(agents: list[AgentContainer]) -> None:
    for agent in agents:
        container, port = agent.container, http_port(agent.args)
        wanted = {"livenessProbe"} if agent.workload["kind"] == "Job" else {"livenessProbe", "readinessProbe"}
        assert wanted <= set(container), f"{agent.name}: missing {sorted(wanted - set(container))}"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in container:
                get = container[probe]["httpGet"]
                assert get["path"] == "/health", f"{agent.name}: {probe}"
                assert agent.port_number(get["port"]) == port, (
                    f"{agent.name}: {probe} is not on the agent's port {port}"
                )
        annotations = agent.workload["spec"]["template"]["metadata"].get("annotations", {})
        if "prometheus.io/port" in annotations:
            assert annotations["prometheus.io/port"] == str(port), agent.name


def test_every_agent_has_a_distinct_id_that_follows_its_pod(agents: list[AgentContainer]) -> None:
    for agent in agents:
        raw = agent.container["args"]
        assert "--id" in raw, f"{agent.name}: --id defaults to a random one, new at every restart"
        value = raw[raw.index("--id") + 1]
        assert re.fullmatch(r"\$\((\w+)\)", value) and value[2:-1] in agent.pod_name_vars, (
            f"{agent.name}: --id {value}: replicas need distinct ids; use the pod name (downward API)"
        )


def test_replicas_of_a_group_fit_the_partitions_and_the_mesh(agents: list[AgentContainer]) -> None:
    for agent in agents:
        assert "--partitions" in agent.argv, f"{agent.name}: the first agent up creates the topics, so every one says"
    counts = {agent.args.partitions for agent in agents}
    assert len(counts) == 1, f"workloads disagree on --partitions: {counts}"
    partitions = counts.pop()
    members = members_per_group([(build_agent(agent.args), replicas(agent.workload)) for agent in agents])
    assert {group.split(".")[0] for group in members} == {"providers", "executors"}
    for group, count in members.items():
        assert count <= partitions, f"group {group} has {count} replicas but the topics only {partitions} partitions"
    protocol = ProtocolConfig.from_mapping(yaml.safe_load(agents[0].mounted_file(agents[0].env[CONFIG_ENV])))
    total = sum(replicas(agent.workload) for agent in agents)
    assert total <= protocol.mesh.max_agents, f"{total} agents but mesh.max_agents is {protocol.mesh.max_agents}"


def test_requester_and_coordinator_do_something_and_keep_their_id_across_restarts(
    agents: list[AgentContainer], manifests: list[tuple[str, dict[str, Any]]]
) -> None:
    for agent in agents:
        check_agent_does_something(agent.args, agent.name)
        if agent.args.role == "requester":
            assert agent.workload["kind"] == "Job", "a requester with --task exits once its tasks are final"
            assert pod_spec(agent.workload)["restartPolicy"] == "OnFailure", "a retry in the same pod keeps the id"
        if agent.args.role == "coordinator":
            assert agent.workload["kind"] == "StatefulSet", "a replaced pod must come back under the same name"
            service = objects(manifests, "Service")[agent.workload["spec"]["serviceName"]]
            assert service["spec"]["clusterIP"] == "None"
            assert (
                service["spec"]["selector"].items() <= agent.workload["spec"]["template"]["metadata"]["labels"].items()
            )
        if agent.args.role in GROUP_ROLES:
            assert agent.workload["kind"] == "Deployment", agent.name


def test_selectors_select_their_own_pods(agents: list[AgentContainer]) -> None:
    for agent in agents:
        selector = agent.workload["spec"].get("selector")
        if selector is not None:
            labels = agent.workload["spec"]["template"]["metadata"]["labels"]
            assert selector["matchLabels"].items() <= labels.items(), agent.name


def quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def test_every_agent_has_resource_requests_within_limits(agents: list[AgentContainer]) -> None:
    for agent in agents:
        resources = agent.container["resources"]
        for resource in ("cpu", "memory"):
            request, limit = resources["requests"][resource], resources["limits"][resource]
            assert quantity(request) <= quantity(limit), f"{agent.name}: {resource} request {request} > limit {limit}"


def test_the_secret_holds_variables_the_agents_read() -> None:
    from a2a_fast.transport.security import KAFKA_ENV

    assert set(KAFKA_ENV.values()) >= SASL_SETTINGS
