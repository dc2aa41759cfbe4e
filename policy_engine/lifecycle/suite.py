"""Run a policy's test suite: the ``[[tests]]`` embedded in the policy and those of its ``NAME_test.toml``.

A test case gives an account, its history, an instant (``as_of``) and what must happen::

    [[tests]]
    name = "mid-stage account gets the arrears letter"
    as_of = 2026-11-28T09:00:00+08:00
    account = { account_id = "T1", balance = 5000, delinquent_since = 2026-10-20, contact.address = "..." }
    history = [ { type = "contact", at = 2026-11-20T10:00:00+08:00, channel = "sms", outcome = "sent" } ]
    expect.stage = "mid"
    expect.actions = ["arrears_letter", { action = "mid_call", channel = "voice" }]
    expect.suppressed = [{ action = "mid_sms", reason = "cadence" }]

Matching rules:

* ``expect.actions``: the planned actions, by action id (``channel`` and ``send_at`` compared when given).
  The actual list must equal it as a set: an action that is not listed must not be planned.
* ``expect.suppressed``: the suppressions as (action, reason) pairs, matched exactly as a set.
* A list that is omitted is not checked. ``segment``, ``stage`` and ``holds`` are compared when given
  (``stage = "none"`` / ``segment = "none"`` expect that nothing matched; ``holds`` is a set).
* ``account`` is validated like an input record, each ``history`` item like a history event (its
  ``account_id`` defaults to the account's; the account's ``account_id`` defaults to ``"test"``). Unknown
  keys are errors, as everywhere in a policy file. Invalid test data raises :class:`TestDataError`
  (a :class:`~policy_engine._exceptions.PolicyError`, exit 3) with one located issue per problem.
* ``days = N`` makes the case a simulated span of N local days from ``as_of`` (each day evaluated at
  ``as_of``'s local wall time, every planned action assumed delivered and fed back into the history; see
  :mod:`policy_engine.lifecycle.simulate`). Then ``expect.actions`` is every action planned on any day of the span,
  ``expect.suppressed`` every (action, reason) on any day, and ``segment``, ``stage`` and ``holds`` are
  those of the last day. Without :mod:`policy_engine.lifecycle.simulate` a span fails clearly as not supported.

This module never prints; :mod:`policy_engine.cli.test_cmd` renders its results.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policy_engine._exceptions import Issue, Location, PolicyError, PolicyValidationError
from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import (
    NESTED_GROUPS,
    Account,
    HistoryEvent,
    describe_validation_error,
    unknown_fields,
)
from policy_engine.decide.decision import Decision, PlannedAction, Suppression
from policy_engine.decide.engine import Engine
from policy_engine.decide.rules import DEFAULT_BACKEND
from policy_engine.guardrails import REASONS
from policy_engine.lifecycle.coverage import Coverage, measure
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.errors import format_path
from policy_engine.policy.loader import LoadedPolicy, load_policy
from policy_engine.policy.locate import PositionIndex
from policy_engine.policy.models import ExpectedAction, ExpectedSuppression, PolicyTest
from policy_engine.policy.source import display_path, read_test_file
from policy_engine.policy.suggest import allowed_list, did_you_mean

__all__ = [
    "CaseResult",
    "Mismatch",
    "RunReport",
    "SuiteResult",
    "SuiteTarget",
    "TEST_SUFFIX",
    "TestCase",
    "TestDataError",
    "collect_targets",
    "compare",
    "failure_lines",
    "load_cases",
    "run_case",
    "run_paths",
    "run_suite",
    "sibling_test_file",
]

TEST_SUFFIX = "_test.toml"
DEFAULT_ACCOUNT_ID = "test"
NOTHING = "none"


class TestDataError(PolicyValidationError):
    """A test case's account, history or expectation is invalid (located issues; exit 3)."""

    __test__ = False  # not a pytest class


