"""The environment a message template runs in: an immutable Jinja2 sandbox whose work is bounded.

The rule this module keeps: rendering a template can neither change data nor run away.

* **No changes.** Templates render in Jinja2's ``ImmutableSandboxedEnvironment`` (no private attributes,
  no method that changes a dict, list or set) over read-only copies of what they are given
  (:func:`read_only`), so a template cannot re-address the next message by writing into the account.
* **Nothing outside.** The environment has no loader, and :func:`structure_problems` (used by the
  checker and again before compiling) refuses ``{% include %}``, ``{% import %}``, ``{% from %}``,
  ``{% extends %}``, recursive loops, calls of methods that change data, private attributes and the
  non-deterministic ``random`` filter and ``lipsum``: a template is one self-contained text.
* **Bounded work.** One rendered part is at most :data:`MAX_OUTPUT` characters, and produces at most
  :data:`MAX_PRODUCED` characters in all (what ``{% set %}`` blocks and macros capture counts too); one
  render takes at most :data:`MAX_STEPS` steps (a loop iteration, a call, an item a filter goes through,
  an element of a value built). Whatever could build a huge value in one step checks the size first:
  ``*``, ``+``, ``**``, ``%`` formatting, ``str.format`` widths, the padding methods, ``join``, ``replace``, ``center``,
  ``indent``, ``wordwrap``, ``batch``, ``slice``, ``format`` and ``tojson``; a ``{% set %}`` value and
  every list or dict a template builds is measured too. Past a bound, rendering stops with
  :class:`TemplateLimitExceeded`, which says which bound.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, NoReturn

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

__all__ = [
    "FORBIDDEN_FILTERS",
    "FORBIDDEN_GLOBALS",
    "MAX_OUTPUT",
    "MAX_PRODUCED",
    "MAX_STEPS",
    "MUTATING_METHODS",
    "ReadOnlyDict",
    "TemplateLimitExceeded",
    "environment",
    "read_only",
    "render_bounded",
    "structure_problems",
]

MAX_OUTPUT = 100_000
"""The most characters one part of a template (text, HTML or subject) may render to, and the largest
value (characters, or elements of a list or table) a template may build."""
MAX_STEPS = 100_000
"""The most steps one render may take: loop iterations, calls, and items filters go through."""
MAX_PRODUCED = 10 * MAX_OUTPUT
"""The most text one render may produce in all, including what ``{% set %}`` blocks, macros and
``{% filter %}`` blocks capture before it reaches the output."""
_MAX_INT_BITS = 4096
_MAX_JSON_INDENT = 16

MUTATING_METHODS: frozenset[str] = frozenset({
    "add", "append", "appendleft", "clear", "difference_update", "discard", "extend", "extendleft",
    "insert", "intersection_update", "pop", "popitem", "popleft", "remove", "reverse", "rotate",
    "setdefault", "sort", "symmetric_difference_update", "update",
})
"""Methods that change the object they are called on; a template may not call them."""
FORBIDDEN_FILTERS = frozenset({"random", "shuffle"})
"""Filters a template may not use: the same decision must give the same message."""
FORBIDDEN_GLOBALS = frozenset({"lipsum"})
"""Jinja globals a template may not use, for the same reason."""


class TemplateLimitExceeded(SecurityError):
    """A template went past one of the bounds of this module (output size, steps, a value's size)."""


class ReadOnlyDict(dict[str, Any]):
    """A dict that refuses every change: what templates (and their filters) see of the data."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the data a template reads cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal, date, datetime, ReadOnlyDict})
"""Types read_only returns as they are (a ReadOnlyDict is read-only all the way down already)."""


def read_only(value: Any) -> Any:
    """A read-only deep copy of JSON-like data: dicts become :class:`ReadOnlyDict`, lists tuples."""
    kind = type(value)
    if kind in _IMMUTABLE:  # most values: decided by one set lookup, before any isinstance
        return value
    if kind is dict:
        return ReadOnlyDict({key: read_only(item) for key, item in value.items()})
    if isinstance(value, ReadOnlyDict):
        return value
    if isinstance(value, Mapping):
        return ReadOnlyDict({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(item) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(read_only(item) for item in value)
    return value


class _Budget:
    """The steps one render has taken, and the text it has produced (captured text included)."""

    def __init__(self) -> None:
        self.steps = 0
        self.produced = 0

    def spend(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise TemplateLimitExceeded(f"the template takes more than {MAX_STEPS} steps (loop iterations, calls "
                                        "and items filters go through)")

    def produce(self, count: int) -> None:
        self.produced += count
        if self.produced > MAX_PRODUCED:
            raise TemplateLimitExceeded(f"the template produces more than {MAX_PRODUCED} characters of text "
                                        "(counting what {% set %} blocks and macros capture)")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _spend(count: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(count)


def _too_big(what: str) -> NoReturn:
    raise TemplateLimitExceeded(f"{what} would be larger than {MAX_OUTPUT} characters or elements")


def _too_big_number() -> NoReturn:
    raise TemplateLimitExceeded(f"a number would have more than {_MAX_INT_BITS} bits")


def _weight(value: Any, limit: int = MAX_OUTPUT) -> int:
    """The size of a value: characters of a text, elements (and their own sizes) of a container; counting
    stops past ``limit``. Each container element visited is a step, so shared structure costs its size."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
            continue
        total += 1
        if isinstance(item, dict):
            _spend(len(item))
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            _spend(len(item))
            stack.extend(item)
    return total


def _check_weight(value: Any, what: str) -> Any:
    if _weight(value) > MAX_OUTPUT:
        _too_big(what)
    return value


def _check_count(number: Any, what: str) -> None:
    if isinstance(number, int) and not isinstance(number, bool) and number > MAX_OUTPUT:
        _too_big(what)


_PRINTF = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FIELD = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")


def _check_printf(template: str, arguments: Any) -> None:
    """Widths and precisions of ``%`` formatting, written or taken from the arguments (``*``)."""
    starred = False
    for width, precision in _PRINTF.findall(template):
        for number in (width, precision):
            if number == "*":
                starred = True
            elif number:
                _check_count(int(number), "a formatted value")
    if starred:
        for argument in arguments if isinstance(arguments, tuple) else (arguments,):
            _check_count(argument, "a formatted value")


def _check_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Widths of ``str.format`` fields, written (``{:>9}``) or nested (``{:>{width}}``)."""
    for field in _FIELD.findall(template):
        for number in re.findall(r"\d+", field):
            _check_count(int(number), "a formatted value")
        if field.count("{") > 1:
            for argument in (*args, *kwargs.values()):
                _check_count(argument, "a formatted value")


def _replacement_size(text: str, old: str, new: str, count: Any = None) -> int:
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], position: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _precheck_filter(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a filter call whose result would be too large before it is built (``args[0]`` is the value)."""
    value = args[0] if args else None
    if isinstance(value, list | tuple | dict | set | frozenset | range | str):
        _spend(len(value) if not isinstance(value, str) else 1)
    precheck = _PRECHECKS.get(name)
    if precheck is not None:
        precheck(name, value, args, kwargs)


_Precheck = Callable[[str, Any, tuple[Any, ...], Mapping[str, Any]], None]
"""The size check of one filter before it runs: (filter name, value, arguments, keyword arguments)."""


def _center_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    _check_count(_argument(args, kwargs, 1, "width", 80), "the centred text")


def _indent_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = _argument(args, kwargs, 1, "width", 4)
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if size * (str(value).count("\n") + 1) + len(str(value)) > MAX_OUTPUT:
        _too_big("the indented text")


def _wordwrap_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = _argument(args, kwargs, 1, "width", 79)
    wrap = _argument(args, kwargs, 3, "wrapstring", None) or "\n"
    breaks = len(str(value)) // max(width if isinstance(width, int) else 1, 1)
    if len(str(value)) + breaks * len(str(wrap)) > MAX_OUTPUT:
        _too_big("the wrapped text")


def _groups_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    _check_count(_argument(args, kwargs, 1, "linecount" if name == "batch" else "slices", 0),
                 f"the '{name}' filter's result")


def _replace_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if isinstance(value, str):
        old, new = str(_argument(args, kwargs, 1, "old", "")), str(_argument(args, kwargs, 2, "new", ""))
        if _replacement_size(value, old, new, _argument(args, kwargs, 3, "count", None)) > MAX_OUTPUT:
            _too_big("the replaced text")


def _format_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if isinstance(value, str):
        _check_printf(value, tuple(args[1:]) + tuple(kwargs.values()))


def _tojson_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    indent = _argument(args, kwargs, 1, "indent", None)
    size = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if size > _MAX_JSON_INDENT:
        _too_big("the JSON indentation")


_PRECHECKS: Final[dict[str, _Precheck]] = {
    "center": _center_check, "indent": _indent_check, "wordwrap": _wordwrap_check, "batch": _groups_check,
    "slice": _groups_check, "replace": _replace_check, "format": _format_check, "tojson": _tojson_check,
}
"""The filters whose result can outgrow its value, with the check that refuses it first."""


def _bounded_join(join: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(join)
    def bounded(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value) if not isinstance(value, str) else value
        _spend(len(items))
        if len(str(d)) * max(len(items) - 1, 0) > MAX_OUTPUT:
            _too_big("the joined text")
        return _check_weight(join(eval_ctx, items, d, attribute), "the 'join' filter's result")

    return bounded


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its size checks: the value's items are steps, the result is measured."""
    skip = 0 if _PassArg.from_obj(function) is None else 1  # a context, eval context or environment first

    @functools.wraps(function)  # keeps Jinja's pass_context / pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _precheck_filter(name, args[skip:], kwargs)
        return _check_weight(function(*args, **kwargs), f"the '{name}' filter's result")

    return bounded


_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})


