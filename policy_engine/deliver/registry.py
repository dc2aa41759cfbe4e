"""The plugin registry: pluggy underneath, entry-point discovery, and start-up checks.

Plugins are published in the ``policy_engine`` entry-point group. ``POLICY_ENGINE_PLUGINS`` (comma
separated entry-point names) limits which of them load; unset means all, empty means none.
:meth:`PluginRegistry.check` runs at start-up: a misspelt hook or two plugins claiming one channel
name stop the program with a :class:`PluginRegistrationError` that names the plugins.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from policy_engine import hookspecs
from policy_engine._exceptions import PluginError, PluginRegistrationError
from policy_engine.hookspecs import ChannelSpec

__all__ = [
    "ALLOW_LIST_ENV",
    "ChannelSettings",
    "PluginInfo",
    "PluginRegistry",
    "allowed_plugin_names",
    "get_registry",
    "load_settings",
    "missing_settings",
    "setting_env_var",
    "registered_channel_infos",
]

ALLOW_LIST_ENV = "POLICY_ENGINE_PLUGINS"
HOOK_PREFIX = "policy_engine_"


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


class PluginRegistry:
    """The registered plugins and the channels they provide."""

    def __init__(self) -> None:
        self.pm = _Manager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``registry.hook.policy_engine_send(channel=..., ...)``."""
        return self.pm.hook

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; returns its name. Raises PluginRegistrationError."""
        plugin_name = name or _default_name(plugin)
        try:
            registered = self.pm.register(plugin, name=plugin_name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginRegistrationError(f"plugin {plugin_name!r} cannot be registered: {exc}") from exc
        if registered is None:
            raise PluginRegistrationError(f"plugin {plugin_name!r} is blocked")
        return registered

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (no error if it is not registered)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin=plugin, name=name)
        self._dists.pop(name, None)

    def load_entry_points(self, allow: set[str] | None = None) -> list[str]:
        """Load the ``policy_engine`` entry points (those in ``allow`` when given); returns their names."""
        loaded: list[str] = []
        for ep in md.entry_points(group=hookspecs.PROJECT_NAME):
            if allow is not None and ep.name not in allow:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginRegistrationError(
                    f"plugin {ep.name!r}: entry point {ep.value!r} cannot be loaded: {exc}"
                ) from exc
            self.register(plugin, name=ep.name)
            dist = ep.dist
            self._dists[ep.name] = (dist.metadata["Name"] if dist else None, dist.version if dist else None)
            loaded.append(ep.name)
        if allow:
            missing = allow - {ep.name for ep in md.entry_points(group=hookspecs.PROJECT_NAME)}
            missing -= set(self.names())
            if missing:
                raise PluginRegistrationError(
                    f"{ALLOW_LIST_ENV} names plugins that are not installed: {', '.join(sorted(missing))}"
                )
        return loaded

    def names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def check(self) -> None:
        """Start-up check: every hook a plugin implements exists, and channel names are unique."""
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
            raise PluginRegistrationError(f"plugin {self._name_of(exc.plugin)!r}: {exc}") from exc
        self.registered_channels()

    def registered_channels(self) -> dict[str, ChannelSpec]:
        """Every channel by name; two plugins providing one name is a PluginRegistrationError."""
        channels: dict[str, ChannelSpec] = {}
        owners: dict[str, str] = {}
        caller = self.pm.hook.policy_engine_register_channels
        for impl in reversed(caller.get_hookimpls()):
            specs = _specs_of(impl)
            for spec in specs:
                if not isinstance(spec, ChannelSpec):
                    raise PluginRegistrationError(
                        f"plugin {impl.plugin_name!r} returned {spec!r} from "
                        "policy_engine_register_channels; expected ChannelSpec"
                    )
                if spec.name in channels:
                    raise PluginRegistrationError(
                        f"channel {spec.name!r} is provided by two plugins: "
                        f"{owners[spec.name]!r} and {impl.plugin_name!r}"
                    )
                channels[spec.name] = spec
                owners[spec.name] = impl.plugin_name
        return channels

    def channel_owners(self) -> dict[str, str]:
        """Which plugin provides each channel."""
        owners: dict[str, str] = {}
        for impl in self.pm.hook.policy_engine_register_channels.get_hookimpls():
            specs = _specs_of(impl)
            for spec in specs:
                owners.setdefault(spec.name, impl.plugin_name)
        return owners

    def plugin_infos(self) -> list[PluginInfo]:
        """Name, version, channels and hooks of every registered plugin."""
        owners = self.channel_owners()
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            dist, version = self._dists.get(name, (None, None))
            if version is None and isinstance(plugin, ModuleType):
                version = getattr(plugin, "__version__", None)
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            channels = sorted(ch for ch, owner in owners.items() if owner == name)
            infos.append(PluginInfo(name, version, dist, channels, hooks))
        return infos

    def _name_of(self, plugin: object) -> str:
        name = self.pm.get_name(plugin)
        return name if name is not None else _default_name(plugin)


def _specs_of(impl: Any) -> list[Any]:
    """What one plugin's ``policy_engine_register_channels`` returns, as a list."""
    return list(impl.function() or [])


