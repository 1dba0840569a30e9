"""Jinja2 for inventory variables, evaluated as Ansible 2.19 evaluates them, in a sandbox.

- ImmutableSandboxedEnvironment: no attribute games (``__class__``), no mutating calls.
- Undefined is strict: using an undefined variable is an error, ``default``/``is defined`` work.
- Types as Ansible 2.19: a template that is one expression (``"{{ 5985 + 1 }}"``) gives the native
  value (5986, a list, None); anything else gives text, with None rendered as '' and no
  re-parsing of the text (2.19 dropped literal_eval: ``"{{ 1 }}{{ 2 }}"`` is the string "12").
- Trailing newlines are kept, as Ansible's templar keeps them.
- A backslash in a string inside {{ }} stays a backslash (Ansible's lexer; YAML did the escapes).
- The variables are a Mapping handed to Jinja as the context's parent (``shared=True``), so a
  variable is looked up, and so templated or decrypted, only when the template reads it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, UndefinedError
from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateRuntimeError
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

from portfleet.inventory.errors import InventoryError
from portfleet.inventory.jinja_filters import FILTERS, FilterError


class TemplateProblem(Exception):
    """Why a template could not be evaluated: kind (syntax, undefined, filter, unsafe, error),
    the message, and the line inside the template when Jinja knows it."""

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        self.kind, self.message, self.line = kind, message, line
        super().__init__(message)


def concat(chunks: Iterable[Any]) -> Any:
    """One chunk keeps its type; several are joined as text, None as '' (Ansible 2.19)."""
    items = list(chunks)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return "".join("" if item is None else str(item) for item in items)


class _CodeGenerator(NativeCodeGenerator):
    # Jinja folds constant output ("{{ 5 + 1 }}", or "  {{ 5 }}  ") at compile time and the native
    # generator turns every folded group into text; keep a lone constant native instead, and join
    # several as Ansible does. (Relies on Jinja 3.1's _output_const_repr hook; tests pin the result.)
    def _output_const_repr(self, group: Iterable[Any]) -> str:
        return repr(concat(group))


class _Lexer(Lexer):
    # Ansible's AnsibleLexer: a backslash in a string constant inside {{ }} is a backslash, not the
    # start of an escape, because YAML already processed the escapes once. So "{{ x | regex_replace(
    # '(a)', '\\1') }}" written in YAML double quotes means the back-reference \1, as in Ansible.
    # ({% %} statements keep Jinja's escapes, as Ansible's do.)
    def tokeniter(self, *args: Any, **kwargs: Any) -> Iterator[tuple[int, str, str]]:
        inside = False
        for lineno, kind, value in super().tokeniter(*args, **kwargs):
            if kind == TOKEN_VARIABLE_BEGIN:
                inside = True
            elif kind == TOKEN_VARIABLE_END:
                inside = False
            elif inside and kind == TOKEN_STRING:
                value = value.replace("\\", "\\\\")
            yield lineno, kind, value


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator

    @property
    def lexer(self) -> Lexer:  # type: ignore[override]
        lexer = self.__dict__.get("_portfleet_lexer")
        if lexer is None:
            lexer = self.__dict__["_portfleet_lexer"] = _Lexer(self)
        return lexer


ENVIRONMENT = _Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
ENVIRONMENT.filters.update(FILTERS)
ENVIRONMENT.filters["d"] = ENVIRONMENT.filters["default"]
GLOBALS: Mapping[str, Any] = ENVIRONMENT.globals  # range, dict, lipsum, cycler, joiner, namespace


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Template:
    return ENVIRONMENT.from_string(source)


def compile_template(source: str, *, cache: bool = True) -> Template:
    """The compiled template; TemplateProblem for a syntax error or an unknown filter/test.
    ``cache=False`` for a secret's source, which must not sit in a shared cache."""
    try:
        return _compiled(source) if cache else ENVIRONMENT.from_string(source)
    except TemplateAssertionError as exc:  # unknown filter or test, found at compile time
        raise TemplateProblem(_unknown_kind(exc.message), _unknown_message(exc.message), exc.lineno) from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem("syntax", f"template syntax error: {exc.message}", exc.lineno) from None
    except RecursionError:
        raise TemplateProblem("syntax", "the template nests too deeply to compile") from None


def render(source: str, variables: Mapping[str, Any], *, cache: bool = True) -> Any:
    """Evaluate ``source`` with ``variables`` (looked up lazily); TemplateProblem on failure.
    An InventoryError raised while looking up a variable passes through unchanged."""
    template = compile_template(source, cache=cache)
    context = template.new_context(variables, shared=True)  # type: ignore[arg-type]
    try:
        result = concat(template.root_render_func(context))
        _fail_if_undefined(result)
        return result
    except InventoryError:
        raise
    except TemplateProblem:
        raise
    except UndefinedError as exc:
        raise TemplateProblem("undefined", str(exc.message)) from None
    except SecurityError as exc:
        raise TemplateProblem("unsafe", f"refused by the sandbox: {exc}") from None
    except TemplateRuntimeError as exc:  # an unknown filter inside {% if %} is found only when run
        message = str(exc.message)
        if message.startswith(("No filter named", "No test named")):
            raise TemplateProblem(_unknown_kind(message), _unknown_message(message)) from None
        raise TemplateProblem("error", message) from None
    except FilterError as exc:
        raise TemplateProblem("filter", str(exc)) from None
    except RecursionError:
        raise TemplateProblem("error", "the template nests too deeply") from None
    except Exception as exc:  # a filter or operator refusing its operands: TypeError, ValueError ...
        raise TemplateProblem("error", f"{type(exc).__name__}: {exc}") from None


def _fail_if_undefined(value: Any) -> None:
    # A lone "{{ x }}" returns x itself, Undefined included: using it is the error Ansible reports.
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, (list, tuple)):
        for item in value:
            _fail_if_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _fail_if_undefined(item)


def _unknown_kind(message: str | None) -> str:
    return "filter" if (message or "").startswith("No filter") else "test"


def _unknown_message(message: str | None) -> str:
    text = (message or "").rstrip(".").replace(" found", "")
    name = text.split("named", 1)[1].strip() if "named" in text else "?"
    what = "filter" if text.startswith("No filter") else "test"
    if what == "test":
        return f"unknown test {name} (Jinja's built-in tests are available)"
    return f"unknown filter {name} (portfleet has Jinja's built-in filters and {', '.join(sorted(FILTERS))})"

