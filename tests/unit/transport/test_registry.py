"""The Avro schemas have one source, schemas/ at the repository root, and the package ships and loads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from a2a_fast.codecs.avro import Codec
from a2a_fast.errors import SchemaError
from a2a_fast.protocol.kinds import MESSAGE_KINDS
from a2a_fast.transport import registry
from a2a_fast.transport.registry import SCHEMA_DIR, default_schemas, full_name
from tests.conftest import REPO, SCHEMAS

BUILD_DIRS = {"target", "dist", "build"}
"""Build outputs at the root, which hold copies by design (git ignores them)."""
EARLIER_VERSIONS = REPO / "tests" / "fixtures" / "schemas"
"""Earlier versions of the schemas, kept as test fixtures to run agents built against them: not live schemas."""


def schema_files() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(SCHEMAS.glob("*.avsc"))}


def test_every_schema_lives_in_schemas_at_the_root() -> None:
    copies = []
    for folder, subfolders, files in os.walk(REPO):
        here = Path(folder)
        subfolders[:] = [
            name for name in subfolders if not name.startswith(".") and not (here == REPO and name in BUILD_DIRS)
        ]
        copies += [here / name for name in files if name.endswith(".avsc") and here not in (SCHEMAS, EARLIER_VERSIONS)]
    assert not copies, f"schemas outside {SCHEMAS}, edit the one there instead: {copies}"
    # the package's folder is a link to the root one, so that the wheel can ship it as a2a_fast/schemas
    assert SCHEMA_DIR.is_symlink() or not SCHEMA_DIR.is_relative_to(REPO)


def test_the_package_loads_a_schema_for_every_message_kind_from_that_source() -> None:
    schemas = default_schemas()
    assert set(schemas) == set(MESSAGE_KINDS)
    files = schema_files()
    assert {spec.schema_file for spec in MESSAGE_KINDS.values()} == set(files), "a schema file no message uses"
    for kind, text in schemas.items():
        assert text == files[MESSAGE_KINDS[kind].schema_file]
        assert Codec(text).name == full_name(text)


def test_a_package_without_its_schemas_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "SCHEMA_DIR", tmp_path)
    with pytest.raises(SchemaError, match=r"schemas cannot be read \(No such file or directory: .*\.avsc\)"):
        default_schemas()


def test_the_source_distribution_ships_the_schemas_inside_the_package(tmp_path: Path) -> None:
    # the wheel takes them from the same include rule, at a2a_fast/schemas/ (python-source stripped)
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which("maturin")
    assert maturin, "maturin (requirements/dev.txt) builds the package"
    built = subprocess.run(
        [maturin, "sdist", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    (archive,) = tmp_path.glob("*.tar.gz")
    shipped = {}
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            path = Path(member.name)
            if path.parent.relative_to(path.parts[0]) == Path("python/a2a_fast/schemas"):
                content = sdist.extractfile(member) if member.isfile() else None
                assert content is not None, f"{member.name}: not a regular file in the sdist"
                shipped[path.name] = content.read().decode()
    assert shipped == schema_files()


def enum_of(schema_text: str, field: str) -> dict[str, Any]:
    found = next(f for f in json.loads(schema_text)["fields"] if f["name"] == field)
    enum: dict[str, Any] = found["type"]
    return enum


def test_earlier_versions_are_fixtures_named_after_the_live_schema_they_precede() -> None:
    fixtures = sorted(EARLIER_VERSIONS.glob("*.avsc"))
    assert fixtures, f"no earlier schema versions in {EARLIER_VERSIONS}"
    live = schema_files()
    for path in fixtures:
        record, version, _ = path.name.split(".")
        assert version.startswith("v") and version[1:].isdigit(), f"{path.name}: expected <Record>.v<N>.avsc"
        text = path.read_text()
        assert full_name(text) == full_name(live[f"{record}.avsc"]), path.name
        Codec(text)


def test_task_status_grew_by_appending_and_unknown_symbols_read_as_its_default() -> None:
    v1 = enum_of((EARLIER_VERSIONS / "TaskResponse.v1.avsc").read_text(), "status")
    v2 = enum_of(schema_files()["TaskResponse.avsc"], "status")
    assert "default" not in v1, "the fixture is the schema as it was before CANCELED, without a default"
    assert v2["symbols"][: len(v1["symbols"])] == v1["symbols"], "symbols are only ever appended"
    assert {"CANCELING", "CANCELED"} <= set(v2["symbols"]) and v2["default"] == "UNKNOWN"
