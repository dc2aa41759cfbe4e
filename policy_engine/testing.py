"""Helpers for testing channel plugins against the real registry, dispatcher and ledger.

In a plugin's ``conftest.py``::

    pytest_plugins = ["policy_engine.testing"]

gives the fixtures ``pe_registry`` (a registry with no plugins), ``pe_ledger`` (a SQLite ledger in
``tmp_path``) and ``register_plugin`` (registers a plugin for one test, unregisters it afterwards).
:class:`DeliveryRecorder` is a channel that records what it is asked to send and can be told to fail.

:func:`make_decision`, :func:`make_action` and :func:`sample_account` build the contract's JSON forms
(what a plugin hook receives, and what ``dry-run --format json`` writes); :func:`run_dispatch` is the
adapter that parses them into typed ``Decision``/``Account`` objects and dispatches them like a run
(:meth:`~policy_engine.deliver.dispatch.Dispatcher.dispatch_json`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine._exceptions import PermanentDeliveryError, TransientDeliveryError
from policy_engine.deliver.dispatch import Dispatcher, DispatchSummary, RetryPolicy
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.deliver.templates import TemplateStore
from policy_engine.hookspecs import ChannelKind, ChannelSpec, ContactPoint, DeliveryResult, Message, hookimpl
from policy_engine.ledger import Ledger

__all__ = [
    "FAST_RETRY",
    "DeliveryRecorder",
    "SentMessage",
    "make_action",
    "make_decision",
    "make_registry",
    "registered",
    "run_dispatch",
    "sample_account",
]

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
"""A retry policy with millisecond backoff, for tests."""

_keys = itertools.count(1)


@dataclass(frozen=True)
class SentMessage:
    """One call of ``policy_engine_send`` that a DeliveryRecorder received."""

    channel: str
    idempotency_key: str
    account_id: str
    action: Mapping[str, Any]
    message: Message
    settings: Mapping[str, Any]


@dataclass(eq=False)  # identity equality: two recorders are two plugins
class DeliveryRecorder:
    """A channel plugin that records sends instead of delivering them.

    ``transient_failures`` sends fail transiently before one succeeds; ``permanent_error`` makes every
    send fail permanently. ``deduplicate`` makes it behave like a provider that honours idempotency keys.
    """

    channel: str = "recorder"
    kind: ChannelKind = ChannelKind.TEXT
    contact_point: ContactPoint | None = "phone"
    content_rules: tuple[str, ...] = ()
    idempotent_provider: bool = True
    transient_failures: int = 0
    permanent_error: str | None = None
    deduplicate: bool = True
    calls: list[SentMessage] = field(default_factory=list)
    delivered: dict[str, SentMessage] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The plugin name it registers under by default."""
        return f"recorder-{self.channel}"

    @property
    def spec(self) -> ChannelSpec:
        """Its channel."""
        return ChannelSpec(
            name=self.channel, kind=self.kind, contact_point=self.contact_point,
            content_rules=self.content_rules, idempotent_provider=self.idempotent_provider,
        )

    @hookimpl
    def policy_engine_register_channels(self) -> list[ChannelSpec]:
        """The recorder's one channel."""
        return [self.spec]

    @hookimpl
    def policy_engine_send(
        self,
        channel: ChannelSpec,
        action: Mapping[str, Any],
        account: Mapping[str, Any],
        message: Message,
        settings: Mapping[str, Any],
    ) -> DeliveryResult:
        """Record the call; fail as configured; deliver once per key."""
        key = str(action["idempotency_key"])
        sent = SentMessage(channel.name, key, str(account.get("account_id")), dict(action), message, settings)
        self.calls.append(sent)
        if self.permanent_error:
            raise PermanentDeliveryError(self.permanent_error)
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientDeliveryError("recorder: simulated transient failure")
        if key in self.delivered and self.deduplicate:
            return DeliveryResult("delivered", provider_id=f"rec-{key}", detail="duplicate ignored")
        self.delivered[key] = sent
        return DeliveryResult("delivered", provider_id=f"rec-{key}")

    def texts(self) -> list[str]:
        """The text of every delivered message, in order."""
        return [s.message.text for s in self.delivered.values()]


