"""Load a policy: read it, resolve `extends`, merge tighten-only, check it, and stamp a digest.

`extends` names a shipped baseline (``baseline:NAME``, a plain name looked up only in the baseline
folders) or a file by its path relative to the extending file. Resolution reads and merges each file of
the graph once, walking it with its own stack: linear in the files, at any depth.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from policy_engine._exceptions import (
    Issue,
    Location,
    PolicyError,
    PolicyResolutionError,
    PolicyValidationError,
)
from policy_engine.policy.channels import BUILTIN_CHANNELS, ChannelCatalogue
from policy_engine.policy.errors import visible
from policy_engine.policy.merge import guardrail_origins, merge_onto
from policy_engine.policy.models import PolicyFile
from policy_engine.policy.origins import OriginKey, Origins
from policy_engine.policy.source import SourceFile, read_source
from policy_engine.policy.suggest import allowed_list, did_you_mean

__all__ = ["LoadedPolicy", "baseline_dirs", "load_policy", "resolve_extends"]

BASELINE_PREFIX = "baseline:"
BASELINE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]*\Z")
"""What may follow ``baseline:``: a plain name, so the lookup never leaves the baseline folders."""


@dataclass
class LoadedPolicy:
    """A policy ready to evaluate: the effective model, where each limit came from, and its digest."""

    source: SourceFile
    policy: PolicyFile
    origins: Origins
    chain: list[SourceFile]
    digest: str
    warnings: list[Issue] = field(default_factory=list)
    channels: ChannelCatalogue = field(default_factory=lambda: BUILTIN_CHANNELS)
    """The channels the policy was checked against; the engine reads their kinds and contact points."""

    @property
    def id(self) -> str:
        """The policy id."""
        return self.policy.policy.id

    @property
    def version(self) -> str | None:
        """The policy version."""
        return self.policy.policy.version

    def stamp(self) -> dict[str, str | None]:
        """The `policy` object every decision carries."""
        return {"id": self.id, "version": self.version, "digest": self.digest}

    @functools.cached_property
    def sources(self) -> dict[OriginKey, str]:
        """Each limit's origin as decisions cite it in ``source``, computed once per loaded policy.

        Shipped baselines show as ``policies/baselines/NAME.toml``, other files relative to this policy's
        folder, so the same policy gives the same decisions from any working directory.
        """
        home = self.source.path.resolve().parent
        return {key: str(dataclasses.replace(origin, location=_stable_location(origin.location, home)))
                for key, origin in self.origins.items()}


def _stable_location(location: Location, home: Path) -> Location:
    if location.file.startswith("policies/baselines/"):
        return location
    path = Path(location.file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    return dataclasses.replace(location, file=os.path.relpath(absolute.resolve(), home))


def baseline_dirs() -> list[Path]:
    """Where `baseline:NAME` is looked up: the source tree's policies/baselines, then the packaged copy."""
    here = Path(__file__).resolve().parent.parent
    dirs = [here.parent / "policies" / "baselines", here / "baselines"]
    return [d for d in dirs if d.is_dir()]


def _available_baselines() -> list[str]:
    names: set[str] = set()
    for d in baseline_dirs():
        names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def resolve_extends(entry: str, src: SourceFile, index: int) -> Path:
    """The file an `extends` entry names, or a PolicyResolutionError located at the entry."""
    where = src.location("policy", "extends", index)
    if entry.startswith(BASELINE_PREFIX):
        name = entry[len(BASELINE_PREFIX):]
        if not BASELINE_NAME.match(name):
            raise PolicyResolutionError([Issue(where, f"policy.extends[{index}]",
                                               f"'{visible(name)}' is not a baseline name: a baseline is named by "
                                               "letters, "
                                               "digits, '-' and '_' only (no path)",
                                               hint=f"shipped baselines: {allowed_list(_available_baselines())}; "
                                                    "a file of your own is extended by its path, without "
                                                    "'baseline:'", code="invalid_baseline_name")])
        for d in baseline_dirs():
            candidate = d / f"{name}.toml"
            if candidate.is_file():
                return candidate
        names = _available_baselines()
        raise PolicyResolutionError([Issue(where, f"policy.extends[{index}]",
                                           f"unknown baseline '{visible(name)}'{did_you_mean(name, names)}",
                                           hint=f"shipped baselines: {allowed_list(names)}",
                                           code="unknown_baseline")])
    candidate = (src.path.parent / entry).resolve()
    if not candidate.is_file():
        raise PolicyResolutionError([Issue(where, f"policy.extends[{index}]",
                                           f"extends '{visible(entry)}', but no file exists at "
                                           f"{visible(str(candidate))}",
                                           hint="paths are relative to this file; shipped baselines are "
                                                "named like 'baseline:cn'", code="extends_not_found")])
    return candidate


def _display(path: Path) -> str | None:
    """Shipped baselines always display as policies/baselines/NAME.toml, wherever the command runs."""
    for d in baseline_dirs():
        if path.parent.resolve() == d.resolve():
            return f"policies/baselines/{path.name}"
    return None


@dataclass
class _Frame:
    """One file of the `extends` walk: its source, the entry being resolved, and what it extends so far."""

    src: SourceFile
    index: int = 0
    base: PolicyFile | None = None
    base_origins: Origins = field(default_factory=dict)

    def extends_location(self) -> Location:
        return self.src.location("policy", "extends", self.index)


