"""A Go ``text/template`` interpreter with the sprig and helmfile functions bootstrap helmfiles use.

The simulator's helmfile must render what the real one renders (``bases:``, release ``templates:``,
charts and versions read from each app's ``ocirepository.yaml``), so it needs Go templates. The PyPI
package ``py-go-template`` (Go text/template + sprig + helmfile funcs in a cgo ``.so``) was judged and
not used: on any template error the library calls Go's ``os.Exit(1)``, which kills the calling
process (the simulator runs its tools in-process); ``readFile`` resolves against the process's working
directory (helmfile: the state file's or values file's directory, ``pkg/tmpl/context_funcs.go``
``ReadFile``), so it would need ``os.chdir`` around every render; ``requiredEnv``/``env`` read
``os.environ`` rather than the tool's environment; it only renders files, not strings (``tpl``);
and it ships one x86_64 wheel (2023) — no aarch64 or macOS.

Covered (Go ``text/template`` semantics, ``go1.22``): text and actions with ``{{-``/``-}}`` trimming,
comments, pipelines, variables (``$x :=``, ``$x =``), fields on maps and chained fields, parenthesised
pipelines, ``if``/``else if``/``else``, ``range`` (over lists and maps, with ``$i, $v :=``), ``with``,
``end``; Go truthiness; Go's printing of nil (``<no value>``), maps and lists.
Functions: the helmfile ones (``readFile``, ``fromYaml``, ``toYaml``, ``tpl``, ``requiredEnv``,
``env``, ``isFile``, ``isDir``, ``required``, ``get``, ``exec`` refused) and the sprig ones home-ops
repositories call (``printf``, ``index``, ``dict``, ``list``, ``default``, ``regexSplit``,
``regexReplaceAll``, ``regexFind``, ``regexMatch``, ``quote``, ``trim``…, ``indent``, ``nindent``,
``toJson``, comparisons and logic). An unknown function is a parse error, as in Go.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """``template: NAME:LINE:COL: …`` as Go reports it."""


NO_VALUE = "<no value>"


# ---------------------------------------------------------------------------------------- lexing


@dataclass
class _Tok:
    kind: str  # str num bool nil ident field var dot ( ) | := = , kw
    value: Any
    text: str


_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<raw>`[^`]*`)
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<char>'(?:\\.|[^'\\])')
  | (?P<assign>:=)
  | (?P<eq>=)
  | (?P<num>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()|,])
    )""",
    re.VERBOSE,
)
_FIELD_TAIL = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _unquote(text: str) -> str:
    return str(json.loads(text.replace("\\'", "'")))


def _lex_action(src: str, where: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if not src[pos:].strip():
            break
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{where}: unexpected {src[pos:].strip()[:20]!r} in command")
        pos = m.end()
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "raw":
            toks.append(_Tok("str", text[1:-1], text))
        elif kind == "str":
            toks.append(_Tok("str", _unquote(text), text))
        elif kind == "char":
            toks.append(_Tok("num", ord(_unquote('"' + text[1:-1] + '"')), text))
        elif kind == "num":
            value: Any = int(text, 16) if text.lower().startswith(("0x", "-0x")) else None
            if value is None:
                value = float(text) if any(c in text for c in ".eE") else int(text)
            toks.append(_Tok("num", value, text))
        elif kind == "ident":
            if text in ("true", "false"):
                toks.append(_Tok("bool", text == "true", text))
            elif text == "nil":
                toks.append(_Tok("nil", None, text))
            elif text in _KEYWORDS:
                toks.append(_Tok("kw", text, text))
            else:
                toks.append(_Tok("ident", text, text))
        elif kind in ("assign", "eq") or kind == "punct":
            toks.append(_Tok(text, text, text))
        else:
            toks.append(_Tok(kind, text, text))
        # a field chain right after ")" or a variable: (x).a.b / $x.a.b
        if kind == "var" or (kind == "punct" and text == ")"):
            tail = _FIELD_TAIL.match(src, pos)
            if tail:
                toks.append(_Tok("chain", tail.group(0), tail.group(0)))
                pos = tail.end()
    return toks


# ---------------------------------------------------------------------------------------- nodes


@dataclass
class _Pipe:
    decl: list[str]
    assign: bool  # "=" rather than ":="
    cmds: list[list[Any]]  # each command: operands (tokens or nested _Pipe, chains attached)


@dataclass
class _Node:
    kind: str  # text action if range with
    text: str = ""
    pipe: _Pipe | None = None
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)
    where: str = ""


