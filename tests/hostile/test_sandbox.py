"""Templates cannot change data, reach other files or run away, even past the checker.

The corpus shows what `validate` refuses and what `run` reports; these tests go under it: a template that
never met the checker (a template folder, a plugin's text) still renders over read-only data in the
immutable sandbox, and the bounds hold whatever the text.
"""

from __future__ import annotations

import contextlib
import copy

import jinja2
import pytest

from policy_engine.deliver.templates import TemplateError, TemplateStore, render
from policy_engine.policy.sandbox import (
    MAX_OUTPUT,
    ReadOnlyDict,
    TemplateLimitExceeded,
    environment,
    read_only,
    render_bounded,
)

ACCOUNT = {"account_id": "A1", "contact": {"phone": "+12125550100", "email": "a@example.com"},
           "timezones": ["UTC"], "attributes": {"tags": ["x"]}}


def variables() -> dict[str, object]:
    return {"account": copy.deepcopy(ACCOUNT), "bank": {"name": "Bank"}}


@pytest.mark.parametrize("text", [
    "{{ account.contact.update({'phone': '+1999'}) }}",
    "{{ account.contact.setdefault('email', 'x@evil.example') }}",
    "{{ account.timezones.append('Asia/Tokyo') }}",
    "{{ account.attributes.tags.append('vip') }}",
    "{{ account.contact.pop('phone') }}",
    "{{ account.contact.__setitem__('phone', '+1999') }}",
    "{% set c = account.contact %}{{ c.update({'phone': '+1999'}) }}",
    "{{ account.contact|attr('update') }}",
])
def test_a_template_outside_the_checker_cannot_change_the_data_it_renders(text: str) -> None:
    given = variables()
    store = TemplateStore.from_mapping({"t": text})
    with contextlib.suppress(TemplateError):  # refused or not, the data stays as it was
        render(store.get("t"), given)
    assert given == variables()  # the next message reads the same account, addressed the same way


def test_the_sandbox_itself_refuses_changes_when_the_structure_check_is_bypassed() -> None:
    template = environment().from_string("{{ contact.update({'phone': '+1999'}) }}")
    contact = {"phone": "+12125550100"}
    with pytest.raises(jinja2.exceptions.SecurityError):
        template.render(contact=contact)
    assert contact == {"phone": "+12125550100"}


def test_read_only_copies_refuse_every_change_and_keep_the_original_apart() -> None:
    original = {"contact": {"phone": "+1"}, "list": [1, {"a": 2}]}
    frozen = read_only(original)
    assert isinstance(frozen, ReadOnlyDict) and frozen == {"contact": {"phone": "+1"}, "list": (1, {"a": 2})}
    for change in (lambda: frozen.update(x=1), lambda: frozen["contact"].__setitem__("phone", "+2"),
                   lambda: frozen.pop("contact"), lambda: frozen.setdefault("y", 1), lambda: frozen.clear()):
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    assert original == {"contact": {"phone": "+1"}, "list": [1, {"a": 2}]}


def test_a_render_reads_what_it_is_given() -> None:
    text = ("{{ account.account_id }} {{ account.contact.phone }} {% for z in account.timezones %}{{ loop.index }}"
            "{{ z }}{% endfor %} {{ account.attributes.tags|join(',') }} {{ bank.name|upper }}"
            "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %} {{ ns.n }}")
    assert render_bounded(text, variables()) == "A1 +12125550100 1UTC x BANK 3"


