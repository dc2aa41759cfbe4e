"""The plugin registry: pluggy underneath, entry-point discovery, start-up checks, and channel owners.

Plugins are published in the ``policy_engine`` entry-point group. ``POLICY_ENGINE_PLUGINS`` (comma
separated entry-point names) limits which of them load; unset means all, empty means none.

The rule this module keeps: a broken plugin set is loud, never a silent fallback. An allow-list naming
a plugin that is not installed, an entry point that fails to import, a misspelt hook, two plugins
claiming one channel name, or a plugin with send/render/validate hooks but no channel all stop the
program with a one-line :class:`PluginRegistrationError` naming the plugin.

Each channel has exactly one owner, the plugin that registers it; the channel hooks
(``policy_engine_send``, ``policy_engine_render_message``, ``policy_engine_validate_template``,
``policy_engine_check_settings``) of a
channel are called on its owner only (:meth:`PluginRegistry.owner_hook`), so a plugin never has to
check whether a channel is its own.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from policy_engine import hookspecs
from policy_engine._exceptions import Issue, PluginError, PluginRegistrationError
from policy_engine.policy.channels import ChannelCatalogue, ChannelSpec

__all__ = [
    "ALLOW_LIST_ENV",
    "CHANNEL_HOOKS",
    "PluginInfo",
    "PluginRegistry",
    "allowed_plugin_names",
    "get_registry",
]

ALLOW_LIST_ENV = "POLICY_ENGINE_PLUGINS"
HOOK_PREFIX = "policy_engine_"
CHANNEL_HOOKS = ("policy_engine_send", "policy_engine_render_message", "policy_engine_validate_template",
                 "policy_engine_check_settings")
"""The hooks called for one channel, on the plugin that owns it."""


class _Manager(pluggy.PluginManager):
    """A PluginManager that treats every ``policy_engine_*`` function as a hook, marked or not.

    That way a misspelt, unmarked hook (``policy_engine_sned``) is reported instead of silently ignored.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(HOOK_PREFIX) and callable(getattr(plugin, name, None)):
            return {}
        return opts


