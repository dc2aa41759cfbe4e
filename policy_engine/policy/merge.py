"""Tighten-only merging of a policy onto the baselines it extends.

A policy may narrow contact hours, lower caps, lengthen waiting periods and add holds; it may never do the
opposite. Each guardrail family (:mod:`policy_engine.guardrails`) owns its merge rule; this module runs
them, merges the parts of a policy that are not guardrails (notices, stages, offers, templates, ...), and
collects every loosening as an error that names the policy's line and the baseline's line. Every
effective limit remembers where it came from (:class:`~policy_engine.policy.origins.Origin`), so
explanations can cite it.
"""

from __future__ import annotations

from typing import Any

from policy_engine._exceptions import Issue
from policy_engine.guardrails import FAMILIES
from policy_engine.policy.errors import format_path
from policy_engine.policy.models import PolicyFile
from policy_engine.policy.origins import Origin, OriginKey, Origins
from policy_engine.policy.source import SourceFile

__all__ = ["Tightening", "guardrail_origins", "merge_onto"]


def guardrail_origins(source: SourceFile) -> Origins:
    """Origins of every guardrail and hold a single file writes."""
    meta = source.model.policy
    origins: Origins = {}

    def record(key: OriginKey, *path: str | int) -> None:
        origins[key] = Origin(meta.id, meta.kind, source.location(*path))

    for family in FAMILIES:
        family.record_origins(source, record)
    return origins


class Tightening:
    """One child file merged onto an already-effective base: what each family writes, and the loosenings.

    Families read ``base`` (the effective policy so far) and ``child`` (the file being merged), write the
    effective guardrail settings into ``guardrails`` and policy-level lists into ``policy``, and call
    :meth:`loosens` for every attempt to relax the base.
    """

    def __init__(self, base: PolicyFile, base_origins: Origins, child: SourceFile, strict_tighten: bool,
                 child_origins: Origins | None = None) -> None:
        self.base = base
        self.base_origins = base_origins
        self.child = child
        self.strict = strict_tighten
        self.issues: list[Issue] = []
        self.guardrails: dict[str, Any] = {}
        self.policy: dict[str, Any] = {}
        self.origins: Origins = dict(base_origins)
        self.origins.update(guardrail_origins(child) if child_origins is None else child_origins)

    def loosens(self, key: OriginKey, path: tuple[str | int, ...], message: str) -> None:
        """Report that the child relaxes the setting ``key`` at ``path``; ``{base}`` names whose it was."""
        if not self.strict:
            return
        origin = self.base_origins.get(key)
        related = (origin.location,) if origin else ()
        whose = origin.whose if origin else "the baseline"
        self.issues.append(Issue(self.child.location(*path), format_path(path),
                                 message.replace("{base}", whose), code="loosens_baseline",
                                 hint="a policy may only tighten what it extends", related=related))


def _by_id(base: list[Any], child: list[Any]) -> list[Any]:
    merged = {item.id: item for item in base}
    order = [item.id for item in base]
    for item in child:
        if item.id not in merged:
            order.append(item.id)
        merged[item.id] = item
    return [merged[key] for key in order]


def merge_onto(base: PolicyFile, base_origins: Origins, child: SourceFile, strict_tighten: bool = True,
               child_origins: Origins | None = None) -> tuple[PolicyFile, Origins, list[Issue]]:
    """The child's effective policy over ``base``; issues list every loosening found.

    ``child_origins`` are the origins of an already merged child (a second baseline of the same policy):
    without them, every setting of the child would be cited at the child's own file.
    """
    merge = Tightening(base, base_origins, child, strict_tighten, child_origins)
    for family in FAMILIES:
        family.tighten(merge)
    own = child.model
    templates = {template_id: dict(per_locale) for template_id, per_locale in base.templates.items()}
    for template_id, per_locale in own.templates.items():
        templates.setdefault(template_id, {}).update(per_locale)
    effective = own.model_copy(update={
        "guardrails": base.guardrails.model_copy(update=merge.guardrails),
        "segments": own.segments or base.segments,
        "stages": own.stages or base.stages,
        "offers": _by_id(base.offers, own.offers),
        "escalation": own.escalation if own.escalation.broken_promise else base.escalation,
        "templates": templates,
        "variants": own.variants or base.variants,
        "bank": own.bank or base.bank,
        **merge.policy,
    })
    return effective, merge.origins, merge.issues