# ------------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class TestCase:
    """One validated test case, with where it is written."""

    __test__ = False  # not a pytest class

    test: PolicyTest
    account: Account
    history: tuple[HistoryEvent, ...]
    file: str
    line: int

    @property
    def name(self) -> str:
        """The test's name."""
        return self.test.name

    @property
    def location(self) -> str:
        """``file:line`` of the test's ``[[tests]]`` header."""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold: what was compared, expected vs actual, and the set difference."""

    what: str
    expected: Any
    actual: Any
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    detail: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"what": self.what, "expected": self.expected, "actual": self.actual,
                "missing": list(self.missing), "unexpected": list(self.unexpected), "detail": list(self.detail)}


@dataclass
class CaseResult:
    """The outcome of one test case."""

    case: TestCase
    mismatches: list[Mismatch] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    """Every decision the case made: one at ``as_of``, or one per simulated day."""
    error: str | None = None
    decision: Decision | None = None
    """The decision to explain: the only one, or for a span the first day that did something unexpected
    (else the last day)."""
    timeline: list[str] = field(default_factory=list)
    """For a simulated span: one line per day (planned and suppressed actions)."""

    @property
    def passed(self) -> bool:
        """True when every expectation held and nothing went wrong."""
        return not self.mismatches and self.error is None

    def to_dict(self, explain: bool = True) -> dict[str, Any]:
        """JSON-ready form; failures carry the decision with its trace."""
        data: dict[str, Any] = {"name": self.case.name, "file": self.case.file, "line": self.case.line,
                                "status": "pass" if self.passed else "fail"}
        if not self.passed:
            data["mismatches"] = [m.to_dict() for m in self.mismatches]
            data["error"] = self.error
            if self.timeline:
                data["timeline"] = self.timeline
            if self.decision is not None:
                data["decision"] = self.decision.to_dict(explain=explain)
        return data


@dataclass(frozen=True)
class SuiteTarget:
    """A policy to test, and the sibling test file found (or named) for it."""

    policy: Path
    test_file: Path | None


@dataclass
class SuiteResult:
    """A policy's suite: its cases' results and the rule coverage they reached."""

    policy_path: str
    loaded: LoadedPolicy
    results: list[CaseResult]
    coverage: Coverage

    @property
    def exempt(self) -> bool:
        """True for a baseline: reported, but not held to a coverage threshold."""
        return self.loaded.source.model.policy.kind == "baseline"

    @property
    def passed(self) -> int:
        """Number of passing cases."""
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        """Number of failing cases."""
        return sum(not r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"policy": self.policy_path, "id": self.loaded.id, "version": self.loaded.version,
                "passed": self.passed, "failed": self.failed,
                "tests": [r.to_dict() for r in self.results], "coverage": self.coverage.to_dict()}


@dataclass
class RunReport:
    """Every suite run for a list of paths, and every policy or test file that could not be used."""

    suites: list[SuiteResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    """(policy path, why) of each suite that did not run: ``"policy"`` invalid, or ``"tests"`` data invalid."""

    @property
    def passed(self) -> int:
        """Passing cases over every suite."""
        return sum(s.passed for s in self.suites)

    @property
    def failed(self) -> int:
        """Failing cases over every suite."""
        return sum(s.failed for s in self.suites)

    def below(self, threshold: float) -> list[SuiteResult]:
        """The suites whose coverage is below ``threshold`` percent.

        Baselines (``kind = "baseline"``) are not held to a threshold: their rules are exercised through
        the policies that extend them, so walking ``policies/`` does not fail on them.
        """
        return [s for s in self.suites if not s.exempt and not s.coverage.meets(threshold)]


# ---------------------------------------------------------------------------------------- discovery
def sibling_test_file(policy: Path) -> Path:
    """``NAME_test.toml`` next to ``NAME.toml``."""
    return policy.with_name(policy.stem + TEST_SUFFIX)


def _policy_of(test_file: Path) -> Path:
    return test_file.with_name(test_file.name[: -len(TEST_SUFFIX)] + ".toml")


_NEAR_MISS = re.compile(r"^(?:tests?[_.-](?P<before>.+)|(?P<after>.+?)(?:[.-]tests?|_tests|_Test|_TEST))\.toml$")


def misnamed_test_file(file: Path) -> Path | None:
    """The policy a file's name says it tests, when the name only nearly follows ``NAME_test.toml``
    (``bank-test.toml``, ``bank.test.toml``, ``bank_tests.toml``, ``test_bank.toml``) and ``bank.toml``
    is next to it; else None."""
    match = _NEAR_MISS.match(file.name)
    if match is None:
        return None
    policy = file.with_name((match.group("before") or match.group("after")) + ".toml")
    return policy if policy.is_file() else None


def collect_targets(paths: Iterable[str | Path]) -> tuple[list[SuiteTarget], list[Issue]]:
    """The suites named by files and directories, in a stable order, and the paths that name none.

    A directory is walked for ``*.toml`` (sorted); ``*_test.toml`` files are picked up as siblings of their
    policy. A ``*_test.toml`` named directly runs against its sibling policy. A test file without a
    policy next to it is an issue: its tests would otherwise never run.
    """
    targets: dict[Path, SuiteTarget] = {}
    issues: list[Issue] = []

    def add(policy: Path) -> None:
        key = policy.resolve()
        if key not in targets:
            test = sibling_test_file(policy)
            targets[key] = SuiteTarget(policy, test if test.is_file() else None)

    def misnamed(test_file: Path, policy: Path) -> None:
        wanted = sibling_test_file(policy).name
        issues.append(Issue(Location(display_path(test_file), 1, 1), "",
                            f"this looks like the tests of {policy.name}, but tests are found only in a file named "
                            f"{wanted}", hint=f"rename {test_file.name} to {wanted}", code="misnamed_test_file"))

    def orphan(test_file: Path) -> None:
        issues.append(Issue(Location(display_path(test_file), 1, 1), "",
                            f"test file without a policy: expected {_policy_of(test_file).name} next to it",
                            code="orphan_test_file"))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.toml") if f.name != "pyproject.toml")
            for f in found:
                if f.name.endswith(TEST_SUFFIX):
                    if not _policy_of(f).is_file():
                        orphan(f)
                elif (tested := misnamed_test_file(f)) is not None:
                    misnamed(f, tested)
                else:
                    add(f)
        elif p.name.endswith(TEST_SUFFIX) and p.is_file():
            if _policy_of(p).is_file():
                add(_policy_of(p))
            else:
                orphan(p)
        elif p.is_file() and (tested := misnamed_test_file(p)) is not None:
            misnamed(p, tested)
        elif p.is_file():
            add(p)
        else:
            issues.append(Issue(Location(str(raw)), "", "no such file or directory", code="not_found"))
    return list(targets.values()), issues


# --------------------------------------------------------------------------------------- validation
def _issue(file: str, index: PositionIndex, path: tuple[str | int, ...], message: str, code: str,
           hint: str | None = None) -> Issue:
    line, col = index.find(path)
    return Issue(Location(file, line, col), format_path(path), message, code=code, hint=hint)


def _record(model: type[Account] | type[HistoryEvent], data: Any, file: str, index: PositionIndex,
            at: tuple[str | int, ...], what: str) -> tuple[Any, list[Issue]]:
    if not isinstance(data, dict):
        return None, [_issue(file, index, at, f"{what} must be a table", "test_data")]
    issues = []
    for key in unknown_fields(model, data):
        group, _, sub = key.rpartition(".")
        sub_model = NESTED_GROUPS.get(group) if group else model
        known = list(sub_model.model_fields) if sub_model is not None else []
        issues.append(_issue(file, index, at + tuple(key.split(".")),
                             f"unknown {what} field '{key}'{did_you_mean(sub, known)}", "test_data",
                             f"allowed here: {allowed_list(known)}" if known else None))
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        where = at + tuple(p for p in first if isinstance(p, (str, int)))
        issues.append(_issue(file, index, where, f"invalid {what}: {describe_validation_error(exc)}", "test_data"))
        return None, issues
    return record, issues


@dataclass(frozen=True)
class _PolicyNames:
    """The ids a test may name: the policy's actions, segments, stages and holds."""

    actions: frozenset[str]
    segments: frozenset[str]
    stages: frozenset[str]
    holds: frozenset[str]

    @classmethod
    def of(cls, loaded: LoadedPolicy) -> _PolicyNames:
        """The names of one loaded policy (``none`` is a segment and a stage; ``promise_active`` a hold)."""
        policy = loaded.policy
        actions = {action.id for stage in policy.stages for action in stage.actions}
        if policy.escalation.broken_promise is not None:
            actions.add(policy.escalation.broken_promise.action.id)
        return cls(frozenset(actions), frozenset({segment.id for segment in policy.segments} | {NOTHING}),
                   frozenset({stage.id for stage in policy.stages} | {NOTHING}),
                   frozenset({hold.id for hold in policy.holds} | {"promise_active"}))


