"""Channel settings: ``[channels.NAME]`` of the config file, overridden by ``POLICY_ENGINE_NAME_KEY``.

The rule this module keeps: a setting whose key looks secret (``secret``, ``password``, ``token``,
``api_key``, ``credential``, ``auth``) never appears in a ``repr``, a log line or ``policy-engine
plugins`` output; :class:`ChannelSettings` masks it as ``***``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from policy_engine._exceptions import PluginError
from policy_engine.policy.channels import ChannelSpec

__all__ = [
    "DEFAULT_CONFIG",
    "SETTING_KINDS",
    "ChannelSettings",
    "load_config",
    "load_settings",
    "missing_settings",
    "setting_env_var",
    "typed_problems",
]

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


def missing_settings(spec: ChannelSpec, settings: ChannelSettings) -> list[str]:
    """The required settings of a channel that are not set (``"a|b"``: neither is set)."""

    def present(key: str) -> bool:
        return settings.get(key) not in (None, "")

    return [need for need in spec.required_settings if not any(present(k) for k in need.split("|"))]


SETTING_KINDS = ("number", "integer", "boolean", "text")
"""What :func:`typed_problems` can check a setting to be (or a tuple of the values allowed)."""
_BOOLEAN_TEXT = ("1", "0", "true", "false", "yes", "no", "on", "off")


def typed_problems(channel: str, settings: Mapping[str, Any], kinds: Mapping[str, str | tuple[str, ...]]) -> list[str]:
    """Settings whose value is not of its kind, one sentence each naming the setting and its variable.

    ``kinds`` maps a key to ``number``, ``integer`` (both > 0), ``boolean``, ``text``, or the tuple of the
    values allowed. Values from the environment are text, so ``"10"`` is a number and ``"ten"`` is not.
    """
    problems: list[str] = []
    for key, kind in kinds.items():
        if key not in settings or settings[key] in (None, ""):
            continue
        value = settings[key]
        wrong = _wrong_kind(value, kind)
        if wrong:
            problems.append(f"[channels.{channel}] {key} = {value!r} is not {wrong} "
                            f"(set in the config file or {setting_env_var(channel, key)})")
    return problems


def _wrong_kind(value: Any, kind: str | tuple[str, ...]) -> str | None:
    if isinstance(kind, tuple):
        return None if str(value).strip().lower() in kind else "one of " + ", ".join(kind)
    if kind == "text":
        return None if isinstance(value, str) else "text"
    if kind == "boolean":
        ok = isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in _BOOLEAN_TEXT)
        return None if ok else "true or false"
    if isinstance(value, bool):
        return "a number"
    try:
        number = float(value) if not isinstance(value, int | float) else value
    except (TypeError, ValueError):
        number = None
    if number is None or number != number or number in (float("inf"), float("-inf")) or number <= 0:
        return "a number above 0" if kind == "number" else "a whole number above 0"
    if kind == "integer" and number != int(number):
        return "a whole number above 0"
    return None


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
