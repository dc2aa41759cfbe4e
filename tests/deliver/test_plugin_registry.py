"""The registry: entry-point discovery, allow-list, start-up checks, settings and secret masking."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from policy_engine._exceptions import PluginError, PluginRegistrationError
from policy_engine.deliver.registry import PluginRegistry, get_registry
from policy_engine.deliver.settings import load_settings
from policy_engine.hookspecs import ChannelSpec, hookimpl
from policy_engine.testing import DeliveryRecorder, make_registry

BUILTIN = {"sms", "email", "voice", "letter", "legal", "agent", "webhook"}


def test_builtin_channels_are_discovered_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_ENGINE_PLUGINS", raising=False)
    registry = PluginRegistry()
    loaded = registry.load_entry_points()
    registry.check()
    assert set(loaded) >= BUILTIN
    channels = registry.registered_channels()
    assert set(channels) >= BUILTIN
    assert channels["voice"].kind == "call" and "limited_content_voicemail" in channels["voice"].content_rules
    assert channels["email"].contact_point == "email" and "opt_out" in channels["email"].content_rules
    info = {i.name: i for i in registry.plugin_infos()}
    assert info["sms"].version == "0.1.0" and info["sms"].channels == ["sms"]
    assert "policy_engine_send" in info["sms"].hooks


def test_allow_list_limits_what_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ENGINE_PLUGINS", "sms, letter")
    registry = get_registry(reload=True)
    assert set(registry.registered_channels()) == {"sms", "letter"}
    monkeypatch.setenv("POLICY_ENGINE_PLUGINS", "")
    assert get_registry(reload=True).registered_channels() == {}
    monkeypatch.setenv("POLICY_ENGINE_PLUGINS", "sms,nosuch")
    with pytest.raises(PluginRegistrationError, match="nosuch"):
        get_registry(reload=True)
    monkeypatch.delenv("POLICY_ENGINE_PLUGINS")
    get_registry(reload=True)


def test_misspelt_marked_hook_names_the_plugin_and_suggests() -> None:
    plugin = types.ModuleType("acme_channels")

    @hookimpl
    def policy_engine_sned(channel: object) -> None:
        return None

    plugin.policy_engine_sned = policy_engine_sned  # type: ignore[attr-defined]
    registry = PluginRegistry()
    registry.register(plugin, name="acme")
    with pytest.raises(PluginRegistrationError) as err:
        registry.check()
    assert "'acme'" in str(err.value) and "policy_engine_sned" in str(err.value)
    assert "policy_engine_send" in str(err.value)


def test_misspelt_unmarked_hook_is_caught_too() -> None:
    class Plugin:
        def policy_engine_register_channel(self) -> list[ChannelSpec]:  # missing "s"
            return []

    registry = PluginRegistry()
    registry.register(Plugin(), name="typo-plugin")
    with pytest.raises(PluginRegistrationError, match="typo-plugin.*policy_engine_register_channel"):
        registry.check()


def test_wrong_hook_argument_is_a_registration_error() -> None:
    class Plugin:
        @hookimpl
        def policy_engine_send(self, chanel: object) -> None:
            return None

    with pytest.raises(PluginRegistrationError, match="bad-args"):
        PluginRegistry().register(Plugin(), name="bad-args")


def test_duplicate_channel_names_both_plugins() -> None:
    first, second = DeliveryRecorder(channel="chat"), DeliveryRecorder(channel="chat")
    registry = PluginRegistry()
    registry.register(first, name="chat-one")
    registry.register(second, name="chat-two")
    with pytest.raises(PluginRegistrationError) as err:
        registry.check()
    assert "'chat'" in str(err.value) and "chat-one" in str(err.value) and "chat-two" in str(err.value)


def test_channel_spec_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        ChannelSpec(name="x", kind="fax")  # type: ignore[arg-type]


def test_registered_channel_infos_feed_the_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_ENGINE_PLUGINS", raising=False)
    infos = get_registry(reload=True).channel_catalogue()
    assert infos["sms"].consent_key == "sms" and infos["letter"].contact_point == "address"


def test_settings_from_toml_then_environment_and_masked(tmp_path: Path) -> None:
    config = tmp_path / "policy-engine.toml"
    config.write_text('[channels.sms]\nurl = "http://127.0.0.1:1/sms"\nsecret = "from-file"\ntimeout = 3\n')
    env = {"POLICY_ENGINE_SMS_SECRET": "from-env", "POLICY_ENGINE_EMAIL_HOST": "127.0.0.1"}
    settings = load_settings(["sms", "email"], config, env)
    assert settings["sms"]["url"] == "http://127.0.0.1:1/sms"
    assert settings["sms"]["secret"] == "from-env"
    assert settings["sms"].get_float("timeout", 10) == 3.0
    assert settings["email"]["host"] == "127.0.0.1"
    shown = repr(settings["sms"]) + str(settings["sms"])
    assert "from-env" not in shown and "***" in shown
    with pytest.raises(PluginError, match="POLICY_ENGINE_EMAIL_FROM_ADDR"):
        settings["email"].require("from_addr")


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        load_settings(["sms"], tmp_path / "nope.toml", {})


def test_make_registry_with_recorder() -> None:
    registry = make_registry(DeliveryRecorder(channel="chat"))
    assert list(registry.registered_channels()) == ["chat"]