def _check_expectation(test: PolicyTest, loaded: LoadedPolicy, file: str, index: PositionIndex,
                       at: tuple[str | int, ...]) -> list[Issue]:
    """Every id an expectation names exists in the policy; every expected ``send_at`` has an offset."""
    names = _PolicyNames.of(loaded)
    expected = test.expect
    issues: list[Issue] = []

    def unknown(what: str, value: str, known: frozenset[str] | tuple[str, ...], where: tuple[str | int, ...],
                code: str, hint: str | None = None) -> None:
        issues.append(_issue(file, index, at + ("expect", *where), f"unknown {what} '{value}'"
                             f"{did_you_mean(value, known)}", code, hint))

    for position, action in enumerate(expected.actions or []):
        if action.action not in names.actions:
            unknown("action", action.action, names.actions, ("actions", position), "unknown_action")
        if action.send_at is not None and action.send_at.tzinfo is None:
            issues.append(_issue(file, index, at + ("expect", "actions", position, "send_at"),
                                 "send_at needs a UTC offset, e.g. 2026-11-28T09:00:00+08:00", "test_data"))
    for position, suppression in enumerate(expected.suppressed or []):
        if suppression.action not in names.actions:
            unknown("action", suppression.action, names.actions, ("suppressed", position), "unknown_action")
        if suppression.reason not in REASONS and ":" not in suppression.reason:
            unknown("reason", suppression.reason, REASONS, ("suppressed", position, "reason"), "unknown_reason",
                    f"reasons: {allowed_list(REASONS)}")
    if expected.segment is not None and expected.segment not in names.segments:
        unknown("segment", expected.segment, names.segments, ("segment",), "unknown_segment")
    if expected.stage is not None and expected.stage not in names.stages:
        unknown("stage", expected.stage, names.stages, ("stage",), "unknown_stage")
    for position, hold in enumerate(expected.holds or []):
        if hold not in names.holds:
            unknown("hold", hold, names.holds, ("holds", position), "unknown_hold")
    return issues


