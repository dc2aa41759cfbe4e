"""Write the hostile corpus: one JSON file per case in ``cases/``, each a hostile policy, a bad input row or a
wrong command-line option, with the exact outcome it must have.

    .venv/bin/python tests/hostile/generate.py            # write the cases (inputs and intents)
    .venv/bin/python tests/hostile/generate.py --record   # ... and record each one's exact outcome

Every case states its intent here (exit code; the file, line and a phrase of the message; rows decided and
set aside). ``--record`` runs each case in-process, refuses to record an outcome that breaks its intent or
shows a traceback, and writes the exact outcome (every error line, the rows decided, the rejects file) into
the case, which ``test_corpus.py`` then checks. The cases are committed; rerun this script (with
``--record``) after changing a message on purpose, and review the diff.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.hostile.runner import BASES, CASES, file_bytes, run_in_process  # noqa: E402

AS_OF = "2026-11-28T09:00:00+08:00"
MINIMAL = (BASES / "minimal.toml").read_text(encoding="utf-8")
GOOD_ROWS = (BASES / "accounts.jsonl").read_text(encoding="utf-8").splitlines()
GOOD = len(GOOD_ROWS)
CASE_LIST: list[dict[str, Any]] = []


def add(name: str, family: str, attack: str, files: dict[str, Any], argv: list[str], intent: dict[str, Any],
        console: bool = False) -> None:
    """Add one case to the corpus."""
    CASE_LIST.append({"name": name, "family": family, "attack": attack, "files": files, "argv": argv,
                      "console": console, "intent": intent})


def line_col(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


# ------------------------------------------------------------------------------------------- policies
def policy_spec(replace: list[tuple[str, str]] | None = None, append: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"base": "minimal.toml"}
    if replace:
        spec["replace"] = [list(pair) for pair in replace]
    if append:
        spec["append"] = append
    return spec


def policy_text(spec: dict[str, Any]) -> str:
    return file_bytes(spec).decode("utf-8")


def bad_policy(name: str, family: str, attack: str, *, replace: list[tuple[str, str]] | None = None,
               append: str = "", needle: str | None = None, says: str, exit_code: int = 3,
               errors: int | None = 1, console: bool = False, column: bool | int = True) -> None:
    """A policy changed in one place that ``validate`` must refuse, located at ``needle`` (its line; its
    column, or the column given, or any column when ``column`` is False)."""
    spec = policy_spec(replace, append)
    where = None
    if needle is not None:
        line, col = line_col(policy_text(spec), needle)
        if column is False:
            where = f"policy.toml:{line}:"
        else:
            where = f"policy.toml:{line}:{col if column is True else column}:"
    add(name, family, attack, {"policy.toml": spec}, ["validate", "policy.toml"],
        {"exit_code": exit_code, "where": where, "says": says, "errors": errors}, console)


def good_policy(name: str, family: str, attack: str, *, replace: list[tuple[str, str]] | None = None,
                append: str = "", files: dict[str, Any] | None = None) -> None:
    """A policy that looks hostile but is fine: ``validate`` accepts it."""
    add(name, family, attack, {"policy.toml": policy_spec(replace, append), **(files or {})},
        ["validate", "policy.toml"], {"exit_code": 0, "errors": 0})


def raw_policy(name: str, family: str, attack: str, data: bytes, *, where: str | None, says: str,
               console: bool = False) -> None:
    """A policy file of raw bytes."""
    add(name, family, attack, {"policy.toml": {"base64": base64.b64encode(data).decode("ascii")}},
        ["validate", "policy.toml"], {"exit_code": 3, "where": where, "says": says, "errors": 1}, console)


def nesting() -> None:
    family = "nesting"
    for depth in (33, 100, 500, 5000, 100_000):
        bad_policy(f"array-nested-{depth}", family, f"an array nested {depth} deep (the TOML parser recursed "
                   "past Python's limit at ~330)", append=f"\n[x]\ny = {'[' * depth}{']' * depth}\n",
                   needle="y = [", column=5 + 32, says="values nest more than 32 levels deep here",
                   console=depth == 500)
    for depth in (33, 500, 5000):
        bad_policy(f"inline-table-nested-{depth}", family, f"inline tables nested {depth} deep",
                   append=f"\n[x]\ny = {'{ a = ' * depth}1{' }' * depth}\n", needle="y = {",
                   column=5 + 32 * len("{ a = "), says="values nest more than 32 levels deep here")
    for depth in (17, 60, 500):
        condition = "{ dpd = { gte = 1 } }"
        for _ in range(depth):
            condition = "{ all = [ " + condition + " ] }"
        bad_policy(f"condition-nested-{depth}", family, f"a condition nested {depth} levels (all of all of ...)",
                   replace=[("when = { credit_score = { lt = 600 } }", "when = " + condition)],
                   needle="when = { all", column=len("when = ") + 16 * len("{ all = [ ") + 1,
                   says="values nest more than 32 levels deep here")
    condition = "{ dpd = { gte = 1 } }"
    for _ in range(10):
        condition = "{ all = [ " + condition + " ] }"
    good_policy("condition-nested-10", family, "a condition nested 10 levels is fine",
                replace=[("when = { credit_score = { lt = 600 } }", "when = " + condition)])
    for parts in (40, 3000):
        key = ".".join(f"k{i}" for i in range(parts))
        bad_policy(f"dotted-key-{parts}-parts", family, f"a dotted key of {parts} parts nests without brackets",
                   append=f"\n[x]\n{key} = 1\n", needle=key[:9], says="values nest more than 32 levels deep here")
    header = ".".join(f"t{i}" for i in range(40))
    bad_policy("table-header-40-parts", family, "a [table] header of 40 dotted parts",
               append=f"\n[{header}]\nv = 1\n", needle=f"[{header}]", says="values nest more than 32 levels deep here")
    bad_policy("brackets-inside-strings-do-not-count", family, "brackets inside a string are text, not nesting",
               append='\n[x]\ny = "' + "[" * 200 + '"\n', needle="[x]", says="unknown key 'x'")
    good_policy("brackets-inside-comments-do-not-count", family, "brackets in a comment are not nesting",
                append="\n# " + "[{" * 300 + "\n")
    good_policy("brackets-inside-multiline-text-do-not-count", family, "brackets in a multi-line template body",
                replace=[('body = "法律程序通知。"', 'body = """法律程序通知。\n' + "[" * 100 + '\n"""')])


def sizes() -> None:
    family = "size"
    base = MINIMAL.encode("utf-8")
    add("policy-over-2-mib", family, "a policy one byte over the 2 MiB limit is refused before it is parsed",
        {"policy.toml": {"repeat": [[MINIMAL, 1], ["#" * 1023 + "\n", 2048]]}}, ["validate", "policy.toml"],
        {"exit_code": 3, "where": "policy.toml:", "says": "the file is larger than 2 MiB", "errors": 1})
    add("policy-50-mb", family, "a 50 MB policy (4 GB of memory before) is refused at once",
        {"policy.toml": {"repeat": [[MINIMAL, 1], ["x = [" + "1," * 500 + "]\n", 50_000]]}},
        ["validate", "policy.toml"],
        {"exit_code": 3, "where": "policy.toml:", "says": "the file is larger than 2 MiB", "errors": 1}, console=True)
    padding = 2 * 1024 * 1024 - len(base) - 10
    add("policy-just-under-2-mib", family, "a policy just under the limit (a long comment) is read",
        {"policy.toml": {"repeat": [[MINIMAL, 1], ["#" * 1023 + "\n", padding // 1024]]}},
        ["validate", "policy.toml"], {"exit_code": 0, "errors": 0})
    add("long-array-of-numbers", family, "an array of 150,000 numbers: the locator keeps 1000 positions, not all",
        {"policy.toml": {"repeat": [[MINIMAL + "\n[x]\nlots = [", 1], ["1,", 150_000], ["]\n", 1]]}},
        ["validate", "policy.toml"],
        {"exit_code": 3, "where": f"policy.toml:{MINIMAL.count(chr(10)) + 2}:1:", "says": "unknown key 'x'",
         "errors": 1})


def encodings() -> None:
    family = "encoding"
    raw_policy("utf-16-le-with-bom", family, "a policy saved as UTF-16 (Windows 'Unicode')",
               MINIMAL.encode("utf-16"), where="policy.toml:1:1:", says="this is UTF-16 text, not UTF-8",
               console=True)
    raw_policy("utf-16-be-with-bom", family, "UTF-16 big-endian", b"\xfe\xff" + MINIMAL.encode("utf-16-be"),
               where="policy.toml:1:1:", says="this is UTF-16 text, not UTF-8")
    raw_policy("utf-16-without-bom", family, "UTF-16 without a byte-order mark", MINIMAL.encode("utf-16-le"),
               where="policy.toml:1:2:", says="this looks like UTF-16 text")
    raw_policy("utf-32", family, "UTF-32 with its byte-order mark", MINIMAL.encode("utf-32"),
               where="policy.toml:1:1:", says="this is UTF-32 text, not UTF-8")
    raw_policy("png-image", family, "an image saved as policy.toml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
               where="policy.toml:3:1:", says="this is a binary file, not TOML text")
    raw_policy("gzip-file", family, "a compressed policy", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
               where="policy.toml:1:4:", says="this is a binary file, not TOML text")
    latin = MINIMAL.replace('version = "1"', 'version = "caf\u00e9"').encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    raw_policy("latin-1-byte-in-a-string", family, "a Latin-1 'é' from an old editor", latin,
               where="policy.toml:6:15:", says="not UTF-8 text: byte 0xe9")
    broken = MINIMAL.replace("[guardrails]", "# caf\u00e9\n[guardrails]").encode("utf-8").replace(b"\xc3\xa9", b"\xc3(")
    raw_policy("bad-continuation-byte-in-a-comment", family, "a broken two-byte character in a comment", broken,
               where="policy.toml:12:6:", says="not UTF-8 text: byte 0xc3")
    surrogate = MINIMAL.replace('version = "1"', 'version = "1X"').encode("utf-8").replace(b"1X", b"\xed\xa0\x80")
    raw_policy("encoded-surrogate", family, "a UTF-16 surrogate encoded as UTF-8 (CESU-8)", surrogate,
               where="policy.toml:6:12:", says="not UTF-8 text: byte 0xed")
    nul = MINIMAL.replace('version = "1"', 'version = "1X"').encode("utf-8").replace(b"1X", b"1\x00")
    raw_policy("nul-byte-in-a-string", family, "a NUL byte inside a value", nul,
               where="policy.toml:6:13:", says="this is a binary file, not TOML text")
    add("utf-8-byte-order-mark", family, "a UTF-8 byte-order mark from a Windows editor is fine",
        {"policy.toml": {"base64": base64.b64encode(b"\xef\xbb\xbf" + MINIMAL.encode("utf-8")).decode()}},
        ["validate", "policy.toml"], {"exit_code": 0, "errors": 0})
    raw_policy("empty-file", family, "an empty policy file", b"", where="policy.toml:1:1:",
               says="missing the [policy] table")
    raw_policy("carriage-returns-only", family, "old Mac line endings (CR only)",
               MINIMAL.replace("\n", "\r").encode("utf-8"), where="policy.toml:1:", says="TOML syntax error")


ID_FIELDS = [
    ("action", 'id = "reminder_sms"', 'id = "reminder_sms\\n"'),
    ("stage", 'id = "early"', 'id = "early\\n"'),
    ("segment", 'id = "high_risk"', 'id = "high_risk\\n"'),
    ("hold", 'id = "complaint"', 'id = "complaint\\n"'),
    ("notice", 'id = "pre_legal_warning"', 'id = "pre_legal_warning\\n"'),
    ("offer", 'id = "installment_24"', 'id = "installment_24\\n"'),
    ("variant", 'id = "champion"', 'id = "champion\\n"'),
    ("policy", 'id = "test-bank"', 'id = "test-bank\\n"'),
]


def identifiers() -> None:
    family = "ids"
    for what, old, new in ID_FIELDS:
        bad_policy(f"{what}-id-with-trailing-newline", family, f"a {what} id ending in a newline ($ matched it)",
                   replace=[(old, new)], needle=new, says="is not a valid id")
    bad_policy("id-with-trailing-space", family, "an id ending in a space", replace=[('id = "early"', 'id = "early "')],
               needle='id = "early "', says="is not a valid id")
    long_id = "a" * 101
    bad_policy("id-of-101-characters", family, "an id longer than the ledger's columns allow",
               replace=[('id = "reminder_sms"', f'id = "{long_id}"')], needle=f'id = "{long_id}"',
               says="an id is at most 100 characters")
    bad_policy("id-with-accented-letter", family, "an id with a non-ASCII letter",
               replace=[('id = "early"', 'id = "\u00e9arly"')], needle='id = "\u00e9arly"', says="is not a valid id")
    bad_policy("id-starting-with-a-digit", family, "an id starting with a digit",
               replace=[('id = "early"', 'id = "1early"')], needle='id = "1early"', says="is not a valid id")
    bad_policy("template-id-with-a-dot", family, "a template id with a dot (validated, then missing at send time)",
               replace=[('[templates.reminder."zh-CN"]', '[templates."reminder.v2"."zh-CN"]'),
                        ('template = "reminder"', 'template = "reminder.v2"')],
               needle='[templates."reminder.v2"."zh-CN"]', says="'reminder.v2' is not a valid id")
    bad_policy("template-id-with-a-newline", family, "a template id ending in a newline",
               replace=[('[templates.reminder."zh-CN"]', '[templates."reminder\\n"."zh-CN"]')],
               needle='[templates."reminder\\n"."zh-CN"]', says="is not a valid id", errors=None)


def baselines_and_extends() -> None:
    family = "extends"
    for label, entry in [("parent-directory", "baseline:../baselines/cn"), ("absolute-path", "baseline:/etc/passwd"),
                         ("dot-dot-inside", "baseline:cn/../cn"), ("dot-dot", "baseline:.."),
                         ("with-suffix", "baseline:cn.toml"), ("empty", "baseline:"),
                         ("windows-path", "baseline:C:\\\\Windows\\\\win"), ("newline", "baseline:cn\\n"),
                         ("space", "baseline:us reg f")]:
        bad_policy(f"baseline-name-{label}", family, f"extends = [\"{entry}\"]: a baseline name that is a path",
                   replace=[('extends = ["baseline:cn"]', f'extends = ["{entry}"]')], needle=f'"{entry}"',
                   says="is not a baseline name", errors=None)
    bad_policy("baseline-name-wrong-case", family, "a plain but unknown baseline name gets a did-you-mean",
               replace=[('extends = ["baseline:cn"]', 'extends = ["baseline:CN"]')], needle='"baseline:CN"',
               says="unknown baseline 'CN'", errors=None)
    for label, entry, says in [("dev-zero", "/dev/zero", "no file exists"), ("a-directory", ".", "no file exists"),
                               ("missing-file", "nowhere.toml", "no file exists")]:
        bad_policy(f"extends-{label}", family, f"extends = [\"{entry}\"]", needle=f'"{entry}"', says=says,
                   replace=[('extends = ["baseline:cn"]', f'extends = ["baseline:cn", "{entry}"]')], errors=None)
    bad_policy("extends-itself", family, "a policy that extends itself",
               replace=[('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "policy.toml"]')],
               needle='"policy.toml"', says="extends cycle: policy.toml -> policy.toml", errors=None)
    cycle = {"other.toml": {"text": '[policy]\nid = "other"\nkind = "baseline"\nextends = ["policy.toml"]\n'}}
    add("extends-two-file-cycle", family, "two files extending each other",
        {"policy.toml": policy_spec([('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "other.toml"]')]),
         **cycle}, ["validate", "policy.toml"],
        {"exit_code": 3, "where": "other.toml:4:", "says": "extends cycle: policy.toml -> other.toml -> policy.toml",
         "errors": None})
    for label, data, says in [("utf-16", '[policy]\nid = "house"\n'.encode("utf-16"), "this is UTF-16 text"),
                              ("binary", b"\x00\x01\x02", "this is a binary file")]:
        add(f"extends-a-{label}-file", family, f"extends a {label} file: located in that file",
            {"policy.toml": policy_spec([('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "house.toml"]')]),
             "house.toml": {"base64": base64.b64encode(data).decode()}}, ["validate", "policy.toml"],
            {"exit_code": 3, "where": "house.toml:1:", "says": says, "errors": 1})
    chain: dict[str, Any] = {"f0.toml": {"text": '[policy]\nid = "f0"\nkind = "baseline"\n[guardrails]\n'
                                                 'max_contacts_per_day = 5\n'}}
    for i in range(1, 300):
        chain[f"f{i}.toml"] = {"text": f'[policy]\nid = "f{i}"\nkind = "baseline"\nextends = ["f{i - 1}.toml"]\n'}
    add("extends-chain-of-300", family, "a chain of 300 files resolves in linear time (300 took minutes before)",
        {"policy.toml": policy_spec([('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "f299.toml"]')]),
         **chain}, ["validate", "policy.toml"], {"exit_code": 0, "errors": 0})
    deep: dict[str, Any] = {"d0.toml": {"text": '[policy]\nid = "d0"\nkind = "baseline"\n[guardrails]\n'
                                                'max_contacts_per_day = "two"\n'}}
    for i in range(1, 3):
        deep[f"d{i}.toml"] = {"text": f'[policy]\nid = "d{i}"\nkind = "baseline"\nextends = ["d{i - 1}.toml"]\n'}
    add("error-three-files-down", family, "an error two extends away is located in its file",
        {"policy.toml": policy_spec([('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "d2.toml"]')]),
         **deep}, ["validate", "policy.toml"],
        {"exit_code": 3, "where": "d0.toml:5:", "says": "expected a whole number", "errors": 1})


def templates() -> None:
    family = "templates"
    body = 'body = "您的信用卡已逾期。"'

    def bad_template(name: str, attack: str, text: str, says: str, errors: int | None = 1,
                     extra: list[tuple[str, str]] | None = None, console: bool = False) -> None:
        bad_policy(name, family, attack, replace=[(body, f"body = '''{text}'''"), *(extra or [])],
                   needle="body = '''", says=says, errors=errors, console=console)

    bad_template("template-updates-the-contact", "the issue's attack: re-address every SMS from the template",
                 "{{ account.contact.update({'phone': '+1999'}) }}", "calls .update(), which changes data",
                 console=True)
    for method, text in [("setdefault", "{{ account.contact.setdefault('email', 'x@evil.com') }}"),
                         ("pop", "{{ account.contact.pop('phone') }}"), ("clear", "{{ account.flags.clear() }}"),
                         ("attributes-update", "{{ account.attributes.update({'vip': true}) }}"),
                         ("append", "{{ account.timezones.append('UTC') }}"),
                         ("popitem", "{{ account.consent.popitem() }}")]:
        bad_template(f"template-calls-{method}", f"a template changing data with .{method.split('-')[-1]}()", text,
                     "which changes data")
    bad_template("template-setitem", "writing through __setitem__",
                 "{% set _ = account.contact.__setitem__('phone', '+1999') %}", "reads the private attribute")
    bad_template("template-class-walk", "the classic sandbox escape", "{{ account.__class__.__mro__ }}",
                 "reads the private attribute", errors=1)
    bad_template("template-private-item", "a private attribute by subscript", "{{ account['__class__'] }}",
                 "reads the private attribute")
    for tag, text in [("include", "{% include 'footer.txt' %}"), ("import", "{% import 'macros' as m %}"),
                      ("from-import", "{% from 'macros' import sign %}"), ("extends", "{% extends 'base.txt' %}")]:
        bad_template(f"template-{tag}", f"{{% {tag.split('-')[0]} %}} validated, then crashed run forever", text,
                     "is not allowed: a template is one self-contained text")
    bad_template("template-recursive-loop", "a recursive loop", "{% for x in account.timezones recursive %}"
                 "{{ loop(account.timezones) }}{% endfor %}", "recursive loops are not allowed")
    bad_template("template-random-filter", "a message that differs on every run", "{{ ['a', 'b']|random }}",
                 "the 'random' filter is not allowed")
    bad_template("template-lipsum", "random filler text", "{{ lipsum() }}", "'lipsum' is not allowed")
    bad_template("template-unknown-filter", "a misspelt filter validated, then failed every send",
                 "{{ account.customer_name|uper }}", "unknown filter 'uper' — did you mean 'upper'?")
    bad_template("template-offer-month", "offer.month (the field is months)", "{{ offer.month }}",
                 "'offer' has no field 'month' — did you mean 'months'?")
    bad_template("template-offer-descripton", "a misspelt offer field", "{{ offer.descripton }}",
                 "'offer' has no field 'descripton' — did you mean 'description'?")
    bad_template("template-bank-nmae", "a misspelt bank field", "{{ bank.nmae }}",
                 "'bank' has no field 'nmae' — did you mean 'name'?",
                 extra=[("[escalation.broken_promise]", '[bank]\nname = "Bank"\n\n[escalation.broken_promise]')])
    bad_template("template-bank-without-table", "bank.* without a [bank] table", "{{ bank.name }}",
                 "add a [bank] table")
    bad_template("template-contact-phne", "a misspelt contact field", "{{ account.contact.phne }}",
                 "'account.contact' has no field 'phne' — did you mean 'phone'?")
    bad_template("template-flags-disput", "a misspelt flag", "{{ account.flags.disput }}",
                 "'account.flags' has no field 'disput' — did you mean 'dispute'?")
    bad_template("template-syntax-error", "an unclosed expression", "{{ account.balance ",
                 "template syntax error")
    bad_template("template-loop-outside-a-loop", "loop.index outside a for loop", "{{ loop.index }}",
                 "unknown variable 'loop'")
    bad_template("template-four-problems-one-error", "one bad template is one error listing its problems",
                 "{{ offer.month }}\n{{ bank.nmae }}\n{{ account.nickname }}\n{{ balanse }}",
                 "unknown variable 'balanse'", errors=1)
    good_policy("template-loop-variable", family, "loop.index inside a loop is fine",
                replace=[(body, "body = '{% for z in account.timezones %}{{ loop.index }}{{ z }}{% endfor %}'")])
    good_policy("template-huge-repeat-validates", family, "'x' * 10**9 validates (bounded when it renders)",
                replace=[(body, "body = \"{{ 'x' * 1000000000 }}\"")])
    voicemail = ("[policy]\nid = \"u\"\ntimezone = \"America/New_York\"\nlocale = \"en-US\"\nextends = "
                 "[\"baseline:us-reg-f\"]\n\n[[stages]]\nid = \"s\"\ndpd = { from = 1 }\n  [[stages.actions]]\n"
                 "  id = \"call\"\n  channel = \"voice\"\n  template = \"v\"\n  [[stages.actions]]\n"
                 "  id = \"second_call\"\n  channel = \"voice\"\n  template = \"v\"\n\n[templates.v.\"en-US\"]\n"
                 "body = \"You owe a past due balance on your debt. Pay the amount today; it is overdue and late. "
                 "Your minimum due is outstanding.\"\n")
    add("voicemail-ten-words-one-error", family, "a voicemail naming the debt 10 ways gave 10 errors; now one",
        {"policy.toml": {"text": voicemail}}, ["validate", "policy.toml"],
        {"exit_code": 3, "where": f"policy.toml:{line_col(voicemail, 'body = ')[0]}:",
         "says": "is used by call actions 'call', 'second_call'", "errors": 1})


def numbers() -> None:
    family = "numbers"
    for name, old, new, says in [
        ("cap-max-a-million", "max = 4, days = 1", "max = 1000000, days = 1", "must be at most 100000"),
        ("cap-days-10-to-the-12", "max = 4, days = 1", "max = 4, days = 1000000000000", "must be at most 3660"),
        ("every-days-a-billion", "every_days = 3", "every_days = 1000000000", "must be at most 3660"),
        ("grace-days-ten-million", "grace_days = 1", "grace_days = 10000000", "must be at most 3660"),
        ("at-most-times-a-million", "at_most = { times = 2, days = 7 }", "at_most = { times = 1000000, days = 7 }",
         "must be at most 100000"),
        ("at-most-days-a-million", "at_most = { times = 2, days = 7 }", "at_most = { times = 2, days = 1000000 }",
         "must be at most 3660"),
        ("notice-wait-a-million-days", "delivered_days_ago = { gte = 30 }", "delivered_days_ago = { gte = 1000000 }",
         "must be at most 3660"),
        ("dpd-from-a-billion", "dpd = { from = 90 }", "dpd = { from = 1000000000 }", "must be at most 36525"),
        ("condition-beyond-10-to-the-30", "balance = { gte = 5000 }", "balance = { gte = 1e31 }", "1e+31"),
        ("condition-nan", "balance = { gte = 5000 }", "balance = { gte = nan }", "nan"),
        ("condition-infinity", "balance = { gte = 5000 }", "balance = { gte = inf }", "inf"),
        ("condition-minus-infinity", "balance = { gte = 5000 }", "balance = { gte = -inf }", "inf"),
        ("condition-overflowing-float", "balance = { gte = 5000 }", "balance = { gte = 1e400 }", "inf"),
        ("condition-huge-integer", "balance = { gte = 5000 }", "balance = { gte = " + "9" * 40 + " }", "9999"),
        ("offer-months-a-million", "months = 24", "months = 1000000", "must be at most 120"),
        ("daily-cap-beyond-64-bits", "max_contacts_per_day = 3", "max_contacts_per_day = 99999999999999999999",
         "must be at most 100000"),
        ("variant-weight-a-billion", "weight = 80", "weight = 1000000000", "must be at most 100"),
    ]:
        bad_policy(name, family, f"{new}: validated, then crashed every dry-run", replace=[(old, new)],
                   needle=new, says=says, errors=None, column=False)
    boundary = (MINIMAL.split("[[tests]]")[0]
                .replace("max_contacts_per_day = 3", "max_contacts_per_day = 3\nafter_conversation = "
                         "[ { kinds = [\"call\"], days = 3660 } ]")
                .replace('{ kinds = ["call"], max = 4, days = 1 }', '{ kinds = ["call"], max = 100000, days = 3660 }')
                .replace("every_days = 3", "every_days = 3660")
                .replace("at_most = { times = 2, days = 7 }", "at_most = { times = 100000, days = 3660 }")
                .replace("dpd = { from = 90 }", "dpd = { from = 90, to = 36525 }")
                .replace("balance = { gte = 5000 }", "balance = { gte = 1e29 }")
                .replace("delivered_days_ago = { gte = 30 }", "delivered_days_ago = { gte = 3660 }")
                .replace("grace_days = 1", "grace_days = 3660"))
    accounts = [
        {"account_id": "E1", "balance": "1e18", "delinquent_since": "1900-01-01", "credit_score": 1000000,
         "timezone": "Pacific/Kiritimati", "contact": {"phone": "+12125550100", "address": "x"},
         "consent": {"sms": True, "voice": True}},
        {"account_id": "E2", "balance": "-1e18", "delinquent_since": "2999-12-31", "timezone": "Etc/GMT+12"},
        {"account_id": "E3", "balance": "0.000000000000000001", "delinquent_since": "1900-01-01",
         "attributes": {"x": 1e29, "y": -1e29}},
        {"account_id": "E4", "balance": 5000, "delinquent_since": "2000-01-01",
         "timezones": ["Pacific/Kiritimati", "Etc/GMT+12"], "preferred_hours": {"start": "00:00", "end": "23:59"}},
    ]
    events = []
    for account in ("E1", "E2", "E3", "E4"):
        for at in ("1900-01-01T00:00:00+14:00", "1900-01-01T00:00:00-12:00", "2999-12-31T23:59:59-12:00",
                   "2999-12-31T23:59:59+14:00"):
            events += [{"account_id": account, "at": at, "type": "contact", "channel": "voice",
                        "outcome": "conversation", "action": "courtesy_call"},
                       {"account_id": account, "at": at, "type": "promise", "due": "2999-12-31", "amount": "1e18"},
                       {"account_id": account, "at": at, "type": "payment", "amount": "1e18"},
                       {"account_id": account, "at": at, "type": "contact", "channel": "letter",
                        "outcome": "delivered", "notice": "pre_legal_warning"}]
    files = {"policy.toml": {"text": boundary},
             "accounts.jsonl": {"text": "".join(json.dumps(a) + "\n" for a in accounts)},
             "history.jsonl": {"text": "".join(json.dumps(e) + "\n" for e in events)}}
    for as_of in ("1900-01-01T00:00:00-12:00", "2999-12-31T23:59:59+14:00"):
        for backend in ("compiled", "durable"):
            add(f"every-bound-at-its-limit-{as_of[:4]}-{backend}", family,
                "every duration and count at its bound, dates at the ends of the range: every account decided",
                files, ["dry-run", "--policy", "policy.toml", "--accounts", "accounts.jsonl", "--history",
                        "history.jsonl", "--as-of", as_of, "--backend", backend, "--format", "jsonl", "--rejects",
                        "rejects.jsonl"], {"exit_code": 0, "decided": 4, "rejected": []})


# ---------------------------------------------------------------------------------------------- rows
DRY_RUN = ["dry-run", "--policy", "policy.toml", "--accounts", "accounts.jsonl", "--history", "history.jsonl",
           "--as-of", AS_OF, "--format", "jsonl", "--rejects", "rejects.jsonl"]


def row_files(bad: list[str], *, history: list[str] | None = None, at: int = 2) -> dict[str, Any]:
    return {"policy.toml": {"base": "minimal.toml"},
            "accounts.jsonl": {"base": "accounts.jsonl", "insert": [at, bad]} if bad else {"base": "accounts.jsonl"},
            "history.jsonl": {"base": "history.jsonl", "insert": [2, history]} if history else
            {"base": "history.jsonl"}}


def account_row(**fields: Any) -> str:
    row: dict[str, Any] = {"account_id": "BAD", "region": "CN", "timezone": "Asia/Shanghai", "balance": 100,
                           "delinquent_since": "2026-10-01"}
    for key, value in fields.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return json.dumps(row, ensure_ascii=False)


def bad_row(name: str, family: str, attack: str, line: str, says: str, *, console: bool = False) -> None:
    """One bad account row among the good ones: it is set aside at line 3, every good row is decided."""
    add(name, family, attack, row_files([line]), DRY_RUN,
        {"exit_code": 0, "decided": GOOD, "rejected": [["accounts.jsonl", 3, says]]}, console)


def good_row(name: str, family: str, attack: str, line: str) -> None:
    """A row that looks odd but is fine: it is decided with the others."""
    add(name, family, attack, row_files([line]), DRY_RUN, {"exit_code": 0, "decided": GOOD + 1, "rejected": []})


def bad_event(name: str, family: str, attack: str, event: dict[str, Any] | str, says: str,
              console: bool = False) -> None:
    """One bad history event: set aside at its line (3), every account decided."""
    line = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    add(name, family, attack, row_files([], history=[line]), DRY_RUN,
        {"exit_code": 0, "decided": GOOD, "rejected": [["history.jsonl", 3, says]]}, console)


def json_rows() -> None:
    family = "rows-json"
    for depth in (33, 1000, 100_000):
        bad_row(f"attributes-nested-{depth}", family, f"attributes nested {depth} deep (RecursionError lost rows)",
                '{"account_id": "DEEP", "balance": 1, "attributes": {"x": ' + "[" * depth + "]" * depth + "}}",
                "values nest more than 32 levels deep", console=depth == 1000)
    bad_row("objects-nested-1000", family, "objects nested 1000 deep",
            '{"account_id": "DEEP", "balance": 1, "attributes": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}",
            "values nest more than 32 levels deep")
    for name, text, says in [
        ("nan-balance", '{"account_id": "N", "balance": NaN}', "NaN is not a JSON number"),
        ("infinity-attribute", '{"account_id": "N", "balance": 1, "attributes": {"x": Infinity}}',
         "Infinity is not a JSON number"),
        ("minus-infinity-balance", '{"account_id": "N", "balance": -Infinity}', "-Infinity is not a JSON number"),
        ("integer-of-5000-digits", '{"account_id": "N", "balance": ' + "9" * 5000 + "}",
         "not valid JSON: an integer of more than 4300 digits"),
        ("attribute-of-5000-digits", '{"account_id": "N", "balance": 1, "attributes": {"x": ' + "9" * 5000 + "}}",
         "not valid JSON"),
        ("balance-1e999999", '{"account_id": "N", "balance": 1e999999}', "is beyond 10^18"),
        ("balance-text-1e19", '{"account_id": "N", "balance": "1e19"}', "is beyond 10^18"),
        ("attribute-1e31", '{"account_id": "N", "balance": 1, "attributes": {"x": 1e31}}', "beyond 10^30"),
        ("attribute-minus-1e31", '{"account_id": "N", "balance": 1, "attributes": {"x": -1e31}}', "beyond 10^30"),
        ("attribute-1e999999", '{"account_id": "N", "balance": 1, "attributes": {"x": 1e999999}}', "beyond 10^30"),
        ("credit-score-negative", account_row(credit_score=-5), "credit_score: -5 is outside 0 to 1000000"),
        ("credit-score-ten-million", account_row(credit_score=10_000_000), "is outside 0 to 1000000"),
        ("prior-delinquencies-huge", account_row(prior_delinquencies=10**20), "is outside 0 to 1000000"),
        ("an-array-line", "[1, 2, 3]", "expected a JSON object, got an array"),
        ("a-null-line", "null", "expected a JSON object, got null"),
        ("a-string-line", '"A1,100"', "expected a JSON object, got a string"),
        ("truncated-json", '{"account_id": "T", "balance": ', "not valid JSON"),
        ("trailing-garbage", '{"account_id": "T", "balance": 1} x', "not valid JSON"),
        ("duplicate-account-id", account_row(account_id="G1"), "account_id G1 already appeared on line 1"),
    ]:
        bad_row(name, family, name.replace("-", " "), text, says)
    add("line-longer-than-1-mib", family, "a 1.2 MB line is set aside without reading it whole",
        {"policy.toml": {"base": "minimal.toml"}, "history.jsonl": {"base": "history.jsonl"},
         "accounts.jsonl": {"repeat": [["\n".join(GOOD_ROWS[:2]) + "\n", 1],
                                       ['{"account_id": "BIG", "balance": 1, "attributes": {"x": "', 1],
                                       ["y", 1_200_000], ['"}}\n', 1], ["\n".join(GOOD_ROWS[2:]) + "\n", 1]]}},
        DRY_RUN, {"exit_code": 0, "decided": GOOD,
                  "rejected": [["accounts.jsonl", 3, "line 3 is longer than 1 MiB"]]})


def identity_rows() -> None:
    family = "rows-identity"
    bad_row("account-id-201-characters", family, "an account_id over 200 characters (crashed run on PostgreSQL)",
            account_row(account_id="A" * 201), "account_id is longer than 200 characters")
    bad_row("account-id-10000-characters", family, "a 10,000-character account_id",
            account_row(account_id="A" * 10_000), "account_id is longer than 200 characters")
    good_row("account-id-200-characters", family, "exactly 200 characters is fine", account_row(account_id="A" * 200))
    good_row("account-id-a-number", family, "a numeric account_id is read as text", account_row(account_id=123))
    for label, value in [("newline", "A\nB"), ("carriage-return", "A\rB"), ("tab", "A\tB"), ("nul", "A\u0000B"),
                         ("escape-sequence", "A\u001b[31mB"), ("bidi-override", "A\u202eB"),
                         ("line-separator", "A\u2028B")]:
        bad_row(f"account-id-with-{label}", family, f"an account_id with a {label.replace('-', ' ')}",
                account_row(account_id=value), "account_id: ")
    bad_row("account-id-with-zero-width-space", family, "'G1' and 'G1' plus a zero-width space: two accounts that "
            "look like one", account_row(account_id="G1\u200b"), "holds an invisible (format) character")
    bad_row("account-id-empty", family, "an empty account_id", account_row(account_id=""),
            "account_id must not be empty")
    bad_row("account-id-blank", family, "a blank account_id", account_row(account_id="   "),
            "account_id must not be empty")
    bad_row("customer-id-201-characters", family, "a customer_id over 200 characters",
            account_row(customer_id="C" * 201), "customer_id is longer than 200 characters")
    for field in ("name", "region", "product", "language"):
        bad_row(f"{field}-with-escape-sequence", family, f"a terminal escape in {field}",
                account_row(**{field: "x\u001b]8;;http://evil\u0007y"}),
                f"{field}: 'x\\x1b]8;;http://evil\\x07y' holds a control character or line break")
    bad_row("timezone-path", family, "a time zone that is a path", account_row(timezone="../../etc/passwd"),
            "timezone: '../../etc/passwd' is not a known IANA time zone")
    for label, value, says in [("year-1", "0001-01-01", "is outside the years 1900 to 2999"),
                               ("year-9999", "9999-12-31", "is outside the years 1900 to 2999"),
                               ("year-1899", "1899-12-31", "is outside the years 1900 to 2999"),
                               ("february-30", "2026-02-30", "is not a date")]:
        bad_row(f"delinquent-since-{label}", family, f"delinquent_since {value}",
                account_row(delinquent_since=value), says)


def contact_rows() -> None:
    family = "rows-contact"
    emails = [
        ("two-addresses", "victim@example.com, attacker@evil.example", "holds more than one address"),
        ("semicolon-list", "victim@example.com;attacker@evil.example", "holds more than one address"),
        ("group-syntax", "friends: victim@example.com, attacker@evil.example;", "holds more than one address"),
        ("empty-group", "undisclosed-recipients:;", "holds more than one address"),
        ("display-name", "Victim <victim@example.com>", "is not a bare address"),
        ("angle-brackets", "<attacker@evil.example>", "is not a bare address"),
        ("header-injection-crlf", "victim@example.com\r\nBcc: attacker@evil.example",
         "holds a line break or control character"),
        ("newline", "victim@example.com\nattacker@evil.example", "holds a line break or control character"),
        ("quoted-local-part", "\"victim@example.com\"@evil.example", "holds more than one address"),
        ("quoted-local-part-with-space", "\"victim x\"@evil.example", "is not a bare address"),
        ("comment", "victim@example.com (attacker@evil.example)", "holds more than one address"),
        ("comment-without-address", "victim@example.com (note)", "is not a bare address"),
        ("space-inside", "victim @example.com", "is not a bare address"),
        ("no-break-space", "vic\u00a0tim@example.com", "outside ASCII"),
        ("zero-width-space", "victim\u200b@example.com", "outside ASCII"),
        ("fullwidth-comma", "victim@example.com\uff0cevil.example", "outside ASCII"),
        ("ip-literal", "victim@[127.0.0.1]", "is not a bare address"),
        ("no-dot-in-domain", "victim@localhost", "is not an e-mail address"),
        ("double-dot", "victim@example..com", "is not an e-mail address"),
        ("leading-dot", ".victim@example.com", "is not an e-mail address"),
        ("label-starting-with-hyphen", "victim@-example.com", "is not an e-mail address"),
        ("local-part-65-characters", "v" * 65 + "@example.com", "is not an e-mail address"),
        ("longer-than-254-characters", "v@" + ".".join(["e" * 60] * 5) + ".com", "is not an e-mail address"),
        ("no-at", "victim.example.com", "is not an e-mail address"),
    ]
    for label, value, says in emails:
        bad_row(f"email-{label}", family, f"contact.email {value!r}",
                account_row(contact={"email": value}), says, console=label == "two-addresses")
    for label, value in [("plus-and-subdomains", "first.last+tag@mail.example.co.uk"),
                         ("internationalised", "用户@例子.中国"), ("padded-with-spaces", "  padded@example.com  ")]:
        good_row(f"email-{label}", family, f"a valid address: {value!r}", account_row(contact={"email": value}))
    phones = [
        ("no-plus", "2125550100"), ("spaces", "+1 212 555 0100"), ("dashes", "+1-212-555-0100"),
        ("parentheses", "(212) 555-0100"), ("seventeen-digits", "+12125550100123456"), ("zero-country", "+0123456789"),
        ("newline", "+1212555\n0100"), ("fullwidth-digits", "+\uff11\uff12\uff11\uff12\uff15\uff15\uff15"),
        ("arabic-indic-digits", "+\u0661\u0662\u0661\u0662\u0665\u0665\u0665"), ("tel-uri", "tel:+12125550100"),
        ("extension", "+12125550100;ext=1"), ("two-numbers", "+12125550100,+19995550100"),
    ]
    for label, value in phones:
        bad_row(f"phone-{label}", family, f"contact.phone {value!r}", account_row(contact={"phone": value}),
                "is not an E.164 phone number")
    good_row("phone-padded-with-spaces", family, "surrounding spaces are trimmed",
             account_row(contact={"phone": " +12125550100 "}))
    for label, value in [("escape", "1 Main St\u001b[2J"), ("nul", "1 Main\u0000St"),
                         ("bidi-override", "1 Main \u202eSt"),
                         ("line-separator", "1 Main\u2028St"), ("lone-carriage-return", "1 Main\rSt"),
                         ("delete", "1 Main\u007fSt"), ("c1-control", "1 Main\u0085St")]:
        bad_row(f"address-with-{label}", family, f"a postal address with a {label.replace('-', ' ')}",
                account_row(contact={"address": value}), "holds a control character (only line breaks are allowed)")
    for label, value in [("two-lines", "1 Main St\nApt 2"), ("windows-line-break", "1 Main St\r\nApt 2")]:
        good_row(f"address-{label}", family, "an address on several lines is fine",
                 account_row(contact={"address": value}))


def history_rows() -> None:
    family = "rows-history"
    event = {"account_id": "G1", "at": "2026-11-20T10:00:00+08:00", "type": "payment", "amount": 10}
    for label, at, says in [
        ("year-1-in-utc", "0001-01-01T00:00:00+05:00", "is outside the years 1900 to 2999"),
        ("year-9999", "9999-12-31T23:00:00-05:00", "is outside the years 1900 to 2999"),
        ("year-1899", "1899-12-31T23:59:59+00:00", "is outside the years 1900 to 2999"),
        ("no-offset", "2026-11-20T10:00:00", "has no UTC offset"),
        ("hour-25", "2026-11-20T25:00:00+08:00", "is not an ISO 8601 timestamp"),
    ]:
        bad_event(f"event-at-{label}", family, f"a history event at {at}", {**event, "at": at}, says,
                  console=label == "year-1-in-utc")
    bad_event("event-at-a-number", family, "at given as a number", {**event, "at": 12345},
              "is not an ISO 8601 timestamp with a UTC offset")
    promise = {"account_id": "G1", "at": "2026-11-20T10:00:00+08:00", "type": "promise", "amount": 10}
    bad_event("promise-due-9999", family, "a promise due on 9999-12-31 (due + grace overflowed)",
              {**promise, "due": "9999-12-31"}, "due: '9999-12-31' is outside the years 1900 to 2999")
    bad_event("promise-due-year-1", family, "a promise due in year 1", {**promise, "due": "0001-01-01"},
              "is outside the years 1900 to 2999")
    bad_event("payment-1e999999", family, "a payment of 1e999999", '{"account_id": "G1", "at": '
              '"2026-11-20T10:00:00+08:00", "type": "payment", "amount": 1e999999}', "is beyond 10^18")
    bad_event("payment-nan", family, "a NaN payment", '{"account_id": "G1", "at": "2026-11-20T10:00:00+08:00", '
              '"type": "payment", "amount": NaN}', "NaN is not a JSON number")
    bad_event("channel-with-newline", family, "a channel name with a line break",
              {"account_id": "G1", "at": "2026-11-20T10:00:00+08:00", "type": "contact", "channel": "s\nms",
               "outcome": "sent"}, "channel: 's\\nms' holds a control character or line break")
    bad_event("event-nested-1000", family, "an event nested 1000 deep",
              '{"account_id": "G1", "x": ' + "[" * 1000 + "]" * 1000 + "}", "values nest more than 32 levels deep")
    bad_event("unknown-event-type", family, "an event type the engine does not know", {**event, "type": "hacked"},
              "type: 'hacked' is not one of")
    bad_event("event-account-id-201", family, "a history account_id over 200 characters",
              {**event, "account_id": "A" * 201}, "account_id is longer than 200 characters")


CSV_ROWS = (BASES / "accounts.csv").read_text(encoding="utf-8").splitlines()
CSV_DRY_RUN = [*DRY_RUN[:4], "accounts.csv", *DRY_RUN[5:]]


def csv_case(name: str, attack: str, lines: list[str], *, decided: int, rejected: list[list[Any]],
             exit_code: int = 0, says: str | None = None, where: str | None = None) -> None:
    text = "".join(line + "\n" for line in lines)
    add(name, "rows-csv", attack, {"policy.toml": {"base": "minimal.toml"}, "history.jsonl": {"base": "history.jsonl"},
                                    "accounts.csv": {"text": text}}, CSV_DRY_RUN,
        {"exit_code": exit_code, "decided": decided, "rejected": rejected, "where": where, "says": says})


def csv_rows() -> None:
    header, rows = CSV_ROWS[0], CSV_ROWS[1:]
    unclosed = "BAD,CN,Asia/Shanghai,CNY,\"100,2026-10-01,600,+8613800000009,bad@example.com,x,true"
    never_closed = "a quoted cell opened on this line is never closed"
    csv_case("csv-unclosed-quote", "an unclosed quote swallowed every row after it",
             [header, *rows[:2], unclosed, *rows[2:]], decided=GOOD, rejected=[["accounts.csv", 4, never_closed]])
    quoted_later = rows[3].replace(",上海市示例路4号,", ",\"上海市示例路4号\",")
    csv_case("csv-unclosed-quote-closed-by-a-later-row", "an unclosed quote closed by a quote two rows later (the "
             "swallowed record even had the right number of cells)",
             [header, *rows[:2], unclosed, rows[2], quoted_later, rows[4]], decided=GOOD,
             rejected=[["accounts.csv", 4, never_closed]])
    csv_case("csv-unclosed-quote-on-the-last-row", "an unclosed quote at the end", [header, *rows, unclosed],
             decided=GOOD, rejected=[["accounts.csv", 7, never_closed]])
    csv_case("csv-quote-in-a-single-line-column", "a quoted line break in the balance column is an unclosed quote",
             [header, *rows[:2], "BAD,CN,Asia/Shanghai,CNY,\"100",
              "200\",2026-10-01,600,+8613800000009,b@example.com,x,true", *rows[2:]], decided=GOOD,
             rejected=[["accounts.csv", 4, never_closed],
                       ["accounts.csv", 5, "row has 7 cells but the header has 11"]])
    csv_case("csv-address-on-two-lines", "a quoted address with a line break is one row",
             [header, *rows[:2], "ML,CN,Asia/Shanghai,CNY,100,2026-10-01,600,+8613800000009,ml@example.com,"
              "\"1 Main St", "Apt 2\",true", *rows[2:]], decided=GOOD + 1, rejected=[])
    csv_case("csv-unclosed-quote-in-the-header", "a header with an unclosed quote",
             ["account_id,\"region", *rows], decided=0, rejected=[], exit_code=5,
             says="the CSV header has a quote that is never closed", where="error: accounts.csv:1:")
    csv_case("csv-nul-byte", "a NUL byte in a cell", [header, *rows[:2], rows[2].replace("CNY", "C\x00NY"), *rows[3:]],
             decided=GOOD - 1, rejected=[["accounts.csv", 4, "currency: 'C\\x00NY' is not an ISO 4217 code"]])
    csv_case("csv-200-kb-cell", "a cell larger than the CSV field limit",
             [header, *rows[:2], "BIG,CN,Asia/Shanghai,CNY,100,2026-10-01,600,+8613800000009,b@example.com,\""
              + "x" * 200_000 + "\",true", *rows[2:]], decided=GOOD,
             rejected=[["accounts.csv", 4, "not valid CSV: field larger than field limit (131072)"]])
    csv_case("csv-wrong-cell-count", "a row with too few cells", [header, *rows[:2], "BAD,CN,100", *rows[2:]],
             decided=GOOD, rejected=[["accounts.csv", 4, "row has 3 cells but the header has 11"]])
    csv_case("csv-two-addresses-in-one-cell", "a quoted e-mail cell with two addresses",
             [header, *rows[:2], "BAD,CN,Asia/Shanghai,CNY,100,2026-10-01,600,+8613800000009,"
              "\"victim@example.com, attacker@evil.example\",x,true", *rows[2:]], decided=GOOD,
             rejected=[["accounts.csv", 4, "contact.email: 'victim@example.com, attacker@evil.example' holds more "
                        "than one address; give exactly one"]])
    csv_case("csv-5000-digit-attribute", "a 5000-digit attribute stays text (int() would fail)",
             ["account_id,balance,attributes.x", "A1,100," + "9" * 5000, "A2,100,1"], decided=2, rejected=[])
    add("csv-windows-line-endings", "rows-csv", "CRLF line endings throughout",
        {"policy.toml": {"base": "minimal.toml"}, "history.jsonl": {"base": "history.jsonl"},
         "accounts.csv": {"text": "".join(line + "\r\n" for line in CSV_ROWS)}}, CSV_DRY_RUN,
        {"exit_code": 0, "decided": GOOD, "rejected": []})
    latin = base64.b64encode(("\n".join(CSV_ROWS[:3]) + "\nBAD,CN,Asia/Shanghai,CNY,100,2026-10-01,600,"
                              "+8613800000009,b@example.com,caf").encode() + b"\xe9,true\n"
                             + ("\n".join(CSV_ROWS[3:]) + "\n").encode()).decode()
    add("csv-latin-1-line", "rows-csv", "one line in Latin-1",
        {"policy.toml": {"base": "minimal.toml"}, "history.jsonl": {"base": "history.jsonl"},
         "accounts.csv": {"base64": latin}}, CSV_DRY_RUN,
        {"exit_code": 0, "decided": GOOD, "rejected": [["accounts.csv", 4, "line 4 is not valid UTF-8 text"]]})


def whole_files() -> None:
    family = "input-files"

    def unusable(name: str, attack: str, accounts: dict[str, Any], says: str, target: str = "accounts.jsonl") -> None:
        argv = [*DRY_RUN[:4], target, *DRY_RUN[5:]]
        add(name, family, attack, {"policy.toml": {"base": "minimal.toml"}, "history.jsonl": {"base": "history.jsonl"},
                                    **accounts}, argv, {"exit_code": 5, "where": "error: ", "says": says})

    unusable("accounts-a-directory", "--accounts names a folder", {"accounts.jsonl/": {}}, "is a directory, not a file")
    unusable("accounts-missing", "--accounts names nothing", {}, "no such file")
    unusable("accounts-binary", "a binary file as accounts",
             {"accounts.jsonl": {"base64": base64.b64encode(b"\x00\x01\x02\n\xff\xfe\n").decode()}},
             "no valid account row (2 rejected; line 1:")
    unusable("accounts-utf-16", "an accounts file saved as UTF-16",
             {"accounts.jsonl": {"base64": base64.b64encode("\n".join(GOOD_ROWS).encode("utf-16")).decode()}},
             "this is UTF-16 text, not UTF-8")
    unusable("accounts-a-json-array", "a JSON array instead of JSON Lines",
             {"accounts.jsonl": {"text": "[" + ",".join(GOOD_ROWS) + "]\n"}}, "holds a JSON array")
    unusable("accounts-unknown-suffix", "an accounts file with an unknown suffix",
             {"accounts.txt": {"text": GOOD_ROWS[0] + "\n"}}, "unknown file type '.txt'", target="accounts.txt")
    add("history-a-directory", family, "--history names a folder",
        {"policy.toml": {"base": "minimal.toml"}, "accounts.jsonl": {"base": "accounts.jsonl"}, "history.jsonl/": {}},
        DRY_RUN, {"exit_code": 5, "where": "error: ", "says": "is a directory, not a file"})


# ----------------------------------------------------------------------------------------------- CLI
RUN_FILES = {"policy.toml": {"base": "run_policy.toml"}, "config.toml": {"base": "letter_config.toml"},
             "accounts.jsonl": {"text": '{"account_id": "A1", "balance": 100, "delinquent_since": "2026-10-01", '
                                        '"name": "Ann", "contact": {"address": "1 Main St"}}\n'
                                        '{"account_id": "A2", "balance": 100, "delinquent_since": "2026-10-01", '
                                        '"contact": {"address": "2 Main St"}}\n'}}
RUN = ["run", "--policy", "policy.toml", "--accounts", "accounts.jsonl", "--as-of", "2026-11-28T09:00:00+00:00",
       "--config", "config.toml", "--ledger", "sqlite:///ledger.db", "--format", "json"]


def run_options() -> None:
    family = "cli"

    def with_option(argv: list[str], option: str, value: str) -> list[str]:
        out = list(argv)
        out[out.index(option) + 1] = value
        return out

    for label, config, says in [
        ("a-directory", {"config.toml/": {}}, "is a directory, not a config file"),
        ("utf-16", {"config.toml": {"base64": base64.b64encode('[channels.letter]\noutbox = "o"\n'.encode("utf-16"))
                                    .decode()}}, "not UTF-8 text"),
        ("bad-toml", {"config.toml": {"text": "[channels.letter\n"}}, "not valid TOML"),
        ("channels-not-a-table", {"config.toml": {"text": "channels = 5\n"}}, "'channels' must be a table"),
        ("channel-not-a-table", {"config.toml": {"text": '[channels]\nletter = "outbox"\n'}},
         "channels.letter must be a table"),
        ("missing", {}, "no such file"),
    ]:
        run_files = {name: spec for name, spec in RUN_FILES.items() if name != "config.toml"} | config
        add(f"config-{label}", family, f"--config that is {label.replace('-', ' ')}", run_files, RUN,
            {"exit_code": 2, "where": "error: --config config.toml", "says": says, "errors": 1},
            console=label == "a-directory")
    for label, url, code, says in [
        ("mysql", "mysql://user@db.example/collections", 2, "keeps to SQLite or PostgreSQL, not 'mysql'"),
        ("not-a-url", "bogus", 2, "--ledger is not a database URL"),
        ("http", "http://ledger.example", 2, "not 'http'"),
        ("in-memory", "sqlite://", 2, "an in-memory ledger forgets what was sent"),
        ("in-memory-named", "sqlite:///:memory:", 2, "an in-memory ledger forgets what was sent"),
        ("malformed-port", "postgresql://user:secret@[::1", 2, "--ledger is not a database URL"),
        ("missing-driver", "postgresql+pg8000://user:secret@127.0.0.1/x", 2, "the database driver is not installed"),
        ("unwritable-folder", "sqlite:////nonexistent-folder/ledger.db", 1, "unable to open database file"),
    ]:
        add(f"ledger-{label}", family, f"--ledger {url}", RUN_FILES, with_option(RUN, "--ledger", url),
            {"exit_code": code, "where": "error: ", "says": says, "errors": 1}, console=label == "mysql")
    for value, says in [("0001-01-01", "is outside the years 1900 to 2999"),
                        ("9999-12-31T23:59:59+00:00", "is outside the years 1900 to 2999"),
                        ("soon", "is not an ISO 8601 date or time")]:
        add(f"as-of-{value[:10]}", family, f"--as-of {value}", row_files([]), with_option(DRY_RUN, "--as-of", value),
            {"exit_code": 2, "where": "error: --as-of", "says": says, "errors": 1})
    simulate = ["simulate", "--policy", "policy.toml", "--accounts", "accounts.jsonl", "--start", "2026-11-28",
                "--days", "5", "--output", "contacts.jsonl"]
    for label, start, days, says in [("start-9999", "9999-12-30", "5", "is outside the years 1900 to 2999"),
                                     ("past-2999", "2999-12-30", "3", "runs past 2999-12-31")]:
        add(f"simulate-{label}", family, f"simulate --start {start} --days {days} (overflowed)", row_files([]),
            with_option(with_option(simulate, "--start", start), "--days", days),
            {"exit_code": 2, "where": "error: --start", "says": says, "errors": 1})
    add("run-letters-are-sent", family, "the run cases' own control: a good template sends both letters",
        RUN_FILES, RUN, {"exit_code": 0, "sent": 2, "failures": []})


def run_templates() -> None:
    family = "template-bounds"
    for label, body, says in [
        ("repeat-a-billion", "{{ 'x' * 1000000000 }}", "a repeated value would be larger than 100000"),
        ("nested-loops", "{% for a in account.account_id * 500 %}{% for b in account.account_id * 500 %}{% endfor %}"
         "{% endfor %}",
         "more than 100000 steps"),
        ("output-over-the-limit", "{% for a in 'x' * 50000 %}{{ account.account_id }}{{ a }}{% endfor %}",
         "renders more than 100000 characters"),
        ("centre-a-billion", "{{ account.account_id|center(1000000000) }}", "the centred text would be larger"),
        ("format-width", "{{ '{:>1000000000}'.format(account.account_id) }}", "a formatted value would be larger"),
        ("printf-width", "{{ '%1000000000s' % account.account_id }}", "a formatted value would be larger"),
        ("doubling", "{% set ns = namespace(s=account.account_id) %}{% for i in account.account_id * 40 %}"
         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", "a value the template builds would be larger"),
        ("replace-growth", "{{ (account.account_id * 1000)|replace('A', 'B' * 1000) }}",
         "the replaced text would be larger"),
        ("self-calling-macro", "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
         "calls itself too deeply"),
        ("power", "{{ 7 ** 100000 }}", "a number would have more than 4096 bits"),
        ("division-by-zero", "{{ account.account_id|length / 0 }}", "ZeroDivisionError: division by zero"),
        ("range-too-long", "{% for i in range(1000000) %}{% endfor %}", "Range too big"),
    ]:
        files = {**RUN_FILES, "policy.toml": {"base": "run_policy.toml", "replace": [[
            'body = "Dear {{ account.customer_name }}, please call {{ bank.phone }}."', f"body = '''{body}'''"]]}}
        add(f"render-{label}", family, f"a template that would run away: {body[:60]}", files, RUN,
            {"exit_code": 7, "sent": 0, "failures": [["A1", says], ["A2", says]]})  # 7: failed in this run


FAMILIES = [nesting, sizes, encodings, identifiers, baselines_and_extends, templates, numbers, json_rows, identity_rows,
            contact_rows, history_rows, csv_rows, whole_files, run_options, run_templates]


def cases() -> Iterator[dict[str, Any]]:
    """Every case, built fresh."""
    CASE_LIST.clear()
    for family in FAMILIES:
        family()
    names = [case["name"] for case in CASE_LIST]
    assert len(names) == len(set(names)), "case names must be unique"
    yield from CASE_LIST


def check_intent(case: dict[str, Any], outcome: dict[str, Any], traceback: bool) -> list[str]:
    """Where a recorded outcome breaks the intent the case states (empty: it keeps it)."""
    intent = case["intent"]
    wrong: list[str] = []
    if traceback:
        wrong.append("a traceback in the output")
    if outcome["exit_code"] != intent["exit_code"]:
        wrong.append(f"exit code {outcome['exit_code']}, intended {intent['exit_code']}")
    errors = outcome["errors"]
    if intent.get("says") and not any(intent["says"] in line and line.startswith(intent.get("where") or "")
                                      for line in errors):
        wrong.append(f"no error line starting {intent.get('where')!r} says {intent['says']!r}")
    if intent.get("errors") is not None and len([e for e in errors if ": error: " in e or e.startswith("error: ")]) \
            != intent["errors"]:
        wrong.append(f"{len(errors)} error lines, intended {intent['errors']}")
    for key in ("decided", "sent"):
        if intent.get(key) is not None and outcome.get(key) != intent[key]:
            wrong.append(f"{key} {outcome.get(key)}, intended {intent[key]}")
    if intent.get("rejected") is not None:
        got = outcome.get("rejects") or []
        want = intent["rejected"]
        if len(got) != len(want) or any(g[0] != w[0] or g[1] != w[1] or w[2] not in g[2]
                                         for g, w in zip(got, want, strict=True)):
            wrong.append(f"rejects {got}, intended {want}")
    if intent.get("failures") is not None:
        got = outcome.get("failures") or []
        want = intent["failures"]
        if len(got) != len(want) or any(g[0] != w[0] or w[1] not in g[2] for g, w in zip(got, want, strict=True)):
            wrong.append(f"failures {got}, intended {want}")
    return wrong


def main(record: bool) -> int:
    CASES.mkdir(exist_ok=True)
    for old in CASES.glob("*.json"):
        old.unlink()
    broken = 0
    built = list(cases())
    for case in built:
        path = CASES / f"{case['name']}.json"
        if record:
            with tempfile.TemporaryDirectory() as folder:
                observed = run_in_process(case, Path(folder))
            outcome = observed.as_dict()
            wrong = check_intent(case, outcome, observed.traceback)
            if wrong:
                broken += 1
                print(f"BROKEN {path.name}: " + "; ".join(wrong) + f"\n    {outcome}", file=sys.stderr)
            case = {**case, "expect": outcome}
        elif path.exists():
            case = {**case, "expect": json.loads(path.read_text(encoding="utf-8")).get("expect")}
        path.write_text(json.dumps(case, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(built)} cases written to {CASES}" + (f", {broken} break their intent" if broken else ""))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(record="--record" in sys.argv))