@dataclass
class PluginInfo:
    """What ``policy-engine plugins`` shows about one registered plugin."""

    name: str
    version: str | None
    distribution: str | None
    channels: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The info as plain JSON-ready data."""
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "channels": self.channels,
            "hooks": self.hooks,
        }


def allowed_plugin_names(environ: Mapping[str, str] | None = None) -> set[str] | None:
    """The allow-list from ``POLICY_ENGINE_PLUGINS``: None when unset (everything loads)."""
    env = os.environ if environ is None else environ
    raw = env.get(ALLOW_LIST_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


@dataclass(frozen=True)
class _Channel:
    spec: ChannelSpec
    owner: str


class PluginRegistry:
    """The registered plugins, the channels they provide, and which plugin owns each channel."""

    def __init__(self) -> None:
        self.pm = _Manager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._channels: dict[str, _Channel] | None = None
        self._owner_hooks: dict[tuple[str, str], pluggy.HookCaller] = {}

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, for hooks every plugin hears (``policy_engine_before_dispatch``...)."""
        return self.pm.hook

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; returns its name. Raises PluginRegistrationError."""
        plugin_name = name or _default_name(plugin)
        try:
            registered = self.pm.register(plugin, name=plugin_name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginRegistrationError(f"plugin {plugin_name!r} cannot be registered: {_one_line(exc)}") from exc
        if registered is None:
            raise PluginRegistrationError(f"plugin {plugin_name!r} is blocked")
        self._forget_channels()
        return registered

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (no error if it is not registered)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin=plugin, name=name)
        self._dists.pop(name, None)
        self._forget_channels()

    def load_entry_points(self, allow: set[str] | None = None) -> list[str]:
        """Load the ``policy_engine`` entry points (those in ``allow`` when given); returns their names.

        An entry point that fails to import, two different entry points of one name, or an allowed
        name that is not installed is a PluginRegistrationError.
        """
        loaded: list[str] = []
        seen: dict[str, str] = {}
        for ep in md.entry_points(group=hookspecs.PROJECT_NAME):
            if allow is not None and ep.name not in allow:
                continue
            if ep.name in seen:
                if seen[ep.name] != ep.value:
                    raise PluginRegistrationError(
                        f"plugin {ep.name!r} is published twice: {seen[ep.name]!r} and {ep.value!r}"
                    )
                continue
            seen[ep.name] = ep.value
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginRegistrationError(
                    f"plugin {ep.name!r}: entry point {ep.value!r} cannot be loaded: "
                    f"{exc.__class__.__name__}: {_one_line(exc)}"
                ) from exc
            self.register(plugin, name=ep.name)
            dist = ep.dist
            self._dists[ep.name] = (dist.metadata["Name"] if dist else None, dist.version if dist else None)
            loaded.append(ep.name)
        if allow:
            missing = allow - set(seen) - set(self.names())
            if missing:
                raise PluginRegistrationError(
                    f"{ALLOW_LIST_ENV} names plugins that are not installed: {', '.join(sorted(missing))}"
                )
        return loaded

    def names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def check(self) -> None:
        """Start-up check: every hook exists, channel names are unique, channel hooks have a channel."""
        for name, plugin in self.pm.list_name_plugin():
            for hook_name in dir(plugin):
                if not hook_name.startswith(HOOK_PREFIX) or not callable(getattr(plugin, hook_name, None)):
                    continue
                caller = getattr(self.pm.hook, hook_name, None)
                if caller is None or not caller.has_spec():
                    known = sorted(h for h in dir(hookspecs) if h.startswith(HOOK_PREFIX))
                    raise PluginRegistrationError(
                        f"plugin {name!r} implements unknown hook {hook_name!r}"
                        + _suggest(hook_name, known)
                    )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginRegistrationError(f"plugin {self._name_of(exc.plugin)!r}: {_one_line(exc)}") from exc
        owners = set(self.channel_owners().values())
        for hook_name in CHANNEL_HOOKS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name not in owners:
                    raise PluginRegistrationError(
                        f"plugin {impl.plugin_name!r} implements {hook_name} but provides no channel "
                        "(policy_engine_register_channels), so it would never be called"
                    )

    def registered_channels(self) -> dict[str, ChannelSpec]:
        """Every channel by name; two plugins providing one name is a PluginRegistrationError."""
        return {name: channel.spec for name, channel in self._channel_table().items()}

    def channel_owners(self) -> dict[str, str]:
        """Which plugin provides each channel."""
        return {name: channel.owner for name, channel in self._channel_table().items()}

    def channel_catalogue(self) -> ChannelCatalogue:
        """The registered channels as the policy loader's catalogue, templates checked by their owners."""
        return ChannelCatalogue(self.registered_channels().values(), template_check=self.template_issues)

    def owner_hook(self, channel: str, hook_name: str) -> pluggy.HookCaller:
        """The hook ``hook_name`` as implemented by the plugin that owns ``channel``, and no other.

        Call it like any pluggy hook: ``registry.owner_hook("sms", "policy_engine_send")(channel=...)``.
        """
        key = (channel, hook_name)
        caller = self._owner_hooks.get(key)
        if caller is None:
            owner = self._channel_table().get(channel)
            if owner is None:
                raise PluginError(f"no plugin provides channel {channel!r}")
            owner_plugin = self.pm.get_plugin(owner.owner)
            others = [plugin for _, plugin in self.pm.list_name_plugin()
                      if plugin is not None and plugin is not owner_plugin]
            caller = self.pm.subset_hook_caller(hook_name, others)
            self._owner_hooks[key] = caller
        return caller

    def template_issues(self, channel: ChannelSpec, template_id: str, source: str) -> list[Issue]:
        """What the owner of ``channel`` finds wrong with a template text (``policy_engine_validate_template``)."""
        if channel.name not in self._channel_table():
            return []
        found = self.owner_hook(channel.name, "policy_engine_validate_template")(
            channel=channel, template_id=template_id, source=source
        )
        return [issue for issues in found for issue in issues or []]

    def settings_problems(self, channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
        """What the owner of ``channel`` finds wrong with its settings (``policy_engine_check_settings``)."""
        if channel.name not in self._channel_table():
            return []
        found = self.owner_hook(channel.name, "policy_engine_check_settings")(channel=channel, settings=settings)
        return [str(problem) for problems in found for problem in problems or []]

    def plugin_infos(self) -> list[PluginInfo]:
        """Name, version, channels and hooks of every registered plugin."""
        owners = self.channel_owners()
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            if version is None and isinstance(plugin, ModuleType):
                version = getattr(plugin, "__version__", None)
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            channels = sorted(ch for ch, owner in owners.items() if owner == name)
            infos.append(PluginInfo(name, version, dist, channels, hooks))
        return infos

    def _channel_table(self) -> dict[str, _Channel]:
        if self._channels is None:
            table: dict[str, _Channel] = {}
            caller = self.pm.hook.policy_engine_register_channels
            for impl in reversed(caller.get_hookimpls()):
                returned: Any = impl.function()
                for spec in list(returned or []):
                    if not isinstance(spec, ChannelSpec):
                        raise PluginRegistrationError(
                            f"plugin {impl.plugin_name!r} returned {spec!r} from "
                            "policy_engine_register_channels; expected ChannelSpec"
                        )
                    if spec.name in table:
                        raise PluginRegistrationError(
                            f"channel {spec.name!r} is provided by two plugins: "
                            f"{table[spec.name].owner!r} and {impl.plugin_name!r}"
                        )
                    table[spec.name] = _Channel(spec, impl.plugin_name)
            self._channels = table
        return self._channels

    def _forget_channels(self) -> None:
        self._channels = None
        self._owner_hooks.clear()

    def _name_of(self, plugin: object) -> str:
        name = self.pm.get_name(plugin)
        return name if name is not None else _default_name(plugin)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or exc.__class__.__name__


def _default_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "name", None) or type(plugin).__name__


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_default: tuple[frozenset[str] | None, PluginRegistry] | None = None


def get_registry(*, reload: bool = False, environ: Mapping[str, str] | None = None) -> PluginRegistry:
    """The process-wide registry with the installed entry points loaded and checked.

    It is built again when ``reload`` is set or the allow-list changed since it was built; a broken
    plugin set raises PluginRegistrationError every time it is asked for.
    """
    global _default
    allow = allowed_plugin_names(environ)
    key = frozenset(allow) if allow is not None else None
    if _default is None or reload or _default[0] != key:
        _default = None
        registry = PluginRegistry()
        registry.load_entry_points(allow)
        registry.check()
        _default = (key, registry)
    return _default[1]