@jinja2.pass_context
def _counted_loop(context: Any, iterable: Any) -> Iterator[Any]:
    """What every ``{% for %}`` iterates: the same items, one step each."""
    for item in iterable:
        _spend()
        yield item


@jinja2.pass_context  # never folded into a constant when the template is compiled: counted at every render
def _emitted(context: Any, value: Any) -> Any:
    """A value written into the text (where it ends up: the output or a capture), counted as produced."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.produce(len(value) if isinstance(value, str) else len(str(value)))
    return value


@jinja2.pass_context
def _emitted_text(context: Any, text: str) -> Markup:
    """A template's own text between tags, counted as produced (and kept safe from escaping, as it was)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.produce(len(text))
    return Markup(text)


def _measured(value: Any) -> Any:
    """A value a template builds or assigns, measured against :data:`MAX_OUTPUT`."""
    return _check_weight(value, "a value the template builds")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the size and step checks of this module."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self, autoescape: bool) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=autoescape, keep_trailing_newline=False,
                         loader=None)
        for name in FORBIDDEN_FILTERS:
            self.filters.pop(name, None)
        for name in FORBIDDEN_GLOBALS:
            self.globals.pop(name, None)
        for name, function in list(self.filters.items()):
            self.filters[name] = _bounded_join(function) if name == "join" else _bounded_filter(name, function)
        self.filters["_pe_counted_loop"] = _counted_loop
        self.filters["_pe_measured"] = _measured
        self.filters["_pe_emitted"] = _emitted
        self.filters["_pe_emitted_text"] = _emitted_text

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``+``, ``**`` and ``%`` with their size checked before the result is built."""
        _spend()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int) \
                        and _weight(sequence) * max(times, 0) > MAX_OUTPUT:
                    _too_big("a repeated value")
            if isinstance(left, int) and isinstance(right, int) and \
                    abs(left).bit_length() + abs(right).bit_length() > _MAX_INT_BITS:
                _too_big_number()
        elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            if _weight(left) + _weight(right) > MAX_OUTPUT:
                _too_big("a joined value")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and \
                right * abs(left).bit_length() > _MAX_INT_BITS:
            _too_big_number()
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        return _check_weight(super().call_binop(context, operator, left, right), "a computed value")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805  (Jinja's own)
        """A call from the template: one step, padding and joins checked first, the result measured."""
        _spend()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _PADDING:
                _check_count(_argument(args, kwargs, 0, "width", 0), f"the text .{name}() makes")
            elif name == "expandtabs":
                tab = _argument(args, kwargs, 0, "tabsize", 8)
                if isinstance(tab, int) and tab * (owner.count("\t") + 1) > MAX_OUTPUT:
                    _too_big("the expanded text")
            elif name == "join" and args:
                items = list(args[0])
                _spend(len(items))
                if len(owner) * max(len(items) - 1, 0) > MAX_OUTPUT:
                    _too_big("the joined text")
                args = (items, *args[1:])
            elif name == "replace" and len(args) >= 2 and \
                    _replacement_size(owner, str(args[0]), str(args[1]), args[2] if len(args) > 2 else None) \
                    > MAX_OUTPUT:
                _too_big("the replaced text")
        return _check_weight(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` / ``format_map`` with the widths of its fields checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template: str = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if value.__name__ == "format_map" and args else kwargs
            _check_format(template, args if value.__name__ == "format" else (), mapping)
            result = wrapped(*args, **kwargs)
            return str(_check_weight(result, "a formatted text"))

        return bounded


_ENVIRONMENTS = {False: _BoundedSandbox(autoescape=False), True: _BoundedSandbox(autoescape=True)}


def environment(html: bool = False) -> jinja2.Environment:
    """The environment for text parts and subjects, or (``html``) for HTML parts, every variable escaped."""
    return _ENVIRONMENTS[html]


def structure_problems(tree: nodes.Template) -> list[tuple[int, str, str]]:
    """(line, what, why) for every construct a template may not use (see the module docstring)."""
    problems: list[tuple[int, str, str]] = []
    outside = {nodes.Include: "{% include %}", nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}",
               nodes.Extends: "{% extends %}"}
    for kind, written in outside.items():
        for node in tree.find_all(kind):
            problems.append((node.lineno, written, f"{written} is not allowed: a template is one self-contained text "
                             "and reaches no other file"))
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            problems.append((loop.lineno, "recursive", "recursive loops are not allowed"))
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Getattr) and call.node.attr in MUTATING_METHODS:
            problems.append((call.lineno, f".{call.node.attr}()", f"calls .{call.node.attr}(), which changes data; a "
                             "template may only read what it is given"))
    for attr in tree.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            problems.append((attr.lineno, f".{attr.attr}", f"reads the private attribute '{attr.attr}'"))
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str) and item.arg.value.startswith("_"):
            problems.append((item.lineno, f"[{item.arg.value!r}]", f"reads the private attribute '{item.arg.value}'"))
    for used in tree.find_all(nodes.Filter):
        if used.name in FORBIDDEN_FILTERS:
            problems.append((used.lineno, f"|{used.name}", f"the '{used.name}' filter is not allowed: the same "
                             "decision must give the same message"))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name in FORBIDDEN_GLOBALS:
            problems.append((name.lineno, name.name, f"'{name.name}' is not allowed: the same decision must give "
                             "the same message"))
    return sorted(problems)


def _instrument(tree: nodes.Template) -> nodes.Template:
    """Count every loop iteration and measure every assigned or built value (the tree is changed in place)."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "_pe_counted_loop", [], [], None, None, lineno=loop.lineno)
    for assign in tree.find_all(nodes.Assign):
        assign.node = nodes.Filter(assign.node, "_pe_measured", [], [], None, None, lineno=assign.lineno)
    for output in tree.find_all(nodes.Output):
        output.nodes = [
            nodes.Filter(nodes.Const(part.data), "_pe_emitted_text", [], [], None, None, lineno=part.lineno)
            if isinstance(part, nodes.TemplateData)
            else nodes.Filter(part, "_pe_emitted", [], [], None, None, lineno=part.lineno)
            for part in output.nodes
        ]
    return tree