def _cases(tests: list[PolicyTest], loaded: LoadedPolicy, file: str, index: PositionIndex,
           issues: list[Issue]) -> Iterator[TestCase]:
    for i, test in enumerate(tests):
        at: tuple[str | int, ...] = ("tests", i)
        line = index.find(at)[0]
        found: list[Issue] = []
        data = dict(test.account)
        data.setdefault("account_id", DEFAULT_ACCOUNT_ID)
        account_id = data["account_id"]
        account, errs = _record(Account, data, file, index, at + ("account",), "account")
        found += errs
        events: list[HistoryEvent] = []
        for j, raw in enumerate(test.history):
            item = dict(raw) if isinstance(raw, dict) else raw
            if isinstance(item, dict):
                item.setdefault("account_id", account_id)
                if item["account_id"] != account_id:
                    found.append(_issue(file, index, at + ("history", j, "account_id"),
                                        f"history event of account '{item['account_id']}', but the test's account "
                                        f"is '{account_id}'", "test_data"))
                    continue
            event, errs = _record(HistoryEvent, item, file, index, at + ("history", j), "history event")
            found += errs
            if event is not None:
                events.append(event)
        found += _check_expectation(test, loaded, file, index, at)
        issues.extend(found)
        if not found and account is not None:
            yield TestCase(test, account, tuple(sorted(events, key=lambda e: e.at)), file, line)


def load_cases(loaded: LoadedPolicy, test_file: Path | None = None) -> list[TestCase]:
    """The validated cases of a policy: embedded ``[[tests]]`` first, then those of ``test_file``.

    Raises :class:`TestDataError` listing every invalid case, or a PolicyError when the test file does
    not parse.
    """
    issues: list[Issue] = []
    src = loaded.source
    cases = list(_cases(src.model.tests, loaded, src.display, src.index, issues))
    if test_file is not None:
        try:
            model, index, display = read_test_file(test_file)
        except PolicyError as exc:  # the test file itself does not parse or has unknown keys
            raise TestDataError(exc.issues) from None
        cases += _cases(model.tests, loaded, display, index, issues)
    if issues:
        raise TestDataError(sorted(issues, key=lambda i: (i.location.file != src.display, i.location)))
    return cases


# ------------------------------------------------------------------------------------------ matching
def compare(test: PolicyTest, decision: Decision) -> list[Mismatch]:
    """What of ``test.expect`` does not hold in ``decision`` (empty when the test passes)."""
    expected = test.expect
    found = [
        _compare_name("segment", expected.segment, decision.segment),
        _compare_name("stage", expected.stage, decision.stage),
        _compare_sets("holds", expected.holds, decision.holds),
        _compare_actions(expected.actions, decision.actions) if expected.actions is not None else None,
        _compare_sets("suppressed", _suppression_labels(expected.suppressed),
                      _suppression_labels(decision.suppressed) or []),
    ]
    return [mismatch for mismatch in found if mismatch is not None]