def _cite_extends_lines(error: PolicyError, frames: list[_Frame]) -> None:
    """Name, on every issue of ``error``, each `extends` line that led to the broken file (innermost first)."""
    for frame in reversed(frames):
        via = frame.extends_location()
        error.issues[:] = [issue if via in issue.related
                           else dataclasses.replace(issue, related=issue.related + (via,))
                           for issue in error.issues]


_Resolved = tuple[PolicyFile, Origins, SourceFile]


def _take(frame: _Frame, resolved: _Resolved) -> None:
    """Add one extended file's effective policy to what ``frame`` extends (the stricter of each wins)."""
    model, origins, source = resolved
    if frame.base is None:
        frame.base, frame.base_origins = model, origins
    else:  # several baselines: the stricter of each wins, no loosening possible between them
        frame.base, frame.base_origins, _ = merge_onto(frame.base, frame.base_origins,
                                                       dataclasses.replace(source, model=model),
                                                       strict_tighten=False, child_origins=origins)


def _own_effective(frame: _Frame, strict_tighten: bool) -> tuple[PolicyFile, Origins]:
    """The file of ``frame`` merged onto everything it extends; loosenings raise PolicyValidationError."""
    if frame.base is None:
        return frame.src.model, guardrail_origins(frame.src)
    effective, origins, issues = merge_onto(frame.base, frame.base_origins, frame.src, strict_tighten)
    if issues:
        raise PolicyValidationError(sorted(issues, key=lambda i: (i.location.line, i.location.column)))
    return effective, origins


def _effective(root: Path, strict_tighten: bool) -> tuple[PolicyFile, Origins, list[SourceFile], SourceFile]:
    """Resolve the `extends` graph below ``root`` depth first, each file read and merged once.

    A walk with its own stack (no recursion): the time is linear in the files of the graph and any depth
    is safe. The chain is the order in which files were finished (each file after everything it extends,
    each file once). An error in a file met on the way names every `extends` line that led to it.
    """
    resolved: dict[Path, _Resolved] = {}
    chain: list[SourceFile] = []
    frames = [_Frame(read_source(root, _display(root)))]
    walking = [root]  # the paths of ``frames``: the list names a cycle, the set finds one
    on_walk = {root}
    while True:
        frame = frames[-1]
        extends = frame.src.model.policy.extends
        if frame.index < len(extends):
            try:
                target = resolve_extends(extends[frame.index], frame.src, frame.index).resolve()
                if target in on_walk:
                    cycle = " -> ".join(p.name for p in walking[walking.index(target):] + [target])
                    raise PolicyResolutionError([Issue(frame.extends_location(), f"policy.extends[{frame.index}]",
                                                       f"extends cycle: {cycle}", code="extends_cycle")])
            except PolicyError as exc:
                _cite_extends_lines(exc, frames[:-1])
                raise
            if target not in resolved:
                try:
                    child = read_source(target, _display(target))
                except PolicyError as exc:
                    _cite_extends_lines(exc, frames)
                    raise
                frames.append(_Frame(child))
                walking.append(target)
                on_walk.add(target)
                continue
            _take(frame, resolved[target])
            frame.index += 1
            continue
        try:
            effective, origins = _own_effective(frame, strict_tighten)
        except PolicyError as exc:
            _cite_extends_lines(exc, frames[:-1])
            raise
        frames.pop()
        on_walk.discard(walking.pop())
        chain.append(frame.src)
        if not frames:
            return effective, origins, chain, frame.src
        resolved[frame.src.path] = (effective, origins, frame.src)


def _digest(policy: PolicyFile) -> str:
    data = policy.model_dump(mode="json", by_alias=True, exclude={"tests"})
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_policy(path: str | Path, *, channels: ChannelCatalogue | None = None,
                check: bool = True) -> LoadedPolicy:
    """Load, resolve, merge and check a policy; raise PolicyError listing every error found.

    ``channels`` is the catalogue channel names and templates are checked against (the CLI passes the
    installed plugins' channels); None means :data:`~policy_engine.policy.channels.BUILTIN_CHANNELS`,
    the channels policy-engine ships, with the core's content rules. Nothing here discovers plugins.
    Warnings do not raise: they are on ``LoadedPolicy.warnings``.
    """
    from policy_engine.policy.checks import check_policy  # noqa: PLC0415  (checks import the loader types)

    p = Path(path)
    if not p.is_file():
        raise PolicyResolutionError([Issue(Location(str(path)), "", "policy file not found", code="not_found")])
    effective, origins, chain, src = _effective(p.resolve(), True)
    src.display = chain[-1].display
    catalogue = channels if channels is not None else BUILTIN_CHANNELS
    loaded = LoadedPolicy(source=src, policy=effective, origins=origins, chain=chain, digest=_digest(effective),
                          channels=catalogue)
    if check:
        found = check_policy(loaded)
        errors = [i for i in found if i.severity == "error"]
        loaded.warnings = [i for i in found if i.severity == "warning"]
        if errors:
            raise PolicyValidationError(sorted(found, key=lambda i: (i.location.line, i.location.column)))
    return loaded