def make_registry(*plugins: object, check: bool = True) -> PluginRegistry:
    """A registry holding just ``plugins`` (no entry points), checked like at start-up."""
    registry = PluginRegistry()
    for plugin in plugins:
        registry.register(plugin, name=getattr(plugin, "name", None) if not isinstance(plugin, type) else None)
    if check:
        registry.check()
    return registry


@contextmanager
def registered(registry: PluginRegistry, plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` for the duration of a ``with`` block."""
    plugin_name = registry.register(plugin, name=name)
    try:
        yield plugin_name
    finally:
        registry.unregister(plugin_name)


def sample_account(account_id: str = "A1", **overrides: Any) -> dict[str, Any]:
    """An account record in the contract's shape, with every contact point."""
    account: dict[str, Any] = {
        "account_id": account_id,
        "customer_id": f"C-{account_id}",
        "region": "US",
        "currency": "USD",
        "balance": "1234.56",
        "amount_past_due": "300.00",
        "language": "en-US",
        "contact": {"phone": "+15550100", "email": f"{account_id.lower()}@example.test", "address": "1 Main St"},
        "consent": {"sms": True, "email": True, "voice": True},
    }
    account.update(overrides)
    return account


def make_action(channel: str, action: str | None = None, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
    """An action in the Decision JSON shape, with a unique idempotency key unless one is given.

    ``offer`` may be an offer id (its terms then come from the dispatch context's ``offers``).
    """
    return {
        "action": action or f"{channel}_action",
        "channel": channel,
        "template": extra.pop("template", None),
        "send_at": extra.pop("send_at", "2026-11-28T09:00:00+08:00"),
        "notice": extra.pop("notice", None),
        "offer": extra.pop("offer", None),
        "idempotency_key": key or f"test-key-{next(_keys)}",
        **extra,
    }


def make_decision(account_id: str, *actions: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A decision in the contract's Decision JSON shape."""
    return {
        "account_id": account_id,
        "as_of": extra.pop("as_of", "2026-11-28T09:00:00+08:00"),
        "policy": extra.pop("policy", {"id": "test-policy", "version": "1", "digest": "sha256:test"}),
        "dpd": extra.pop("dpd", 35),
        "segment": extra.pop("segment", "standard"),
        "stage": extra.pop("stage", "mid"),
        "holds": [],
        "actions": [dict(a) for a in actions],
        "suppressed": [],
        **extra,
    }


def run_dispatch(
    decisions: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, Any]],
    *,
    registry: PluginRegistry,
    ledger: Ledger,
    templates: TemplateStore | Mapping[str, Any] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    context: Mapping[str, Any] | None = None,
) -> DispatchSummary:
    """Dispatch with millisecond retries and no config file: the usual call in a plugin's tests.

    ``decisions`` are Decision JSON (:func:`make_decision`) and ``accounts`` account records by id
    (:func:`sample_account`); they are parsed into typed decisions and accounts exactly as
    :meth:`Dispatcher.dispatch_json` does, so what the plugin receives is what a real run hands it.
    """
    store = templates if isinstance(templates, TemplateStore) else TemplateStore.from_mapping(templates or {})
    dispatcher = Dispatcher(
        ledger=ledger, registry=registry, templates=store, settings=settings or {}, context=context,
        retry=FAST_RETRY,
    )
    return dispatcher.dispatch_json(decisions, accounts)


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pass
else:

    @pytest.fixture
    def pe_registry() -> PluginRegistry:
        """An empty, checked plugin registry (no entry points loaded)."""
        return make_registry()

    @pytest.fixture
    def pe_ledger(tmp_path: Path) -> Iterator[Ledger]:
        """A SQLite ledger in the test's temporary folder."""
        ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield ledger
        ledger.close()

    @pytest.fixture
    def register_plugin(pe_registry: PluginRegistry) -> Iterator[Callable[..., str]]:
        """``register_plugin(plugin, name=None)``: registered for this test only, then unregistered."""
        names: list[str] = []

        def register(plugin: object, name: str | None = None) -> str:
            plugin_name = pe_registry.register(plugin, name=name)
            names.append(plugin_name)
            pe_registry.check()
            return plugin_name

        yield register
        for plugin_name in names:
            pe_registry.unregister(plugin_name)