def _parse_pipe(toks: list[_Tok], where: str) -> _Pipe:
    decl: list[str] = []
    assign = False
    i = 0
    # $x := …, $i, $v := …, $x = …
    j = 0
    names: list[str] = []
    while j < len(toks) and toks[j].kind == "var":
        names.append(str(toks[j].value))
        j += 1
        if j < len(toks) and toks[j].kind == ",":
            j += 1
            continue
        break
    if names and j < len(toks) and toks[j].kind in (":=", "="):
        decl, assign, i = names, toks[j].kind == "=", j + 1
    cmds: list[list[Any]] = [[]]
    stack: list[tuple[list[list[Any]], list[str], bool]] = []
    while i < len(toks):
        tok = toks[i]
        i += 1
        if tok.kind == "(":
            stack.append((cmds, decl, assign))
            cmds, decl, assign = [[]], [], False
        elif tok.kind == ")":
            if not stack:
                raise TemplateError(f"{where}: unexpected right paren")
            inner = _Pipe([], False, cmds)
            cmds, decl, assign = stack.pop()
            cmds[-1].append(inner)
        elif tok.kind == "|":
            if not cmds[-1]:
                raise TemplateError(f"{where}: missing command before |")
            cmds.append([])
        elif tok.kind == "chain":
            if not cmds[-1]:
                raise TemplateError(f"{where}: unexpected field chain")
            cmds[-1][-1] = ("chain", cmds[-1][-1], tok.value)
        elif tok.kind in (":=", "=", ",", "kw"):
            raise TemplateError(f"{where}: unexpected {tok.text!r} in operand")
        else:
            cmds[-1].append(tok)
    if stack:
        raise TemplateError(f"{where}: unclosed left paren")
    if not cmds[-1]:
        raise TemplateError(f"{where}: missing value for command")
    return _Pipe(decl, assign, cmds)


def _action_end(text: str, pos: int) -> int:
    """Where the action's ``}}`` is, skipping quoted strings (they may hold ``}}``)."""
    i = pos
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            close = c
            i += 1
            while i < len(text) and text[i] != close:
                i += 2 if text[i] == "\\" and close != "`" else 1
        elif text.startswith("}}", i):
            return i
        i += 1
    return -1


def parse(text: str, name: str = "template") -> list[_Node]:
    """Parse a template into a node tree (errors as ``template: NAME:LINE: …``)."""
    items: list[tuple[str, str, str]] = []  # (kind, text, where): kind text|action
    pos = 0
    trim_next = False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            items.append(("text", chunk, ""))
            break
        where = f"template: {name}:{text.count(chr(10), 0, start) + 1}"
        inner_start = start + 2
        if (
            text.startswith("- ", inner_start)
            or text.startswith("-\t", inner_start)
            or text.startswith("-\n", inner_start)
        ):
            chunk = chunk.rstrip(" \t\r\n")
            inner_start += 1
        items.append(("text", chunk, ""))
        end = _action_end(text, inner_start)
        if text[inner_start:].lstrip().startswith("/*"):
            close = text.find("*/", inner_start)
            if close < 0:
                raise TemplateError(f"{where}: unclosed comment")
            end = text.find("}}", close)
        if end < 0:
            raise TemplateError(f"{where}: unclosed action")
        inner = text[inner_start:end]
        trim_next = False
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            trim_next = True
        pos = end + 2
        if inner.strip().startswith("/*"):
            continue
        items.append(("action", inner, where))
    nodes, rest, stop = _build(items, 0, name)
    if stop is not None:
        raise TemplateError(f"{items[rest - 1][2]}: unexpected {{{{{stop[0]}}}}}")
    return nodes


def _build(
    items: list[tuple[str, str, str]], i: int, name: str
) -> tuple[list[_Node], int, tuple[str, list[_Tok]] | None]:
    """Nodes up to the next ``{{end}}``/``{{else …}}`` (returned as the stop word and its tokens)."""
    out: list[_Node] = []
    while i < len(items):
        kind, text, where = items[i]
        i += 1
        if kind == "text":
            if text:
                out.append(_Node("text", text=text))
            continue
        toks = _lex_action(text, where)
        if not toks:
            raise TemplateError(f"{where}: missing value for command")
        head = toks[0]
        if head.kind == "kw":
            word = str(head.value)
            if word in ("end", "else"):
                return out, i, (word, toks[1:])
            if word in ("if", "range", "with"):
                node, i = _block(word, toks[1:], where, items, i, name)
                out.append(node)
                continue
            raise TemplateError(f"{where}: {{{{{word}}}}} is not supported by the simulator's helmfile")
        out.append(_Node("action", pipe=_parse_pipe(toks, where), where=where))
    return out, i, None


