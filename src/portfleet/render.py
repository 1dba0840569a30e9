"""jinja2 over templates/: the exact command lines sent to hosts.

A user's templates directory (same layout as the shipped one: windows/read/..., windows/write/...)
is searched first, file by file, then the shipped templates (portfleet.resources.templates_dir()).
Each template renders one or more lines. Windows templates (*.cmd.j2): non-blank lines are joined
with " & " so every command the renderer returns is a single cmd.exe line. Linux templates
(*.sh.j2): the lines stay lines of one sh script (" & " would put commands in the background).
Undefined variables are errors (StrictUndefined); no HTML autoescaping: these are command lines.

Most templates do not look at the host's variables (`vars`): the batched read, for one, is the same
text for every host of a run. Such a template's output depends only on the rest of its context, so
it is rendered once per distinct context and reused (rendering was ~0.9 ms of controller CPU per
host). A template that reads `vars`, includes or imports another, or calls something impure
(`random`, `lipsum`, `cycler`, `joiner`) is rendered every time, as before. Templates are read once
per run (auto_reload off): a run does not pick up template edits made while it works.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence

import jinja2
from jinja2 import meta, nodes

from portfleet import resources
from portfleet.facts import FACT_SECTIONS, LINUX_FACT_SECTIONS
from portfleet.parse.sections import END, begin_marker
from portfleet.settings import Setting, Value

# cmd.exe refuses command lines longer than 8191 characters; stay well below it.
CMD_LINE_LIMIT = 8191
READ_COMMAND_BUDGET = 7000
RENDER_CACHE_ENTRIES = 4096  # distinct (template, context) outputs kept; past it, rendering goes on uncached
IMPURE_CALLS = frozenset({"random", "lipsum", "cycler", "joiner", "shuffle"})
# platform -> (template suffix, facts sections of the batched read)
PLATFORMS = {"windows": (".cmd.j2", FACT_SECTIONS), "linux": (".sh.j2", LINUX_FACT_SECTIONS)}


def _platform(platform: str) -> tuple[str, tuple[str, ...]]:
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise RenderError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})") from None


class _Environment(jinja2.Environment):
    """jinja2's Environment, noting whether each template it compiles is pure (see the module doc) from
    the very parse tree it compiles, before code generation. Judging purity from a parse of its own
    read and parsed every template twice: ~2.5 ms of CPU for the batched read's 12 templates, paid by
    every process that renders (each --procs worker)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.purity: dict[str | None, bool] = {}

    def compile(self, source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                defer_init: bool = False) -> Any:
        if isinstance(source, str):
            source = self.parse(source, name, filename)  # a syntax error comes out here, as from compile()
            try:
                self.purity[name] = _pure_tree(source)
            except jinja2.TemplateError:  # e.g. an unknown filter: compiling names the file and line
                self.purity[name] = False
        return super().compile(source, name, filename, raw, defer_init)  # type: ignore[call-overload]


class RenderError(ValueError):
    """A template is missing, broken, or used a variable nobody gave it."""


