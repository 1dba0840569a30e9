"""The Ansible filters and lookups inventories commonly use, on top of Jinja's built-in filters
(default/d, int, lower, upper, replace, join ... are Jinja's own, as in Ansible).

Behaviour follows ansible-core's lib/ansible/plugins/filter/core.py and lookup/{env,file}.py:
``bool`` accepts yes/on/true/1 and no/off/false/0 in any case (anything else: ``== 1``, Ansible's
deprecated fallback); ``regex_search`` returns the match, a list of groups for '\\1'/'\\g<name>'
arguments, or None; ``lookup('env', NAME)`` is '' when unset; ``lookup('file', PATH)`` strips
trailing whitespace and looks in ./files/ then ./ (an ad-hoc ``ansible`` run's search path, the
current directory being its base), decrypting a vault-encrypted file as Ansible does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Undefined

LOOKUPS = ("env", "file")


class FilterError(Exception):
    """A filter or lookup refused its input; the message never quotes the value filtered."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    check: Any = value.lower() if isinstance(value, str) else (str(value).lower() if isinstance(value, int) else value)
    if check in ("yes", "on", "true", "1"):
        return True
    if check in ("no", "off", "false", "0"):
        return False
    try:
        return bool(check == 1)
    except TypeError:  # pragma: no cover - exotic __eq__
        return False


def mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, Undefined):
        if msg is not None:
            raise FilterError(str(msg))
        name = getattr(value, "_undefined_name", None)
        raise FilterError(f"Mandatory variable {name!r} not defined." if name else "Mandatory variable not defined.")
    return value


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _compile(pattern: Any, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(_text(pattern), flags)
    except re.error as exc:
        raise FilterError(f"invalid regular expression: {exc}") from None


def regex_replace(value: Any = "", pattern: Any = "", replacement: Any = "", ignorecase: bool = False,
                  multiline: bool = False, count: int = 0, mandatory_count: int = 0) -> str:
    regex = _compile(pattern, _flags(ignorecase, multiline))
    try:
        output, subs = regex.subn(_text(replacement), _text(value), count=count)
    except (re.error, IndexError) as exc:
        raise FilterError(f"bad replacement for regex_replace: {exc}") from None
    if mandatory_count and mandatory_count != subs:
        raise FilterError(f"regex_replace: the pattern should match {mandatory_count} times, but matches {subs} times")
    return output


def regex_search(value: Any, regex: Any, *args: str, ignorecase: bool = False, multiline: bool = False) -> Any:
    groups: list[int | str] = []
    for arg in args:
        named = re.match(r"\\g<(\S+)>", str(arg))
        numbered = re.match(r"\\(\d+)", str(arg))
        if named:
            groups.append(named.group(1))
        elif numbered:
            groups.append(int(numbered.group(1)))
        else:
            raise FilterError("regex_search: arguments after the pattern are back-references such as '\\1' or '\\g<name>'")
    match = _compile(regex, _flags(ignorecase, multiline)).search(_text(value))
    if not match:
        return None
    try:
        return [match.group(g) for g in groups] if groups else match.group()
    except (IndexError, re.error):
        raise FilterError("regex_search: a back-reference names a group the pattern does not have") from None


def split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return _text(value).split(sep, maxsplit)


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if bool(value) else false_val


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": to_bool,
    "mandatory": mandatory,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "split": split,
    "ternary": ternary,
}


def run_lookup(
    name: Any,
    terms: tuple[Any, ...],
    options: Mapping[str, Any],
    *,
    decrypt_file: Callable[[bytes, Path], tuple[str, bool]],
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> tuple[list[Any], bool]:
    """(values, drew_from_a_secret) of ``lookup(name, *terms, **options)``.

    ``decrypt_file(data, path)`` gives (text, was_encrypted) for a file's bytes."""
    if name == "env":
        env = os.environ if environ is None else environ
        default = options.get("default", "")
        return [env.get(str(term).split()[0] if str(term).split() else "", default) for term in terms], False
    if name == "file":
        return _file_lookup(terms, options, decrypt_file, base or Path.cwd())
    known = ", ".join(LOOKUPS)
    raise FilterError(f"unknown lookup {str(name)[:40]!r}: portfleet evaluates the {known} lookups")


def _file_lookup(terms: tuple[Any, ...], options: Mapping[str, Any],
                 decrypt_file: Callable[[bytes, Path], tuple[str, bool]], base: Path) -> tuple[list[Any], bool]:
    out: list[Any] = []
    secret = False
    for term in terms:
        given = Path(os.path.expanduser(str(term)))
        candidates = [given] if given.is_absolute() else [base / "files" / given, base / given]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FilterError(f"lookup('file', {str(term)!r}): no such file (looked in {', '.join(str(c.parent) for c in candidates)})")
        try:
            data = found.read_bytes()
        except OSError as exc:
            raise FilterError(f"lookup('file', {str(term)!r}): can't read it: {exc.strerror or exc}") from None
        text, encrypted = decrypt_file(data, found)
        secret = secret or encrypted
        if options.get("lstrip", False):
            text = text.lstrip()
        if options.get("rstrip", True):
            text = text.rstrip()
        out.append(text)
    return out, secret