def _block(
    word: str, toks: list[_Tok], where: str, items: list[tuple[str, str, str]], i: int, name: str
) -> tuple[_Node, int]:
    node = _Node(word, pipe=_parse_pipe(toks, where), where=where)
    node.body, i, stop = _build(items, i, name)
    if stop is not None and stop[0] == "else":
        rest = stop[1]
        if rest and rest[0].kind == "kw" and rest[0].value in ("if", "with"):
            # {{else if …}}: an if nested in the else branch, closed by the same {{end}}
            nested, i = _block(str(rest[0].value), rest[1:], where, items, i, name)
            node.orelse = [nested]
            return node, i
        node.orelse, i, stop = _build(items, i, name)
    if stop is None or stop[0] != "end":
        raise TemplateError(f"{where}: unexpected EOF")
    return node, i


# ---------------------------------------------------------------------------------------- values


def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/list/map are false."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def go_str(value: Any) -> str:
    """How ``{{ x }}`` prints a value (fmt's %v)."""
    if value is None:
        return NO_VALUE
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value)) if abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_inner(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    return str(value)


def _inner(value: Any) -> str:
    return "<nil>" if value is None else go_str(value)


# ---------------------------------------------------------------------------------------- functions


def _to_yaml(value: Any) -> str:
    import yaml

    if value is None:
        return "null\n"
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True, width=1 << 30)
    if text.endswith("...\n"):
        text = text[: -len("...\n")]
    return text  # helmfile's ToYaml keeps yaml.Marshal's final newline (sprig's trims it)


def _from_yaml(text: Any) -> Any:
    import yaml

    try:
        data = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        raise TemplateError(f"error unmarshaling YAML: {str(exc).splitlines()[0]}") from None
    return {} if data is None else data


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    it = iter(args)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1] if i + 1 < len(fmt) else ""
        i += 2
        if verb == "%":
            out.append("%")
            continue
        try:
            arg = next(it)
        except StopIteration:
            out.append(f"%!{verb}(MISSING)")
            continue
        if verb == "q":
            out.append(json.dumps(str(arg)))
        elif verb == "d":
            out.append(str(int(arg)))
        else:
            out.append(go_str(arg))
    return "".join(out)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, list | tuple):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateError(f"error calling index: index out of range: {key}")
            item = item[key]
        elif item is None:
            return None
        else:
            raise TemplateError(f"error calling index: cannot index slice/array with type {type(key).__name__}")
    return item


def _default(default: Any, *given: Any) -> Any:
    return given[0] if given and truth(given[0]) else default


def _go_regex(pattern: str) -> str:
    # RE2 and Python agree on what bootstrap templates use; named groups differ in syntax.
    return re.sub(r"\(\?P<", "(?P<", pattern)


def _regex_split(pattern: str, text: str, n: int) -> list[str]:
    parts = re.split(_go_regex(pattern), str(text))
    if n > 0 and len(parts) > n:
        joined = re.split(_go_regex(pattern), str(text), maxsplit=n - 1)
        return joined
    return parts


def _regex_replace_all(pattern: str, text: str, repl: str) -> str:
    # Go's ${1}/$1 expansion → Python's \g<1>
    py = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", str(repl))
    return re.sub(_go_regex(pattern), py, str(text))


def _indent(n: int, text: str) -> str:
    pad = " " * int(n)
    return pad + str(text).replace("\n", "\n" + pad)


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


