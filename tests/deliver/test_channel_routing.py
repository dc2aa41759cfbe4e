"""Channel hooks go to the plugin that owns the channel, and decisions reach dispatch typed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from policy_engine._exceptions import PluginRegistrationError
from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.deliver.dispatch import Dispatcher
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.deliver.templates import TemplateStore
from policy_engine.hookspecs import ChannelKind, ChannelSpec, Message, hookimpl
from policy_engine.ledger import Ledger
from policy_engine.testing import (
    FAST_RETRY,
    DeliveryRecorder,
    make_action,
    make_decision,
    make_registry,
    run_dispatch,
    sample_account,
)

AS_OF = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def test_only_the_owner_of_a_channel_is_asked_to_send(pe_ledger: Ledger) -> None:
    owner, bystander = DeliveryRecorder(channel="chat"), DeliveryRecorder(channel="mail", contact_point="email")
    registry = make_registry(owner, bystander)  # the bystander registers last: pluggy would ask it first
    summary = run_dispatch([make_decision("A1", make_action("chat"), make_action("mail"), make_action("chat"))],
                           {"A1": sample_account("A1")}, registry=registry, ledger=pe_ledger)
    assert summary.tally("chat").sent == 2 and summary.tally("mail").sent == 1
    assert [c.channel for c in owner.calls] == ["chat", "chat"]
    assert [c.channel for c in bystander.calls] == ["mail"]


class Renderer(DeliveryRecorder):
    """A recorder whose channel renders its own messages."""

    @hookimpl
    def policy_engine_render_message(self, channel: ChannelSpec, account: Mapping[str, Any]) -> Message:
        return Message(text=f"{self.channel} renders for {account['account_id']} on {channel.name}")


def test_only_the_owner_renders_its_channel(pe_ledger: Ledger) -> None:
    chat, mail = Renderer(channel="chat"), Renderer(channel="mail", contact_point="email")
    run_dispatch([make_decision("A1", make_action("chat"), make_action("mail"))], {"A1": sample_account("A1")},
                 registry=make_registry(chat, mail), ledger=pe_ledger)
    assert chat.texts() == ["chat renders for A1 on chat"]
    assert mail.texts() == ["mail renders for A1 on mail"]


def test_a_send_hook_asking_for_the_ledger_is_refused() -> None:
    class OldStyle:
        name = "old-style"

        @hookimpl
        def policy_engine_register_channels(self) -> list[ChannelSpec]:
            return [ChannelSpec("fax", ChannelKind.TEXT)]

        @hookimpl
        def policy_engine_send(self, channel: ChannelSpec, ledger: Any) -> None:
            return None

    with pytest.raises(PluginRegistrationError, match="old-style.*ledger"):
        PluginRegistry().register(OldStyle(), name="old-style")


def test_a_send_hook_without_a_channel_would_never_be_called_and_is_refused() -> None:
    class Orphan:
        @hookimpl
        def policy_engine_send(self, channel: ChannelSpec) -> None:
            return None

    registry = PluginRegistry()
    registry.register(Orphan(), name="orphan")
    with pytest.raises(PluginRegistrationError, match="'orphan' implements policy_engine_send but provides no channel"):
        registry.check()


def _planned(channel: str, key: str, template: str | None = "hello") -> PlannedAction:
    return PlannedAction(action=f"{channel}_hello", channel=channel, template=template, send_at=AS_OF, notice=None,
                         offer=None, idempotency_key=key, priority=1, stage="early")


def _decision(account_id: str, *actions: PlannedAction) -> Decision:
    return Decision(account_id=account_id, as_of=AS_OF, policy={"id": "p", "version": "1", "digest": "sha256:x"},
                    dpd=12, segment=None, stage="early", holds=[], actions=list(actions), suppressed=[])


def test_typed_pairs_are_dispatched_each_with_its_own_account(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    batch = [(Account.model_validate(sample_account(f"A{i}", name=f"Customer {i}")),
              _decision(f"A{i}", _planned("chat", f"typed-{i}"))) for i in range(3)]  # all built before dispatch
    dispatcher = Dispatcher(ledger=pe_ledger, registry=make_registry(chat), settings={}, retry=FAST_RETRY,
                            templates=TemplateStore.from_mapping({"hello": "Hello {{ account.customer_name }}"}))
    summary = dispatcher.dispatch(batch)
    assert summary.tally("chat").sent == 3
    assert chat.texts() == ["Hello Customer 0", "Hello Customer 1", "Hello Customer 2"]
    assert [c.account_id for c in chat.calls] == ["A0", "A1", "A2"]
    sent = chat.calls[0].action  # the hook boundary: the contract's action JSON
    assert sent["idempotency_key"] == "typed-0" and sent["send_at"] == "2026-11-28T01:00:00+00:00"
    (recorded,) = [d for d in pe_ledger.iter_decisions() if d["account_id"] == "A0"]
    assert recorded["actions"][0]["idempotency_key"] == "typed-0"


def test_unreadable_decision_json_is_reported_and_the_batch_goes_on(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    broken = make_decision("A1", make_action("chat", key="bad-1"), as_of="yesterday")
    summary = run_dispatch([broken, make_decision("A2", make_action("chat"))],
                           {"A1": sample_account("A1"), "A2": sample_account("A2")},
                           registry=make_registry(chat), ledger=pe_ledger)
    assert summary.tally("chat").sent == 1 and [c.account_id for c in chat.calls] == ["A2"]
    (failure,) = summary.failures
    assert failure.idempotency_key == "bad-1" and failure.error.startswith("invalid_decision: as_of 'yesterday'")


def test_missing_and_invalid_accounts_fail_their_actions(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    summary = run_dispatch([make_decision("A1", make_action("chat")), make_decision("A2", make_action("chat"))],
                           {"A2": sample_account("A2", balance="lots")}, registry=make_registry(chat),
                           ledger=pe_ledger)
    errors = {f.account_id: f.error for f in summary.failures}
    assert errors["A1"].startswith("account_not_found")
    assert errors["A2"].startswith("invalid_account: balance")
    assert chat.calls == []


class _Readdresser(DeliveryRecorder):
    """A channel whose send hook tries to re-address the account for the actions after it."""

    def policy_engine_send(self, channel: ChannelSpec, action: Mapping[str, Any], account: Mapping[str, Any],
                           message: Message, settings: Mapping[str, Any]) -> Any:
        self.phones.append(account["contact"]["phone"])
        try:
            account["contact"]["phone"] = "+19995550000"  # type: ignore[index]
        except TypeError:
            self.refused = True
        return super().policy_engine_send(channel=channel, action=action, account=account, message=message,
                                          settings=settings)


def test_a_plugin_cannot_change_the_account_the_next_actions_see(pe_ledger: Ledger) -> None:
    plugin = _Readdresser(channel="chat")
    plugin.refused, plugin.phones = False, []
    registry = make_registry(plugin)
    run_dispatch([make_decision("A1", make_action("chat"), make_action("chat"))],
                 {"A1": sample_account("A1")}, registry=registry, ledger=pe_ledger)
    assert plugin.refused
    assert plugin.phones == [sample_account("A1")["contact"]["phone"]] * 2