class _Measure(NodeTransformer):
    """Wraps every list and dict literal in the measuring filter."""

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_pe_measured", [], [], None, None, lineno=node.lineno)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_pe_measured", [], [], None, None, lineno=node.lineno)


@functools.lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> jinja2.Template:
    env = _ENVIRONMENTS[html]
    tree = env.parse(source)
    problems = structure_problems(tree)
    if problems:
        line, _, why = problems[0]
        raise SecurityError(f"{why} (line {line})")
    tree = _Measure().visit(_instrument(tree))
    tree.set_environment(env)
    return env.from_string(tree)


def render_bounded(source: str, variables: Mapping[str, Any], *, html: bool = False) -> str:
    """Render a template text over read-only copies of ``variables`` within the bounds of this module.

    Raises a ``jinja2.TemplateError``: a syntax error, an unknown variable, a sandbox violation,
    :class:`TemplateLimitExceeded`, or any other failure of the text (a division by zero, a number too
    large) as a ``TemplateRuntimeError`` naming it.
    """
    template = _compiled(source, html)
    token = _BUDGET.set(_Budget())
    try:
        size = 0
        chunks: list[str] = []
        for chunk in template.generate(read_only(variables)):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitExceeded(f"the template renders more than {MAX_OUTPUT} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except jinja2.TemplateError:
        raise
    except RecursionError:
        raise jinja2.TemplateRuntimeError("the template nests or calls itself too deeply") from None
    except Exception as exc:  # a division by zero, an overflow, a bad argument: the template's own failure
        raise jinja2.TemplateRuntimeError(f"{exc.__class__.__name__}: {exc}") from None
    finally:
        _BUDGET.reset(token)