@dataclass
class Context:
    """What a render sees: ``readFile`` resolves against ``base``; ``env`` is the tool's environment."""

    base: str
    env: Mapping[str, str]
    name: str = "stringTemplate"

    def funcs(self) -> dict[str, Callable[..., Any]]:
        def read_file(path: str) -> str:
            full = path if os.path.isabs(path) else os.path.join(self.base, path)
            try:
                with open(full, encoding="utf-8") as fh:
                    return fh.read()
            except OSError as exc:
                raise TemplateError(
                    f"error calling readFile: open {full}: {(exc.strerror or 'error').lower()}"
                ) from None

        def required_env(name: str) -> str:
            value = self.env.get(name, "")
            if not value:
                raise TemplateError(f"error calling requiredEnv: required env var `{name}` is not set")
            return value

        def required(message: str, value: Any) -> Any:
            if value is None or value == "":
                raise TemplateError(f"error calling required: {message}")
            return value

        def tpl(text: str, data: Any) -> str:
            return render(str(text), data, Context(self.base, self.env, "stringTemplate"))

        def refuse_exec(*_: Any) -> str:
            raise TemplateError("error calling exec: the simulator's helmfile does not run commands from templates")

        def dictionary(*kv: Any) -> dict[str, Any]:
            return {str(kv[i]): kv[i + 1] if i + 1 < len(kv) else "" for i in range(0, len(kv), 2)}

        return {
            "readFile": read_file,
            "fromYaml": _from_yaml,
            "toYaml": _to_yaml,
            "fromJson": lambda s: json.loads(str(s)),
            "toJson": lambda v: json.dumps(v, separators=(",", ":")),
            "tpl": tpl,
            "requiredEnv": required_env,
            "env": lambda name: self.env.get(str(name), ""),
            "required": required,
            "exec": refuse_exec,
            "isFile": lambda p: os.path.isfile(p if os.path.isabs(p) else os.path.join(self.base, p)),
            "isDir": lambda p: os.path.isdir(p if os.path.isabs(p) else os.path.join(self.base, p)),
            "printf": _printf,
            "print": lambda *a: "".join(go_str(x) for x in a),
            "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
            "index": _index,
            "get": lambda m, k: (m or {}).get(k, "") if isinstance(m, dict) else "",
            "hasKey": lambda m, k: isinstance(m, dict) and k in m,
            "keys": lambda *ms: [k for m in ms for k in (m or {})],
            "dict": dictionary,
            "list": lambda *a: list(a),
            "default": _default,
            "empty": lambda v: not truth(v),
            "coalesce": lambda *a: next((x for x in a if truth(x)), None),
            "ternary": lambda a, b, c: a if truth(c) else b,
            "regexSplit": _regex_split,
            "regexReplaceAll": _regex_replace_all,
            "regexFind": lambda p, s: m.group(0) if (m := re.search(_go_regex(p), str(s))) else "",
            "regexMatch": lambda p, s: re.search(_go_regex(p), str(s)) is not None,
            "quote": lambda *a: " ".join(json.dumps(go_str(x) if x is not None else "") for x in a),
            "squote": lambda *a: " ".join(f"'{go_str(x) if x is not None else ''}'" for x in a),
            "trim": lambda s: str(s).strip(),
            "trimSuffix": lambda suf, s: str(s)[: -len(suf)] if suf and str(s).endswith(suf) else str(s),
            "trimPrefix": lambda pre, s: str(s)[len(pre) :] if str(s).startswith(pre) else str(s),
            "lower": lambda s: str(s).lower(),
            "upper": lambda s: str(s).upper(),
            "replace": lambda old, new, s: str(s).replace(old, new),
            "contains": lambda sub, s: str(sub) in str(s),
            "hasPrefix": lambda pre, s: str(s).startswith(str(pre)),
            "hasSuffix": lambda suf, s: str(s).endswith(str(suf)),
            "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(str(s).split(sep))},
            "splitList": lambda sep, s: str(s).split(sep),
            "join": lambda sep, items: str(sep).join(go_str(x) for x in items or []),
            "first": lambda items: items[0] if items else None,
            "last": lambda items: items[-1] if items else None,
            "indent": _indent,
            "nindent": lambda n, s: "\n" + _indent(n, s),
            "toString": go_str,
            "len": lambda v: len(v) if v is not None else 0,
            "eq": lambda a, *bs: any(a == b for b in bs),
            "ne": lambda a, b: a != b,
            "lt": lambda a, b: _cmp(a, b) < 0,
            "le": lambda a, b: _cmp(a, b) <= 0,
            "gt": lambda a, b: _cmp(a, b) > 0,
            "ge": lambda a, b: _cmp(a, b) >= 0,
            "not": lambda v: not truth(v),
        }


# ---------------------------------------------------------------------------------------- evaluation