@pytest.mark.parametrize(("text", "says"), [
    ("{% include 'other.txt' %}", "is not allowed"),
    ("{% import 'macros' as m %}", "is not allowed"),
    ("{% extends 'base' %}", "is not allowed"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive loops are not allowed"),
    ("{{ account.__class__.__mro__ }}", "private attribute"),
    ("{{ [1, 2]|random }}", "not allowed"),
])
def test_constructs_the_checker_refuses_are_refused_at_render_too(text: str, says: str) -> None:
    with pytest.raises(TemplateError, match=says):
        render(TemplateStore.from_mapping({"t": text}).get("t"), variables())


@pytest.mark.parametrize(("text", "says"), [
    ("{{ 'x' * 1000000000 }}", "a repeated value"),
    ("{{ ['x'] * 1000000000 }}", "a repeated value"),
    ("{{ ('x' * 99999) + ('x' * 99999) }}", "a joined value"),
    ("{{ 9 ** 999999 }}", "more than 4096 bits"),
    ("{{ 'x'|center(1000000000) }}", "the centred text"),
    ("{{ 'x'.rjust(1000000000) }}", ".rjust()"),
    ("{{ 'x\\ty'.expandtabs(1000000000) }}", "the expanded text"),
    ("{{ '{:>1000000000}'.format(1) }}", "a formatted value"),
    ("{{ '{:>{w}}'.format(1, w=1000000000) }}", "a formatted value"),
    ("{{ '%*d' % (1000000000, 1) }}", "a formatted value"),
    ("{{ '%.1000000000f'|format(1.5) }}", "a formatted value"),
    ("{{ ('x' * 1000)|replace('x', 'y' * 1000) }}", "the replaced text"),
    ("{{ ('y' * 1000).replace('y', 'z' * 1000) }}", "the replaced text"),
    ("{{ range(1000)|join('y' * 1000) }}", "the joined text"),
    ("{{ ('y' * 1000).join(range(1000)|map('string')) }}", "the joined text"),
    ("{{ [1]|batch(1000000000, 'x')|list }}", "'batch'"),
    ("{{ range(3)|slice(1000000000)|list }}", "'slice'"),
    ("{{ ('a\\n' * 1000)|indent(1000) }}", "the indented text"),
    ("{{ ('word ' * 2000)|wordwrap(1, wrapstring='y' * 1000) }}", "the wrapped text"),
    ("{{ {'a': 1}|tojson(1000000) }}", "the JSON indentation"),
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", "steps"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", "steps"),
    ("{% for i in range(99999) %}xx{% endfor %}", "renders more than"),
    ("{% set s %}{% for i in range(3000) %}{{ 'x' * 99999 }}{% endfor %}{% endset %}{{ s|length }}",
     "produces more than 1000000 characters"),
    ("{% macro m() %}{% for i in range(3000) %}{{ 'y' * 99999 }}{% endfor %}{% endmacro %}{{ m()|length }}",
     "produces more than 1000000 characters"),
    ("{% filter upper %}{% for i in range(30000) %}" + "a" * 50 + "{% endfor %}{% endfilter %}",
     "produces more than 1000000 characters"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "a value the template builds"),
    ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = [ns.s, ns.s] %}{% endfor %}{{ ns.s }}",
     "steps"),
])
def test_runaway_templates_stop_at_a_named_bound(text: str, says: str) -> None:
    with pytest.raises(TemplateLimitExceeded, match=says):
        render_bounded(text, variables())


def test_the_output_counting_keeps_html_escaping_as_it_was() -> None:
    text = "<p>{{ x }}</p> & {% set s %}<i>{{ x }}</i>{% endset %}{{ s }}"
    assert render_bounded(text, {"x": "<b>"}) == "<p><b></p> & <i><b></i>"
    assert render_bounded(text, {"x": "<b>"}, html=True) == "<p>&lt;b&gt;</p> & <i>&lt;b&gt;</i>"


def test_exactly_the_output_limit_renders() -> None:
    exactly = "{{ 'x' * " + str(MAX_OUTPUT) + " }}"
    assert len(render_bounded(exactly, {})) == MAX_OUTPUT
    with pytest.raises(TemplateLimitExceeded):
        render_bounded(exactly + "y", {})


@pytest.mark.parametrize(("text", "says"), [
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself too deeply"),
    ("{{ nothing }}", "undefined"),
])
def test_other_failures_of_a_text_are_template_errors_in_one_line(text: str, says: str) -> None:
    with pytest.raises(TemplateError, match=says) as info:
        render(TemplateStore.from_mapping({"t": text}).get("t"), variables())
    assert "\n" not in str(info.value)
