"""``--workflows``: one loader for workflow files (YAML, JSON) and Python modules, with errors that say where."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from a2a_fast.agents.builtin import DEMO_WORKFLOWS
from a2a_fast.errors import ConfigError, WorkflowError
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep, load_workflows
from a2a_fast.workflows.sessions import choose_agent, live_agents_for
from tests.unit.workflows.support import TWO_STEPS, Locator

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- workflows-example -->\n```yaml\n(.*?)```", text, re.DOTALL)
    assert found is not None, "the README's workflow file example is gone"
    return found.group(1)


DIGEST = WorkflowDefinition(
    "digest",
    "Digest",
    "Summarise a text, then label the summary",
    [
        WorkflowStep("summary", "Summarise the text", ["summarize"], {"max_words": "60"}, timeout=30, retries=1),
        WorkflowStep("labels", "", ["classify"], required=False),
    ],
)


def test_the_readme_example_loads_as_documented(tmp_path: Path) -> None:
    file = tmp_path / "workflows.yaml"
    file.write_text(readme_example())
    assert load_workflows(str(file)) == [DIGEST]


def test_json_files_lists_and_modules_load_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_json = tmp_path / "flows.json"
    as_json.write_text(json.dumps([DIGEST.to_dict()]))
    assert load_workflows(str(as_json)) == [DIGEST]
    plain = tmp_path / "flows"  # an existing file without a suffix is read as YAML
    plain.write_text(readme_example())
    assert load_workflows(str(plain)) == [DIGEST]

    (tmp_path / "my_flows.py").write_text(
        "from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep\n"
        "FLOWS = [WorkflowDefinition('one', 'One', '', [WorkflowStep('s', capabilities=['summarize'])])]\n"
        "AS_DICTS = [{'id': 'two', 'steps': [{'name': 's', 'capabilities': ['classify']}]}]\n"
        "NOT_FLOWS = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert [w.id for w in load_workflows("my_flows:FLOWS")] == ["one"]
        assert [w.id for w in load_workflows("my_flows:AS_DICTS")] == ["two"]
        with pytest.raises(ConfigError, match=r"--workflows 'my_flows:NOT_FLOWS': expected a sequence .* got int"):
            load_workflows("my_flows:NOT_FLOWS")
    finally:
        sys.modules.pop("my_flows", None)
    assert load_workflows("a2a_fast.agents.builtin:DEMO_WORKFLOWS") == list(DEMO_WORKFLOWS)


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("gone.yaml", None, r"--workflows .*gone\.yaml: cannot be read \(No such file or directory\)"),
        ("bad.yaml", "workflows: [\n  - id: x\n    steps: [", r"bad\.yaml: not YAML: .*line"),
        ("bad.json", '[{"id": "x",}]', r"bad\.json: not JSON: .*line 1 column"),
        ("scalar.yaml", "just text", r"expected a list of workflows or \{workflows: \[\.\.\.\]\}, not str"),
        ("extra.yaml", "workflows: []\nother: 1", r"a mapping with only the key 'workflows'"),
        ("empty.yaml", "workflows: []", r"empty\.yaml: defines no workflow"),
        ("no-id.yaml", "- steps: []", r"workflow 1: workflow: 'id' is missing"),
        (
            "typo.yaml",
            "- id: x\n  steps:\n    - name: s\n      capability: [summarize]",
            r"workflow 1: workflow 'x': step 1: unknown key\(s\) 'capability' \(keys: name, description, capabilities",
        ),
        ("flat.yaml", "- id: x\n  steps: summarize", r"workflow 'x': 'steps' must be a list of steps, not str"),
        ("step.yaml", "- id: x\n  steps: [summarize]", r"workflow 'x': step 1 must be a mapping"),
        (
            "number.yaml",
            "- id: x\n  steps:\n    - {name: s, capabilities: [summarize], params: {max_words: 60}}",
            r"workflow 'x': step 's': params must map names to strings; 'max_words': 60 is not \(quote it\)",
        ),
        (
            "required.yaml",
            "- id: x\n  steps:\n    - {name: s, capabilities: [summarize], required: maybe}",
            r"step 's': required must be true or false, got 'maybe'",
        ),
        (
            "twice.yaml",
            "- {id: x, steps: [{name: s, capabilities: [a]}]}\n- {id: x, steps: [{name: t, capabilities: [b]}]}",
            r"workflow id 'x' is defined twice",
        ),
        ("nosteps.yaml", "- {id: x, steps: []}", r"workflow 1: workflow 'x': needs at least one step"),
    ],
)
def test_bad_files_are_one_line_errors_naming_what_is_wrong(
    tmp_path: Path, name: str, text: str | None, error: str
) -> None:
    file = tmp_path / name
    if text is not None:
        file.write_text(text)
    with pytest.raises(ConfigError, match=error) as raised:
        load_workflows(str(file))
    assert str(raised.value).startswith(f"--workflows {file}: ") and "\n" not in str(raised.value)


def test_a_spec_that_is_neither_a_file_nor_a_module_says_what_is_expected() -> None:
    with pytest.raises(ConfigError, match=r"--workflows 'flows': expected a workflow file \(\.yaml, \.yml, \.json\)"):
        load_workflows("flows")
    with pytest.raises(ConfigError, match=r"--workflows 'no_such_module:FLOWS': No module named 'no_such_module'"):
        load_workflows("no_such_module:FLOWS")


def test_step_normalises_and_validates() -> None:
    step = WorkflowStep("s", capabilities=[" Summarize "], timeout=2)
    assert step.capabilities == ("summarize",) and step.timeout == 2.0 and step.attempts_allowed == 1
    with pytest.raises(WorkflowError, match="capabilities must be a list"):
        WorkflowStep("s", capabilities="summarize")
    with pytest.raises(WorkflowError, match="at least one capability"):
        WorkflowStep("s", capabilities=[])
    with pytest.raises(WorkflowError, match="timeout must be"):
        WorkflowStep("s", capabilities=["a"], timeout=0)
    with pytest.raises(WorkflowError, match="retries must be"):
        WorkflowStep("s", capabilities=["a"], retries=-1)
    with pytest.raises(WorkflowError, match="params must map"):
        WorkflowStep("s", capabilities=["a"], params={"n": 1})  # type: ignore[dict-item]


def test_definition_validates_and_round_trips() -> None:
    with pytest.raises(WorkflowError, match="at least one step"):
        WorkflowDefinition("w", "W", "", [])
    with pytest.raises(WorkflowError, match="'a' is used twice"):
        WorkflowDefinition("w", "W", "", [WorkflowStep("a", capabilities=["x"]), WorkflowStep("a", capabilities=["y"])])
    assert WorkflowDefinition.from_dict(json.loads(json.dumps(TWO_STEPS.to_dict()))) == TWO_STEPS
    with pytest.raises(WorkflowError, match="workflow 'w': 'steps' is missing"):
        WorkflowDefinition.from_dict({"id": "w"})


def test_live_agents_need_every_capability_and_the_allowed_list() -> None:
    locator = Locator({"a": ["x", "y"], "b": ["x"], "c": ["x", "y"]}, dead={"c"})
    assert live_agents_for(locator, ["x"]) == ["a", "b"]
    assert live_agents_for(locator, ["x", "y"]) == ["a"]
    assert live_agents_for(locator, ["x"], among=["b", "c"]) == ["b"]
    assert live_agents_for(locator, ["z"]) == []


def test_a_retry_prefers_an_agent_not_tried() -> None:
    assert choose_agent([], []) is None
    assert choose_agent(["a", "b"], [], turn=1) == "b"
    assert choose_agent(["a", "b"], ["a"], turn=0) == "b"
    assert choose_agent(["a", "b"], ["a", "b"]) == "a"
    assert choose_agent(["a", "b"], ["a", "b", "a"]) == "b"
    assert choose_agent(["a"], ["a", None]) == "a"