def _default_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "name", None) or type(plugin).__name__


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_default: PluginRegistry | None = None


def registered_channel_infos() -> dict[str, Any]:
    """The installed channels as :class:`policy_engine.policy.channels.ChannelInfo` (for the policy validator)."""
    from policy_engine.policy.channels import ChannelInfo

    return {
        name: ChannelInfo(spec.name, spec.kind, spec.counts_as_attempt, spec.contact_point, spec.consent_key)
        for name, spec in get_registry().registered_channels().items()
    }


def get_registry(*, reload: bool = False, environ: Mapping[str, str] | None = None) -> PluginRegistry:
    """The process-wide registry with the installed entry points loaded and checked."""
    global _default
    if _default is None or reload:
        registry = PluginRegistry()
        registry.load_entry_points(allowed_plugin_names(environ))
        registry.check()
        _default = registry
    return _default


SECRET_KEY_PATTERN = re.compile(r"secret|password|passwd|token|api_?key|credential|auth", re.IGNORECASE)
DEFAULT_CONFIG = "policy-engine.toml"
ENV_PREFIX = "POLICY_ENGINE_"


class ChannelSettings(Mapping[str, Any]):
    """One channel's settings; secret-looking keys are masked in ``repr`` and ``str``.

    ``masked()`` returns a copy fit for logs and for ``policy-engine plugins`` output.
    """

    def __init__(self, channel: str, values: Mapping[str, Any] | None = None) -> None:
        self.channel = channel
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def masked(self) -> dict[str, Any]:
        """The values with secrets replaced by ``***``."""
        return {k: ("***" if SECRET_KEY_PATTERN.search(k) else v) for k, v in self._values.items()}

    def require(self, key: str) -> Any:
        """The value of a setting the channel cannot work without (PluginError naming it when absent)."""
        if key not in self._values or self._values[key] in (None, ""):
            env = setting_env_var(self.channel, key)
            raise PluginError(
                f"channel {self.channel!r}: setting {key!r} is missing "
                f"(set [channels.{self.channel}] {key} in the config file, or {env})"
            )
        return self._values[key]

    def get_float(self, key: str, default: float) -> float:
        """A numeric setting (environment variables arrive as text)."""
        value = self._values.get(key, default)
        return float(value)

    def get_bool(self, key: str, default: bool) -> bool:
        """A boolean setting; accepts true/false/1/0/yes/no text from the environment."""
        value = self._values.get(key, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def __repr__(self) -> str:
        return f"ChannelSettings({self.channel!r}, {self.masked()!r})"

    __str__ = __repr__


def setting_env_var(channel: str, key: str) -> str:
    """The environment variable that sets ``key`` of ``channel``: POLICY_ENGINE_<CHANNEL>_<KEY>."""
    return f"{ENV_PREFIX}{_env_name(channel)}_{key.upper()}"


def _env_name(channel: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", channel).upper()


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The TOML config: ``path`` if given, else ``policy-engine.toml`` in the working directory if present."""
    if path is None:
        default = Path(DEFAULT_CONFIG)
        if not default.exists():
            return {}
        path = default
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise PluginError(f"config file {str(path)!r} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PluginError(f"config file {str(path)!r}: {exc}") from exc


def missing_settings(spec: Any, settings: ChannelSettings) -> list[str]:
    """The required settings of a channel that are not set (``"a|b"``: neither is set)."""
    def present(key: str) -> bool:
        return settings.get(key) not in (None, "")

    return [need for need in spec.required_settings if not any(present(k) for k in need.split("|"))]


def load_settings(
    channels: Iterable[str],
    config: Mapping[str, Any] | str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, ChannelSettings]:
    """Settings per channel: ``[channels.NAME]`` of the config, overridden by ``POLICY_ENGINE_NAME_KEY``."""
    data = config if isinstance(config, Mapping) else load_config(config)
    env = os.environ if environ is None else environ
    section = data.get("channels", {}) if isinstance(data, Mapping) else {}
    result: dict[str, ChannelSettings] = {}
    for channel in channels:
        values = dict(section.get(channel, {}))
        prefix = f"{ENV_PREFIX}{_env_name(channel)}_"
        for key, value in env.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                values[key[len(prefix):].lower()] = value
        result[channel] = ChannelSettings(channel, values)
    return result