class Renderer:
    def __init__(self, templates_dir: Path | str | None = None):
        shipped = Path(resources.templates_dir())
        search: list[Path] = []
        if templates_dir is not None:
            user = Path(templates_dir)
            if not user.is_dir():
                raise RenderError(f"templates directory {user} does not exist (expected e.g. {user}/windows/read/...)")
            search.append(user)
        search.append(shipped)
        self.search_path: tuple[Path, ...] = tuple(search)
        self.env = _Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in search]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,  # one stat per template per render otherwise (15 per host)
        )
        self._pure: dict[str, bool] = {}
        self._rendered: dict[Hashable, str] = {}

    # ---- low level --------------------------------------------------------------------------
    def render(self, template: str, **context: Any) -> str:
        """One template -> one command line (its non-blank lines joined with " & ")."""
        key = _frozen((template, {k: v for k, v in context.items() if k != "vars"})) if self._is_pure(template) else None
        return self._reused(key, lambda: self._render(template, context))

    def _reused(self, key: Hashable | None, make: Callable[[], str]) -> str:
        """`make()`'s line, kept under `key` (None: not kept) and returned again for the same key."""
        if key is not None:
            try:
                cached = self._rendered.get(key)
            except TypeError:  # a frozen dataclass holding something unhashable
                key, cached = None, None
            if cached is not None:
                return cached
        line = make()
        if key is not None and len(self._rendered) < RENDER_CACHE_ENTRIES:
            self._rendered[key] = line
        return line

    def _render(self, template: str, context: Mapping[str, Any]) -> str:
        try:
            text = self.env.get_template(template).render(**context)
        except jinja2.TemplateNotFound as exc:
            where = ", ".join(str(p) for p in self.search_path)
            raise RenderError(f"template {exc.name} not found in {where}") from None
        except jinja2.UndefinedError as exc:
            raise RenderError(f"template {template}: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {exc.filename or template}:{exc.lineno}: {exc.message}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return ("\n" if template.endswith(".sh.j2") else " & ").join(lines)

    def _is_pure(self, template: str) -> bool:
        """Whether the template's output depends on its context but `vars` alone (see the module doc).
        A template that cannot be read or parsed is not: rendering it reports the error as before."""
        known = self._pure.get(template)
        if known is None:
            try:
                self.env.get_template(template)  # compiled once for the run; judged as it was parsed
                known = self.env.purity.get(template, False)
            except jinja2.TemplateError:
                known = False
            self._pure[template] = known
        return known

    def source_of(self, template: str) -> Path | None:
        """Which file a template name resolves to (the user's or the shipped one)."""
        for base in self.search_path:
            candidate = base / template
            if candidate.is_file():
                return candidate
        return None

    @staticmethod
    def _setting_context(setting: Setting, host_vars: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "setting": setting,
            "vars": _as_dict(host_vars),
            "family": setting.family,
            "protocol": setting.protocol,
            "reg_name": setting.reg_name,
        }

    # ---- the commands -----------------------------------------------------------------------
    def read_sections(self, settings: Sequence[Setting], host_vars: Mapping[str, Any],
                      platform: str = "windows") -> list[tuple[str, str]]:
        """[(section name, command)] in run order: the facts, then each setting once."""
        context_vars = _as_dict(host_vars)
        _, fact_sections = _platform(platform)
        out = [(name, self.render(_fact_template(platform, name), vars=context_vars)) for name in fact_sections]
        seen: set[str] = set()
        for setting in settings:
            if setting.platform != platform:
                raise RenderError(f"{setting.key} is a {setting.platform} setting, not {platform}")
            if setting.key in seen:
                continue
            seen.add(setting.key)
            out.append((setting.section, self.render(setting.read_template, **self._setting_context(setting, context_vars))))
        return out

    def read_command(self, settings: Sequence[Setting], host_vars: Mapping[str, Any], platform: str = "windows") -> str:
        """ONE command (a cmd.exe line; an sh script on Linux) reading the facts and every given
        setting, sections marked by echo."""
        suffix, fact_sections = _platform(platform)
        templates = [_fact_template(platform, name) for name in fact_sections]
        templates += [s.read_template for s in settings] + [f"{platform}/read{suffix}"]
        # The same line for every host when no template involved reads the host's variables; they are
        # still evaluated, so a host whose variables cannot be evaluated fails as before.
        context_vars = dict(host_vars or {})
        whole = ("read", platform, tuple(settings)) if all(map(self._is_pure, templates)) else None
        return self._reused(whole, lambda: self._read_line(settings, context_vars, platform))

    def _read_line(self, settings: Sequence[Setting], context_vars: dict[str, Any], platform: str) -> str:
        sections = [
            {"name": name, "marker": begin_marker(name), "command": command}
            for name, command in self.read_sections(settings, context_vars, platform)
        ]
        suffix, _ = _platform(platform)
        line = self.render(f"{platform}/read{suffix}", sections=sections, end_marker=END, vars=context_vars)
        if len(line) > READ_COMMAND_BUDGET:
            raise RenderError(
                f"the batched read is {len(line)} characters; cmd.exe accepts at most {CMD_LINE_LIMIT} "
                f"and portfleet keeps reads under {READ_COMMAND_BUDGET}: shorten the read templates"
            )
        return line

    def write_command(self, setting: Setting, value: Value, host_vars: Mapping[str, Any]) -> str:
        """The command that sets `value` (validated again here: only checked values reach a host)."""
        checked = setting.validate(value)
        if checked is None:
            raise RenderError(f"{setting.key}: writing 'absent' is unset_command's job")
        return self.render(setting.write_template, value=checked, **self._setting_context(setting, host_vars))

    def unset_command(self, setting: Setting, host_vars: Mapping[str, Any]) -> str | None:
        """The command that restores "absent" (Windows default); None when it cannot be absent."""
        if setting.unset_template is None:
            return None
        return self.render(setting.unset_template, **self._setting_context(setting, host_vars))


def _fact_template(platform: str, section: str) -> str:
    """facts.boot -> windows/facts/boot.cmd.j2"""
    return f"{platform}/facts/{section.split('.', 1)[1]}{_platform(platform)[0]}"


def _as_dict(host_vars: Mapping[str, Any] | None) -> dict[str, Any]:
    """The host's variables as one dict, evaluated once (lazily templated inventory values): a dict given
    is used as it is, so the templates of one read share it."""
    return host_vars if isinstance(host_vars, dict) else dict(host_vars or {})


def _pure_tree(tree: nodes.Template) -> bool:
    if "vars" in meta.find_undeclared_variables(tree):
        return False
    if any(True for _ in meta.find_referenced_templates(tree)):
        return False  # what an included template reads is not known here
    for node in tree.find_all((nodes.Filter, nodes.Call, nodes.Test)):
        name = getattr(node, "name", None) if not isinstance(node, nodes.Call) else getattr(node.node, "name", None)
        if name in IMPURE_CALLS:
            return False
    return True


def _frozen(value: Any) -> Hashable | None:
    """A hashable, equality-faithful copy of a render context; None when a part has no such copy."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)  # 1 and True and 1.0 render differently
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            fv = _frozen(v)
            if not isinstance(k, str) or fv is None:
                return None
            items.append((k, fv))
        return ("dict", tuple(sorted(items)))
    if isinstance(value, (list, tuple)):
        parts = [_frozen(v) for v in value]
        return None if any(p is None for p in parts) else (type(value).__name__, tuple(parts))
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return ("dataclass", value)
    return None