def _compare_name(what: str, expected: str | None, actual: str | None) -> Mismatch | None:
    """A segment or stage: the expected id (or ``none``) against the decision's."""
    shown = actual or NOTHING
    if expected is None or expected == shown:
        return None
    return Mismatch(what, expected, shown)


def _compare_sets(what: str, expected: Iterable[str] | None, actual: Iterable[str]) -> Mismatch | None:
    """Two sets of labels (holds, suppressions): what is missing and what is unexpected."""
    if expected is None:
        return None
    wanted, got = set(expected), set(actual)
    if wanted == got:
        return None
    return Mismatch(what, sorted(wanted), sorted(got), tuple(sorted(wanted - got)), tuple(sorted(got - wanted)))


def _suppression_labels(suppressions: Iterable[ExpectedSuppression | Suppression] | None) -> list[str] | None:
    """Suppressions as ``action (reason)`` labels, the form a test writes and a failure shows."""
    if suppressions is None:
        return None
    return [f"{suppression.action} ({suppression.reason})" for suppression in suppressions]


def _compare_actions(expected: list[ExpectedAction], actual: list[PlannedAction]) -> Mismatch | None:
    """Planned actions: the ids, then the channel and ``send_at`` of each expected action that is planned."""
    wanted_ids = {action.action for action in expected}
    got_ids = {action.action for action in actual}
    details: list[str] = []
    for wanted in expected:
        planned = [action for action in actual if action.action == wanted.action]
        if planned:
            details.extend(_action_details(wanted, planned))
    missing, unexpected = tuple(sorted(wanted_ids - got_ids)), tuple(sorted(got_ids - wanted_ids))
    if not (missing or unexpected or details):
        return None
    return Mismatch("actions", sorted(wanted_ids), sorted(got_ids), missing, unexpected, tuple(details))


def _action_details(wanted: ExpectedAction, planned: list[PlannedAction]) -> list[str]:
    """How the planned copies of one expected action differ from it in channel or send time."""
    details: list[str] = []
    if wanted.channel is not None and all(action.channel != wanted.channel for action in planned):
        details.append(f"{wanted.action}: channel expected {wanted.channel}, actual "
                       f"{', '.join(sorted({action.channel for action in planned}))}")
    if wanted.send_at is not None and all(action.send_at != wanted.send_at for action in planned):
        details.append(f"{wanted.action}: send_at expected {wanted.send_at.isoformat()}, actual "
                       f"{', '.join(sorted(action.send_at.isoformat() for action in planned))}")
    return details


def failure_lines(result: CaseResult) -> list[str]:
    """A failing case as plain text lines: the error, or expected vs actual with missing / unexpected."""
    lines: list[str] = []
    if result.error:
        lines.append(f"error: {result.error}")
    for m in result.mismatches:
        if m.what in ("segment", "stage"):
            lines.append(f"{m.what}: expected {m.expected}, actual {m.actual}")
            continue
        lines.append(f"{m.what}:")
        lines.append(f"  expected:   {', '.join(m.expected) if m.expected else '(none)'}")
        lines.append(f"  actual:     {', '.join(m.actual) if m.actual else '(none)'}")
        if m.missing:
            lines.append(f"  missing:    {', '.join(m.missing)}")
        if m.unexpected:
            lines.append(f"  unexpected: {', '.join(m.unexpected)}")
        lines.extend(f"  {d}" for d in m.detail)
    if result.timeline and result.mismatches:
        lines.append("days:")
        lines.extend(f"  {t}" for t in result.timeline)
    d = result.decision
    if d is not None and result.mismatches:
        if result.timeline:
            lines.append(f"explained day: {d.as_of.isoformat()}")
        lines.append(f"decision: DPD {d.dpd}, segment {d.segment or NOTHING}, stage {d.stage or NOTHING}, "
                     f"holds {', '.join(d.holds) or NOTHING}")
    return lines


# ------------------------------------------------------------------------------------------- running
def _simulator() -> Any:
    """``policy_engine.lifecycle.simulate`` when that module exists with a ``simulate`` function, else None."""
    if importlib.util.find_spec("policy_engine.lifecycle.simulate") is None:
        return None
    module = importlib.import_module("policy_engine.lifecycle.simulate")
    return module if callable(getattr(module, "simulate", None)) else None


