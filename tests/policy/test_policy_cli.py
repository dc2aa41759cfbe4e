"""`policy-engine validate` as a user runs it: exit codes, text and JSON output, directories, --strict.

A few tests run the installed console script in a subprocess (what CI runs); the many malformed inputs go
through typer's CliRunner in-process to keep the suite fast. No input, however broken, may end in a
Python traceback.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.policy.validate import validate_paths
from tests.policy.helpers import FILE, MINIMAL, at, change, console_script
from tests.policy.test_policy_baselines import LOOSENINGS, extending
from tests.policy.test_policy_errors import CASES, SYNTAX

pytestmark = pytest.mark.usefixtures("in_tmp")

LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>[1-9]\d*):(?P<col>[1-9]\d*): (?P<sev>error|warning): "
                  r"(?P<path>[^:]+): (?P<msg>.+)$")
CHANNEL_TYPO = change('  channel = "sms"', '  channel = "smss"')
WIDER_HOURS = change('start = "09:00"', 'start = "07:00"')
DPD_GAP = change("dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 59 }")


def invoke(*args: str):  # noqa: ANN201  (click's Result)
    return CliRunner().invoke(app, list(args))


def write(text: str, name: str = FILE) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return name


# ---------------------------------------------------------------------- the real console script
@pytest.fixture(scope="module")
def script_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Two runs of the installed console script, started together (each pays ~1 s of imports)."""
    good = tmp_path_factory.mktemp("good")
    (good / FILE).write_text(MINIMAL, encoding="utf-8")
    bad = tmp_path_factory.mktemp("bad")
    for name, text in [("a_typo.toml", CHANNEL_TYPO), ("b_wider.toml", WIDER_HOURS),
                       ("c_syntax.toml", '[policy]\nid = "a\n'), ("d_empty.toml", "")]:
        (bad / name).write_text(text, encoding="utf-8")
    (bad / "e_binary.toml").write_bytes(b"\xff\xfe\x00[policy]")
    procs = {
        "good": subprocess.Popen([console_script(), "validate", FILE], cwd=good, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        "bad": subprocess.Popen([console_script(), "validate", *sorted(p.name for p in bad.glob("*.toml"))],
                                cwd=bad, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
    }
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        out[key] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


def test_console_script_valid_policy_exits_0(script_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = script_runs["good"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "ok  policy.toml  test-bank 1\n1 file checked, 0 invalid\n"
    assert result.stderr == ""


def test_console_script_invalid_policies_exit_3_with_located_lines_and_no_traceback(
        script_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = script_runs["bad"]
    assert result.returncode == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == ""
    typo = at(CHANNEL_TYPO, 'channel = "smss"')
    hours = at(WIDER_HOURS, "contact_hours")
    assert result.stdout.splitlines() == [
        f"a_typo.toml:{typo.line}:{typo.column}: error: stages[0].actions[0].channel: unknown channel 'smss' — "
        "did you mean 'sms'? (registered channels: agent, email, legal, letter, sms, sms_apprise, voice, webhook)",
        "FAIL a_typo.toml: 1 problem",
        f"b_wider.toml:{hours.line}:{hours.column}: error: guardrails.contact_hours: widens contact hours to "
        "07:00-21:00; baseline cn allows only 08:00-22:00 (a policy may only tighten what it extends)",
        "    see policies/baselines/cn.toml:16:1",
        "FAIL b_wider.toml: 1 problem",
        "c_syntax.toml:2:6: error: TOML syntax error: text not closed: the closing quote is missing at the end "
        "of the line",
        "FAIL c_syntax.toml: 1 problem",
        "d_empty.toml:1:1: error: policy: missing the [policy] table (id, version, extends, ...)",
        "FAIL d_empty.toml: 1 problem",
        "e_binary.toml:1:1: error: this is UTF-16 text, not UTF-8 (save the file as UTF-8)",
        "FAIL e_binary.toml: 1 problem",
        "5 files checked, 5 invalid",
    ]


def test_json_format() -> None:
    result = invoke("validate", "--format", "json", write(MINIMAL, "good.toml"), write(CHANNEL_TYPO, "bad.toml"))
    assert result.exit_code == 3
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["valid"] is False
    good, bad = data["files"]
    assert good["file"] == "good.toml" and good["valid"] is True and good["issues"] == []
    assert good["policy"]["id"] == "test-bank" and good["policy"]["version"] == "1"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", good["policy"]["digest"])
    assert bad["file"] == "bad.toml" and bad["valid"] is False and bad["policy"] is None
    where = at(CHANNEL_TYPO, 'channel = "smss"', file="bad.toml")
    assert bad["issues"] == [{
        "file": "bad.toml", "line": where.line, "column": where.column, "path": "stages[0].actions[0].channel",
        "severity": "error", "code": "unknown_channel", "message": "unknown channel 'smss' — did you mean 'sms'?",
        "hint": "registered channels: agent, email, legal, letter, sms, sms_apprise, voice, webhook", "related": [],
    }]


def test_json_of_a_valid_policy_exits_0() -> None:
    result = invoke("validate", "--format", "json", write(MINIMAL))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid"] is True


def test_json_lists_related_baseline_locations() -> None:
    data = json.loads(invoke("validate", "--format", "json", write(WIDER_HOURS)).stdout)
    [issue] = data["files"][0]["issues"]
    assert issue["code"] == "loosens_baseline"
    assert issue["related"] == ["policies/baselines/cn.toml:16:1"]


# ---------------------------------------------------------------------- every malformed input, in-process
MALFORMED = (
    [(f"case-{c.id}", c.text) for c in CASES if c.severity == "error"]
    + [(f"syntax-{s[0]}", s[1]) for s in SYNTAX]
    + [(f"loosen-{c.id}", change(c.old, c.new, extending(c.baseline))) for c in LOOSENINGS]
)


def test_at_least_45_distinct_malformed_policies() -> None:
    assert len({text for _, text in MALFORMED}) == len(MALFORMED) >= 45


def test_every_malformed_policy_fails_cleanly(in_tmp: Path) -> None:
    """All malformed policies in one run over a directory (one CliRunner call keeps the suite fast)."""
    for name, text in MALFORMED:
        write(text, f"malformed/{name}.toml")
    result = invoke("validate", "malformed")
    assert result.exit_code == 3
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{len(MALFORMED)} files checked, {len(MALFORMED)} invalid"
    failed = {m[1] for ln in lines if (m := re.fullmatch(r"FAIL malformed/(.+)\.toml: \d+ problems?", ln))}
    assert failed == {name for name, _ in MALFORMED}
    for ln in lines[:-1]:
        if ln.startswith(("FAIL ", "    see policies/baselines/")):
            continue
        m = LINE.match(ln) or re.match(r"^(?P<file>[^:\n]+):(?P<line>[1-9]\d*):(?P<col>[1-9]\d*): error: .+$", ln)
        assert m, f"not file:line:col: severity: path: message: {ln!r}"
        assert m["file"].startswith("malformed/") or m["file"] == "policies/baselines/cn.toml", ln


def _mutations() -> list[tuple[str, str]]:
    """Deterministic damage to the minimal policy: each line deleted, truncations, single-character edits."""
    lines = MINIMAL.split("\n")
    out = [(f"without-line-{i + 1}", "\n".join(lines[:i] + lines[i + 1:])) for i in range(len(lines))]
    out += [(f"truncated-at-{n}", MINIMAL[:n]) for n in range(0, len(MINIMAL), 53)]
    rnd = random.Random(20261128)
    for k in range(40):
        chars = list(MINIMAL)
        chars[rnd.randrange(len(chars))] = rnd.choice("\"'[]{}=,.\n#0a -")
        out.append((f"edit-{k}", "".join(chars)))
    return out


def test_damaged_policies_never_crash_and_never_point_at_line_0() -> None:
    for name, text in _mutations():
        Path(FILE).write_text(text, encoding="utf-8")
        [rep] = validate_paths([Path(FILE)])  # raises on any unexpected exception
        for issue in rep.issues:
            if issue.location.file == FILE:
                assert issue.location.line >= 1, f"{name}: {issue}"


# ---------------------------------------------------------------------- directories, --strict, usage errors
def test_directories_are_walked_recursively_in_order(in_tmp: Path) -> None:
    write(MINIMAL, "policies/a.toml")
    write(CHANNEL_TYPO, "policies/nested/deeper/b.toml")
    write("[[tests]]\nname = 'not a policy'\n", "policies/nested/a_test.toml")  # a test suite: skipped
    write("not toml at all", "policies/README.md")
    result = invoke("validate", "policies")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "ok  policies/a.toml  test-bank 1"
    assert lines[1].startswith("policies/nested/deeper/b.toml:")
    assert lines[2:] == ["FAIL policies/nested/deeper/b.toml: 1 problem", "2 files checked, 1 invalid"]


def test_directory_of_valid_policies_exits_0() -> None:
    write(MINIMAL, "p/one.toml")
    write(extending("uk-conc"), "p/two.toml")
    result = invoke("validate", "p")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 files checked, 0 invalid"


WARNINGS = {
    "dpd-gap": DPD_GAP,
    "dpd-overlap": change("dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 99 }"),
    "unreachable-segment": change('id = "standard"\n', 'id = "standard"\n\n[[segments]]\nid = "vip"\n'),
    "unreachable-stage": change("[[offers]]", '[[stages]]\nid = "late"\ndpd = { from = 120 }\n\n  [[stages.actions]]\n'
                                '  id = "late_letter"\n  channel = "letter"\n  once = true\n\n[[offers]]'),
}


@pytest.mark.parametrize("name", list(WARNINGS))
def test_warnings_pass_unless_strict(name: str) -> None:
    write(WARNINGS[name])
    plain = invoke("validate", FILE)
    assert plain.exit_code == 0, plain.output
    warnings = [ln for ln in plain.stdout.splitlines() if ": warning: " in ln]
    assert warnings and all(LINE.match(ln) for ln in warnings)
    n = len(warnings)
    assert f"ok  {FILE}  test-bank 1 ({n} warning{'s' if n > 1 else ''})" in plain.stdout
    strict = invoke("validate", "--strict", FILE)
    assert strict.exit_code == 3
    assert f"FAIL {FILE}: {n} problem{'s' if n > 1 else ''}" in strict.stdout
    as_json = json.loads(invoke("validate", "--strict", "--format", "json", FILE).stdout)
    assert as_json["valid"] is False and as_json["files"][0]["valid"] is False
    assert {i["severity"] for i in as_json["files"][0]["issues"]} == {"warning"}


def test_strict_on_a_clean_policy_exits_0() -> None:
    assert invoke("validate", "--strict", write(MINIMAL)).exit_code == 0


def test_unknown_format_is_a_usage_error() -> None:
    result = invoke("validate", "--format", "xml", write(MINIMAL))
    assert result.exit_code == 2
    assert result.stderr == "error: --format must be text or json, not 'xml'\n"


def test_missing_path() -> None:
    result = invoke("validate", "nowhere.toml")
    assert result.exit_code == 3
    assert result.stdout.splitlines()[0] == "nowhere.toml: error: no such file or directory"


def test_directory_without_policies() -> None:
    Path("empty").mkdir()
    result = invoke("validate", "empty")
    assert result.exit_code == 3
    assert result.stderr == "error: no policy files found in empty\n"