class _Scope:
    def __init__(self, dot: Any, parent: _Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent
        self.dot = dot

    def get(self, name: str, where: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise TemplateError(f"{where}: undefined variable: {name}")

    def set(self, name: str, value: Any, where: str) -> None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                scope.vars[name] = value
                return
            scope = scope.parent
        raise TemplateError(f"{where}: undefined variable: {name}")


def _field(value: Any, chain: str, where: str) -> Any:
    for name in chain.strip(".").split("."):
        if isinstance(value, dict):
            value = value.get(name)
        elif value is None:
            raise TemplateError(f"{where}: nil pointer evaluating interface {{}}.{name}")
        else:
            raise TemplateError(f"{where}: can't evaluate field {name} in type {type(value).__name__}")
    return value


class _Renderer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.funcs = ctx.funcs()

    def nodes(self, nodes: list[_Node], scope: _Scope, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self.pipe(node.pipe, scope, node.where)
                if not node.pipe.decl:
                    out.append(go_str(value))
            elif node.kind == "if":
                assert node.pipe is not None
                inner = _Scope(scope.dot, scope)
                branch = node.body if truth(self.pipe(node.pipe, inner, node.where)) else node.orelse
                self.nodes(branch, inner, out)
            elif node.kind == "with":
                assert node.pipe is not None
                inner = _Scope(scope.dot, scope)
                value = self.pipe(node.pipe, inner, node.where)
                if truth(value):
                    inner.dot = value
                    self.nodes(node.body, inner, out)
                else:
                    self.nodes(node.orelse, _Scope(scope.dot, scope), out)
            elif node.kind == "range":
                assert node.pipe is not None
                decl = node.pipe.decl
                pipe = _Pipe([], False, node.pipe.cmds)
                value = self.pipe(pipe, scope, node.where)
                items = (
                    sorted(value.items(), key=lambda kv: str(kv[0]))
                    if isinstance(value, dict)
                    else list(enumerate(value or []))
                )
                if not items:
                    self.nodes(node.orelse, _Scope(scope.dot, scope), out)
                for key, item in items:
                    inner = _Scope(item, scope)
                    if len(decl) == 1:
                        inner.vars[decl[0]] = item
                    elif len(decl) == 2:
                        inner.vars[decl[0]], inner.vars[decl[1]] = key, item
                    self.nodes(node.body, inner, out)

    def pipe(self, pipe: _Pipe, scope: _Scope, where: str) -> Any:
        value: Any = None
        for n, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, scope, where, value if n else _UNSET)
        for name in pipe.decl:
            if pipe.assign:
                scope.set(name, value, where)
            else:
                scope.vars[name] = value
        return value

    def command(self, cmd: list[Any], scope: _Scope, where: str, piped: Any) -> Any:
        head = cmd[0]
        if isinstance(head, _Tok) and head.kind == "ident":
            fn = self.funcs.get(str(head.value))
            if fn is None:
                raise TemplateError(f'{where}: function "{head.value}" not defined')
            args = [self.operand(a, scope, where) for a in cmd[1:]]
            if piped is not _UNSET:
                args.append(piped)
            try:
                return fn(*args)
            except TemplateError as exc:
                text = str(exc)
                raise TemplateError(
                    text
                    if text.startswith("template:")
                    else f'{where}: executing "{self.ctx.name}" at <{head.value}>: {text}'
                ) from None
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise TemplateError(
                    f'{where}: executing "{self.ctx.name}" at <{head.value}>: error calling {head.value}: {exc}'
                ) from None
        if len(cmd) > 1 or piped is not _UNSET:
            raise TemplateError(f"{where}: can't give argument to non-function {getattr(head, 'text', '(…)')}")
        return self.operand(head, scope, where)

    def operand(self, op: Any, scope: _Scope, where: str) -> Any:
        if isinstance(op, tuple) and op and op[0] == "chain":
            return _field(self.operand(op[1], scope, where), op[2], where)
        if isinstance(op, _Pipe):
            return self.pipe(op, _Scope(scope.dot, scope), where)
        tok: _Tok = op
        if tok.kind in ("str", "num", "bool", "nil"):
            return tok.value
        if tok.kind == "dot":
            return scope.dot
        if tok.kind == "field":
            return _field(scope.dot, str(tok.value), where)
        if tok.kind == "var":
            name = str(tok.value)
            return scope.get(name, where) if name != "$" else _root(scope)
        if tok.kind == "ident":
            fn = self.funcs.get(str(tok.value))
            if fn is None:
                raise TemplateError(f'{where}: function "{tok.value}" not defined')
            return fn()
        raise TemplateError(f"{where}: unexpected {tok.text!r}")


_UNSET = object()


def _root(scope: _Scope) -> Any:
    while scope.parent is not None:
        scope = scope.parent
    return scope.dot


def render(text: str, data: Any, ctx: Context) -> str:
    """Render ``text`` with ``.`` = ``data``; errors are ``TemplateError`` with Go's wording."""
    nodes = parse(text, ctx.name)
    scope = _Scope(data)
    scope.vars["$"] = data
    out: list[str] = []
    _Renderer(ctx).nodes(nodes, scope, out)
    return "".join(out)
