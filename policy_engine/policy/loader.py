"""Load a policy: read it, resolve `extends`, merge tighten-only, check it, and stamp a digest."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
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
from policy_engine.policy.merge import guardrail_origins, merge_onto
from policy_engine.policy.models import PolicyFile
from policy_engine.policy.origins import OriginKey, Origins
from policy_engine.policy.source import SourceFile, read_source
from policy_engine.policy.suggest import allowed_list, did_you_mean

__all__ = ["LoadedPolicy", "baseline_dirs", "load_policy", "resolve_extends"]

BASELINE_PREFIX = "baseline:"


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
        for d in baseline_dirs():
            candidate = d / f"{name}.toml"
            if candidate.is_file():
                return candidate
        names = _available_baselines()
        raise PolicyResolutionError([Issue(where, f"policy.extends[{index}]",
                                           f"unknown baseline '{name}'{did_you_mean(name, names)}",
                                           hint=f"shipped baselines: {allowed_list(names)}",
                                           code="unknown_baseline")])
    candidate = (src.path.parent / entry).resolve()
    if not candidate.is_file():
        raise PolicyResolutionError([Issue(where, f"policy.extends[{index}]",
                                           f"extends '{entry}', but no file exists at {candidate}",
                                           hint="paths are relative to this file; shipped baselines are "
                                                "named like 'baseline:cn'", code="extends_not_found")])
    return candidate


def _display(path: Path) -> str | None:
    """Shipped baselines always display as policies/baselines/NAME.toml, wherever the command runs."""
    for d in baseline_dirs():
        if path.parent.resolve() == d.resolve():
            return f"policies/baselines/{path.name}"
    return None


def _effective(path: Path, stack: list[Path], strict_tighten: bool,
               cache: dict[Path, tuple[PolicyFile, Origins, list[SourceFile]]],
               ) -> tuple[PolicyFile, Origins, list[SourceFile], SourceFile]:
    src = read_source(path, _display(path))
    base: PolicyFile | None = None
    base_origins: Origins = {}
    chain: list[SourceFile] = []
    issues: list[Issue] = []
    for i, entry in enumerate(src.model.policy.extends):
        target = resolve_extends(entry, src, i)
        resolved = target.resolve()
        if resolved in stack:
            cycle = " -> ".join(p.name for p in stack[stack.index(resolved):] + [resolved])
            raise PolicyResolutionError([Issue(src.location("policy", "extends", i), f"policy.extends[{i}]",
                                               f"extends cycle: {cycle}", code="extends_cycle")])
        if resolved not in cache:
            try:
                model, origins, sub_chain, _ = _effective(resolved, stack + [resolved], strict_tighten, cache)
            except PolicyError as exc:  # say which `extends` line led to the broken file
                via = src.location("policy", "extends", i)
                exc.issues[:] = [issue if via in issue.related
                                 else dataclasses.replace(issue, related=issue.related + (via,))
                                 for issue in exc.issues]
                raise
            cache[resolved] = (model, origins, sub_chain)
        model, origins, sub_chain = cache[resolved]
        chain.extend(s for s in sub_chain if s.path.resolve() not in {c.path.resolve() for c in chain})
        if base is None:
            base, base_origins = model, origins
        else:  # several baselines: the stricter of each wins, no loosening possible between them
            sub_src = sub_chain[-1]
            base, base_origins, _ = merge_onto(base, base_origins, sub_src.__class__(
                path=sub_src.path, display=sub_src.display, index=sub_src.index, data=sub_src.data, model=model),
                strict_tighten=False, child_origins=origins)
    if base is None:
        effective, origins = src.model, guardrail_origins(src)
    else:
        effective, origins, issues = merge_onto(base, base_origins, src, strict_tighten)
    if issues:
        raise PolicyValidationError(sorted(issues, key=lambda i: (i.location.line, i.location.column)))
    return effective, origins, chain + [src], src


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
    effective, origins, chain, src = _effective(p.resolve(), [p.resolve()], True, {})
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

