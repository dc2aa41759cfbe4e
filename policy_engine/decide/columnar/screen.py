"""The conservative screen of the native readers: SQL that passes only rows that are certainly valid.

A native reader hands DuckDB a relation of *cells*: per row its ``line``, its ``raw`` text, the ``keys`` it
gives and, per field of :data:`ACCOUNT_FIELDS` / :data:`HISTORY_FIELDS`, the value as text (``v_<field>``)
and its JSON kind (``k_<field>``: ``VARCHAR``, ``BOOLEAN``, ``UBIGINT``, ``BIGINT``, ``DOUBLE``,
``OBJECT``, ``ARRAY``, ``NULL``; NULL when the row does not give the field; Parquet columns also give
``DATE`` and ``TIMESTAMP``, which only the date and instant rules accept). The screen turns each row into
the columns of :mod:`.schema` and a verdict ``passed``.

A row passes only when every value has a plain form whose meaning is beyond doubt: ids of printable
ASCII, text without control or invisible characters and without surrounding spaces, numbers without an
exponent, dates and instants in one exact ISO 8601 shape, known time zones, e-mail addresses and phone
numbers of the simplest valid shapes, known keys only. Everything else, valid or not, fails the screen and
goes to the record validation every backend uses (:func:`policy_engine.data.readers.validate_row`), which
accepts it or gives the exact reject message. So the screen never decides a reject: it can only be too
careful, which costs time, never a different answer.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Final, get_args

from policy_engine.data.records import MAX_ID_LENGTH, BreathingSpace, EventType, Outcome
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, FLAG_NAMES, HISTORY_COLUMNS, MONEY

__all__ = ["ACCOUNT_FIELDS", "ATTRIBUTE_KEY", "HISTORY_FIELDS", "Field", "account_screen", "history_screen",
           "keys_given", "known_zones"]

_SAFE_CHAR: Final = r"[^\x00-\x20\x7f-\xa0\x{1680}\x{2000}-\x{200f}\x{2028}-\x{202f}\x{205f}-\x{206f}\x{3000}\x{feff}]"
SAFE_TEXT: Final = f"{_SAFE_CHAR}+( {_SAFE_CHAR}+)*"
"""Words of characters that are neither controls, nor spaces of any kind, nor invisible, single-spaced."""
_ID: Final = f"[!-~]{{1,{MAX_ID_LENGTH}}}"
_NUMBER: Final = r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?"
_COUNT: Final = r"0|[1-9][0-9]{0,5}|1000000"
_DATE: Final = r"(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}"
_INSTANT: Final = (r"(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                   r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])")
_PHONE: Final = r"\+[1-9][0-9]{1,14}"
_ATOM: Final = r"[A-Za-z0-9_%+-]+"
_LABEL: Final = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL: Final = f"{_ATOM}(\\.{_ATOM})*@{_LABEL}(\\.{_LABEL})+"
ATTRIBUTE_KEY: Final = "[A-Za-z0-9_]{1,64}"
"""The attribute keys the screen passes: letters, digits and underscores."""
_BOOL_TEXT: Final = "('true', 'false', 'yes', 'no', '1', '0')"
_NUMBER_KINDS: Final = "('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE')"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _absent(kind: str) -> str:
    return f"({kind} IS NULL OR {kind} = 'NULL')"


def _matches(value: str, pattern: str) -> str:
    return f"regexp_full_match({value}, {_quote(pattern)})"


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    return f"{value} IN ({', '.join(_quote(choice) for choice in choices)})"


@dataclass(frozen=True)
class Rule:
    """How a field passes the screen (given its value ``v`` and kind ``k``) and what it becomes."""

    passes: Callable[[str, str], str]
    value: Callable[[str, str], str]


def _text_rule(pattern: str) -> Rule:
    return Rule(lambda v, k: f"({k} = 'VARCHAR' AND {_matches(v, pattern)})", lambda v, k: v)


def _enum_rule(choices: tuple[str, ...]) -> Rule:
    return Rule(lambda v, k: f"({k} = 'VARCHAR' AND {_one_of(v, choices)})", lambda v, k: v)


def _bool_passes(v: str, k: str) -> str:
    return f"({k} = 'BOOLEAN' OR ({k} IN ('VARCHAR', 'UBIGINT') AND lower({v}) IN {_BOOL_TEXT}))"


def _bool_value(v: str, k: str) -> str:
    return f"(lower({v}) IN ('true', 'yes', '1'))"


RULES: Final[dict[str, Rule]] = {
    "id": _text_rule(_ID),
    "text": _text_rule(SAFE_TEXT),
    "phone": _text_rule(_PHONE),
    "email": Rule(lambda v, k: f"({k} = 'VARCHAR' AND length({v}) <= 254 AND {_matches(v, _EMAIL)} "
                               f"AND length(split_part({v}, '@', 1)) <= 64)", lambda v, k: v),
    "zone": Rule(lambda v, k: f"({k} = 'VARCHAR' AND {v} IN (SELECT zone FROM screen_zones))", lambda v, k: v),
    "currency": Rule(lambda v, k: f"({k} = 'VARCHAR' AND {_matches(v, '[A-Za-z]{3}')})", lambda v, k: f"upper({v})"),
    "money": Rule(lambda v, k: f"({k} IN {_NUMBER_KINDS} AND {_matches(v, _NUMBER)})",
                  lambda v, k: f"TRY_CAST({v} AS {MONEY})"),
    "count": Rule(lambda v, k: f"({k} IN ('VARCHAR', 'UBIGINT') AND {_matches(v, _COUNT)})",
                  lambda v, k: f"TRY_CAST({v} AS BIGINT)"),
    "date": Rule(lambda v, k: f"({k} IN ('VARCHAR', 'DATE') AND {_matches(v, _DATE)} "
                              f"AND TRY_CAST({v} AS DATE) IS NOT NULL)",
                 lambda v, k: f"TRY_CAST({v} AS DATE)"),
    "instant": Rule(lambda v, k: f"({k} IN ('VARCHAR', 'TIMESTAMP') AND {_matches(v, _INSTANT)} "
                                 f"AND TRY_CAST(substr({v}, 1, 10) AS DATE) IS NOT NULL)", lambda v, k: v),
    "bool": Rule(_bool_passes, _bool_value),
    "event_type": _enum_rule(get_args(EventType)),
    "outcome": _enum_rule(get_args(Outcome)),
    "breathing_space": _enum_rule(get_args(BreathingSpace)),
}


@dataclass(frozen=True)
class Field:
    """One field the screen reads: its name in the cells, its key in a record, its rule, and whether the
    record needs it."""

    name: str
    key: str
    rule: str
    required: bool = False

    @property
    def group(self) -> str | None:
        """The nested group the field belongs to (``contact`` for ``contact.phone``), if any."""
        return self.key.partition(".")[0] if "." in self.key else None


ACCOUNT_FIELDS: Final = (
    Field("account_id", "account_id", "id", required=True),
    Field("customer_id", "customer_id", "id"),
    Field("name", "name", "text"),
    Field("region", "region", "text"),
    Field("timezone", "timezone", "zone"),
    Field("currency", "currency", "currency"),
    Field("balance", "balance", "money", required=True),
    Field("amount_past_due", "amount_past_due", "money"),
    Field("minimum_due", "minimum_due", "money"),
    Field("delinquent_since", "delinquent_since", "date"),
    Field("credit_score", "credit_score", "count"),
    Field("prior_delinquencies", "prior_delinquencies", "count"),
    Field("product", "product", "text"),
    Field("language", "language", "text"),
    Field("contact_phone", "contact.phone", "phone"),
    Field("contact_email", "contact.email", "email"),
    Field("contact_address", "contact.address", "text"),
    Field("contact_phone_at_work", "contact.phone_at_work", "bool"),
    Field("contact_email_at_work", "contact.email_at_work", "bool"),
    Field("consent_email", "consent.email", "bool"),
    Field("consent_sms", "consent.sms", "bool"),
    Field("consent_voice", "consent.voice", "bool"),
    *(Field(f"flags_{name}", f"flags.{name}", "bool") for name in FLAG_NAMES),
)
"""The account fields the screen passes; a row giving any other field goes to the record validation."""

HISTORY_FIELDS: Final = (
    Field("account_id", "account_id", "id", required=True),
    Field("at", "at", "instant", required=True),
    Field("type", "type", "event_type", required=True),
    Field("channel", "channel", "text"),
    Field("outcome", "outcome", "outcome"),
    Field("action", "action", "text"),
    Field("notice", "notice", "text"),
    Field("amount", "amount", "money"),
    Field("due", "due", "date"),
    Field("granted", "granted", "bool"),
    Field("breathing_space", "breathing_space", "breathing_space"),
    Field("counts_as_attempt", "counts_as_attempt", "bool"),
)
"""The history fields (every field of an event)."""

ACCOUNT_GROUPS: Final = ("contact", "consent", "flags")
"""The nested groups of an account whose keys the screen knows (``attributes`` is read apart)."""


@cache
def known_zones() -> tuple[str, ...]:
    """The IANA zone names every backend accepts (the zone database's list)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def _field_checks(fields: tuple[Field, ...]) -> list[str]:
    checks = []
    for field in fields:
        v, k = f"v_{field.name}", f"k_{field.name}"
        passes = RULES[field.rule].passes(v, k)
        checks.append(passes if field.required else f"({_absent(k)} OR {passes})")
    return checks


def _value(field: Field) -> str:
    v, k = f"v_{field.name}", f"k_{field.name}"
    converted = RULES[field.rule].value(v, k)
    if field.rule == "bool" and field.group in ("contact", "flags"):
        return f"coalesce(CASE WHEN NOT {_absent(k)} THEN {converted} END, false)"
    return f"CASE WHEN NOT {_absent(k)} THEN {converted} END"


def _consent_json() -> str:
    parts = [f"CASE WHEN NOT {_absent(f'k_consent_{name}')} THEN "
             f"'\"{name}\":' || CASE WHEN {_bool_value(f'v_consent_{name}', '')} THEN 'true' ELSE 'false' END END"
             for name in ("email", "sms", "voice")]  # sorted keys, as the record's JSON text has them
    return f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"


def keys_given(names: Iterable[str]) -> str:
    """How many of these fields (kind columns) a row gives: a row gives no other key, and no key twice,
    when this equals the length of its key list."""
    return " + ".join(f"CAST(k_{name} IS NOT NULL AS INTEGER)" for name in names) or "0"


def account_screen(cells: str) -> str:
    """The screen of account cells (a relation named ``cells``, or a subquery): the columns of the
    ``accounts`` relation (``position`` holding the line) and ``passed``.

    Besides the values and kinds, the cells relation has ``structure_ok`` (the format's own checks: only
    known keys, each once, nested groups as objects) and ``attributes_json``."""
    by_name = {field.name: field for field in ACCOUNT_FIELDS}
    values: dict[str, str] = {"position": "line", "consent": _consent_json(), "attributes": "attributes_json",
                              "timezones": "CAST([] AS VARCHAR[])", "preferred_start": "CAST(NULL AS BIGINT)",
                              "preferred_end": "CAST(NULL AS BIGINT)"}
    for name, _ in ACCOUNT_COLUMNS:
        if name not in values:
            values[name] = _value(by_name[name])
    columns = ",\n       ".join(f"{values[name]} AS \"{name}\"" for name, _ in ACCOUNT_COLUMNS)
    checks = " AND ".join(["structure_ok", *_field_checks(ACCOUNT_FIELDS)])
    return f"SELECT {columns},\n       coalesce({checks}, false) AS passed\nFROM {cells}"


_REQUIRED_BY_TYPE: Final = (
    "NOT (v_type = 'contact' AND ({channel} OR {outcome}))",
    "NOT (v_type = 'promise' AND {due})",
    "NOT (v_type = 'consent' AND ({channel} OR {granted}))",
)


def history_screen(cells: str) -> str:
    """The screen of history cells: the columns of the ``history`` relation (``position`` holding the
    line) and ``passed``."""
    by_name = {field.name: field for field in HISTORY_FIELDS}
    local = "substr(v_at, 1, length(v_at) - CASE WHEN v_at LIKE '%Z' THEN 1 ELSE 6 END)"
    offset = ("CASE WHEN v_at LIKE '%Z' THEN 0 ELSE (CASE WHEN substr(v_at, -6, 1) = '-' THEN -1 ELSE 1 END) * "
              "(TRY_CAST(substr(v_at, -5, 2) AS INTEGER) * 3600 + TRY_CAST(substr(v_at, -2, 2) AS INTEGER) * 60) END")
    values: dict[str, str] = {
        "position": "line",
        "at_utc": f"TRY_CAST(replace({local}, 'T', ' ') AS TIMESTAMP) - to_seconds({offset})",
        "at_offset_seconds": f"CAST({offset} AS INTEGER)",
        "amount_text": f"CASE WHEN NOT {_absent('k_amount')} THEN v_amount END",
    }
    for name, _ in HISTORY_COLUMNS:
        if name not in values:
            values[name] = _value(by_name[name])
    columns = ",\n       ".join(f"{values[name]} AS \"{name}\"" for name, _ in HISTORY_COLUMNS)
    missing = {name: _absent(f"k_{name}") for name in ("channel", "outcome", "due", "granted")}
    checks = " AND ".join(["structure_ok", *_field_checks(HISTORY_FIELDS),
                           *(rule.format(**missing) for rule in _REQUIRED_BY_TYPE)])
    return f"SELECT {columns},\n       coalesce({checks}, false) AS passed\nFROM {cells}"