def _span_decision(days: list[Decision]) -> Decision:
    """What a span is compared with: every action planned and every suppression on any day; segment,
    stage and holds of the last day."""
    last = days[-1]
    return replace(last, actions=[a for d in days for a in d.actions],
                   suppressed=[s for d in days for s in d.suppressed],
                   offers=sorted({o for d in days for o in d.offers}), trace=None)


def _day_line(d: Decision) -> str:
    planned = ", ".join(f"{a.action} ({a.channel})" for a in d.actions) or "-"
    stopped = ", ".join(f"{s.action} ({s.reason})" for s in d.suppressed)
    return (f"{d.as_of.isoformat()} DPD {d.dpd} {d.stage or NOTHING}: {planned}"
            + (f"; suppressed {stopped}" if stopped else ""))


def _focus(days: list[Decision], mismatches: list[Mismatch]) -> Decision:
    unexpected = {u for m in mismatches for u in m.unexpected}
    for d in days:
        found = {a.action for a in d.actions} | {f"{s.action} ({s.reason})" for s in d.suppressed}
        if found & unexpected:
            return d
    return days[-1]


def _run_span(engine: Engine, case: TestCase) -> CaseResult:
    module = _simulator()
    days = case.test.days or 1
    if module is None:
        return CaseResult(case, error=f"simulated spans (days = {days}) are not supported yet: "
                                      "policy_engine.lifecycle.simulate is not available; use as_of without days")
    start, at = module.start_of(case.test.as_of, engine.zone_of(case.account))
    index = HistoryIndex.from_events(case.history)
    steps = list(module.simulate(engine, [case.account], index, start, days, at, explain=True))
    decisions: list[Decision] = [step.decision for step in steps]
    if not decisions:
        return CaseResult(case, error="the simulation made no decision")
    mismatches = compare(case.test, _span_decision(decisions))
    focus = _focus(decisions, mismatches)
    return CaseResult(case, mismatches, decisions, decision=focus, timeline=[_day_line(d) for d in decisions])


def run_case(engine: Engine, case: TestCase) -> CaseResult:
    """Decide for the case's account at ``as_of`` (or simulate its span) and compare with its expectations."""
    try:
        if case.test.days is not None:
            return _run_span(engine, case)
        decision = engine.decide(case.account, case.history, case.test.as_of, explain=True)
    except Exception as exc:  # an engine failure fails the case; it never becomes a traceback
        return CaseResult(case, error=f"the engine failed: {type(exc).__name__}: {exc}")
    return CaseResult(case, compare(case.test, decision), [decision], decision=decision)


def run_suite(policy: str | Path, test_file: Path | None = None, *, backend: str = DEFAULT_BACKEND,
              loaded: LoadedPolicy | None = None, channels: ChannelCatalogue | None = None) -> SuiteResult:
    """Load ``policy`` (against ``channels``; None: the built-in channels), run its embedded tests and those
    of ``test_file`` (default: its sibling), measure coverage. Raises a PolicyError when the policy, the
    test file or a test's data is invalid."""
    path = Path(policy)
    loaded = loaded or load_policy(path, channels=channels)
    if test_file is None:
        sibling = sibling_test_file(path)
        test_file = sibling if sibling.is_file() else None
    cases = load_cases(loaded, test_file)
    engine = Engine(loaded, backend)
    results = [run_case(engine, c) for c in cases]
    coverage = measure(loaded, (d for r in results for d in r.decisions))
    return SuiteResult(display_path(path), loaded, results, coverage)


def run_paths(paths: Iterable[str | Path], *, backend: str = DEFAULT_BACKEND,
              channels: ChannelCatalogue | None = None) -> RunReport:
    """Run every suite below ``paths`` (policies loaded against ``channels``; None: the built-in channels);
    never raises for a broken policy or test file (see ``issues``)."""
    targets, issues = collect_targets(paths)
    report = RunReport(issues=list(issues))
    for t in targets:
        try:
            report.suites.append(run_suite(t.policy, t.test_file, backend=backend, channels=channels))
        except TestDataError as exc:
            report.issues.extend(exc.issues)
            report.invalid.append((display_path(t.policy), "tests"))
        except PolicyError as exc:
            report.issues.extend(exc.issues)
            report.invalid.append((display_path(t.policy), "policy"))
    return report
