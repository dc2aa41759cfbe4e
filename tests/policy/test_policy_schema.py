"""The published JSON Schema is current and describes the shipped files; every shipped policy validates clean.

jsonschema is not a dependency of the project (and is not installed in the venv). The schema is therefore
checked here with a small validator for the keywords pydantic emits ($ref, anyOf, type, properties,
additionalProperties, required, items, enum, minimum, maximum, exclusiveMinimum, pattern); when a Python
with jsonschema is found on the machine, the shipped baselines are also checked with the real library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.policy.source import read_test_file
from policy_engine.policy.validate import policy_schema, validate_paths
from tests.policy.helpers import MINIMAL, REPO

SCHEMA_FILE = REPO / "policies" / "policy.schema.json"
SHIPPED = sorted(p for p in (REPO / "policies").rglob("*.toml") if not p.name.endswith("_test.toml"))
SHIPPED_TESTS = sorted((REPO / "policies").rglob("*_test.toml"))
BASELINES = sorted((REPO / "policies" / "baselines").glob("*.toml"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


# ---------------------------------------------------------------------- the schema file is current
def test_schema_file_equals_schema_command_output() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "policies/policy.schema.json is stale: run `policy-engine schema --output policies/policy.schema.json`")


def test_schema_output_option_writes_the_same_text(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(app, ["schema", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(policy_schema()))


# ---------------------------------------------------------------------- a minimal JSON Schema validator
def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (the subset of JSON Schema pydantic emits)."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return schema_errors(value, root["$defs"][ref.split("/")[-1]], root, where)
    if "anyOf" in schema:
        options = [schema_errors(value, s, root, where) for s in schema["anyOf"]]
        if all(options):
            return [f"{where}: matches no alternative ({'; '.join(o[0] for o in options)})"]
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        return [f"{where}: expected {kind}, found {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > maximum {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {value} <= exclusiveMinimum {schema['exclusiveMinimum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors.extend(schema_errors(item, schema["items"], root, f"{where}[{i}]"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: missing required '{name}'")
        extra = schema.get("additionalProperties", True)
        for name in value if "propertyNames" in schema else ():
            errors.extend(schema_errors(name, schema["propertyNames"], root, f"{where}.{name} (key)"))
        for name, item in value.items():
            if name in props:
                errors.extend(schema_errors(item, props[name], root, f"{where}.{name}"))
            elif extra is False:
                errors.append(f"{where}: unexpected key '{name}'")
            elif isinstance(extra, dict):
                errors.extend(schema_errors(item, extra, root, f"{where}.{name}"))
    return errors


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema `policy-engine schema` prints (the file must equal it: see the tests above)."""
    return json.loads(json.dumps(policy_schema()))


def test_schema_uses_only_keywords_the_test_validator_understands(schema: dict[str, Any]) -> None:
    understood = {"$defs", "$ref", "$schema", "additionalProperties", "anyOf", "default", "description", "enum",
                  "exclusiveMinimum", "format", "items", "maximum", "minimum", "pattern", "properties", "propertyNames",
                  "required",
                  "title", "type"}
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.add(key)
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        walk(sub)
                elif key not in ("default", "enum"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert found <= understood, f"extend schema_errors() for: {sorted(found - understood)}"


@pytest.mark.parametrize("path", BASELINES, ids=_ids(BASELINES))
def test_schema_accepts_shipped_baseline(path: Path, schema: dict[str, Any]) -> None:
    data = _jsonable(tomllib.loads(path.read_text(encoding="utf-8")))
    assert schema_errors(data, schema, schema) == []


def test_schema_accepts_the_minimal_test_policy(schema: dict[str, Any]) -> None:
    assert schema_errors(_jsonable(tomllib.loads(MINIMAL)), schema, schema) == []


@pytest.mark.parametrize(("toml", "expected"), [
    ('[policy]\nid = "a"\nextnds = []\n', "$.policy: unexpected key 'extnds'"),
    ('[policy]\nversion = "1"\n', "$.policy: missing required 'id'"),
    ('[policy]\nid = "a"\n[guardrails]\ncontact_hours = { start = "8:30", end = "21:00" }\n',
     "$.guardrails.contact_hours.start: '8:30' does not match"),
    ('[policy]\nid = "a"\n[[stages]]\nid = "s"\ndpd = { from = -1 }\n', "$.stages[0].dpd.from: -1 < minimum 0"),
    ('[policy]\nid = "a"\n[[offers]]\nid = "o"\nkind = "instalment"\n', "$.offers[0].kind: 'instalment' not in"),
])
def test_schema_rejects_malformed_data(toml: str, expected: str, schema: dict[str, Any]) -> None:
    """The test validator is not vacuous: the schema rejects what the language rejects."""
    errors = schema_errors(_jsonable(tomllib.loads(toml)), schema, schema)
    assert any(expected in e for e in errors), errors


def _python_with_jsonschema() -> str | None:
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    for candidate in (shutil.which("python3", path=path), "/usr/bin/python3", "/usr/local/bin/python3"):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import jsonschema"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return candidate
    return None


def test_real_jsonschema_accepts_shipped_baselines_and_the_minimal_policy(tmp_path: Path) -> None:
    try:
        import jsonschema  # noqa: F401
        python = sys.executable
    except ImportError:
        python = _python_with_jsonschema()
    if python is None:
        pytest.skip("no Python with jsonschema on this machine (the minimal validator above still ran)")
    docs = {p.name: _jsonable(tomllib.loads(p.read_text(encoding="utf-8"))) for p in BASELINES}
    docs["minimal.toml"] = _jsonable(tomllib.loads(MINIMAL))
    (tmp_path / "docs.json").write_text(json.dumps(docs), encoding="utf-8")
    (tmp_path / "schema.json").write_text(json.dumps(policy_schema()), encoding="utf-8")
    script = (
        "import json, sys, jsonschema\n"
        "schema = json.load(open(sys.argv[1], encoding='utf-8'))\n"
        "jsonschema.Draft202012Validator.check_schema(schema)\n"
        "v = jsonschema.Draft202012Validator(schema)\n"
        "bad = {n: [e.message for e in v.iter_errors(d)] for n, d in json.load(open(sys.argv[2])).items()}\n"
        "print(json.dumps({n: e for n, e in bad.items() if e}))\n"
    )
    result = subprocess.run([python, "-c", script, str(tmp_path / "schema.json"), str(tmp_path / "docs.json")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}


# ---------------------------------------------------------------------- every shipped file validates clean
@pytest.mark.parametrize("path", SHIPPED, ids=_ids(SHIPPED))
def test_shipped_policy_validates_clean(path: Path) -> None:
    [rep] = validate_paths([path])
    assert rep.issues == [], "\n".join(str(i) for i in rep.issues)
    assert rep.ok(strict=True)


@pytest.mark.parametrize("path", SHIPPED_TESTS, ids=_ids(SHIPPED_TESTS))
def test_shipped_test_suite_parses(path: Path) -> None:
    tests, _, _ = read_test_file(path)
    assert tests.tests, f"{path} holds no [[tests]]"


def test_packaged_baselines_match_the_source_tree() -> None:
    """An installed wheel resolves baseline:NAME from policy_engine/baselines: it must be the same text."""
    packaged = REPO / "policy_engine" / "baselines"
    assert sorted(p.name for p in packaged.glob("*.toml")) == [p.name for p in BASELINES]
    for src in BASELINES:
        assert (packaged / src.name).read_bytes() == src.read_bytes(), f"{src.name} differs from the packaged copy"
