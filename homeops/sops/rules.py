"""Which values sops encrypts, and which ``.sops.yaml`` creation rule applies to a file.

Patterns in sops files and ``.sops.yaml`` are Go RE2; ``translate_re2`` rewrites the constructs
Python's ``re`` reads differently (mid-pattern ``(?i)``, ``\\z``, ``$``, POSIX classes, ``\\Q…\\E``)
so a rule matches exactly the keys it matches in Go.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeops.sops.errors import SopsConfigError, SopsFormatError

#: The rule keys a file's metadata (and a creation rule) may carry; at most one applies.
RULE_KEYS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAG_GROUP = re.compile(r"\(\?([imsU]*(?:-[imsU]+)?)\)")


def translate_re2(pattern: str) -> str:
    """Rewrite a Go RE2 pattern into an equivalent Python ``re`` pattern."""
    out: list[str] = []
    # One entry per open group: how many extra ")" a scoped-flag rewrite owes at its close.
    owed: list[int] = [0]
    multiline = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            out.append("\\Z" if nxt == "z" else pattern[i : i + 2])
            i += 2
            continue
        if c == "[":
            j, cls = _char_class(pattern, i)
            out.append(cls)
            i = j
            continue
        if c == "(":
            flag = _FLAG_GROUP.match(pattern, i)
            if flag:
                flags = flag.group(1)
                if "U" in flags:
                    raise ValueError("the RE2 ungreedy flag (?U) has no Python equivalent")
                if "m" in flags.split("-")[0]:
                    multiline = True
                if i == 0:
                    out.append(flag.group(0))
                else:
                    # Python only accepts global flags at the very start: scope them to the rest
                    # of the enclosing group instead, which is what RE2 means.
                    out.append(f"(?{flags}:")
                    owed[-1] += 1
                i = flag.end()
                continue
            if pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            else:
                out.append("(")
                i += 1
            owed.append(0)
            continue
        if c == ")":
            extra = owed.pop() if len(owed) > 1 else 0
            out.append(")" * extra + ")")
            i += 1
            continue
        if c == "$" and not multiline:
            # RE2's $ (without m) is end of text only; Python's also matches before a final newline.
            out.append("\\Z")
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * owed[0])
    return "".join(out)


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    out = ["["]
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            out.append("]")
            return i + 1, "".join(out)
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end > 0 else ""
            negated = name.startswith("^")
            if name.lstrip("^") in _POSIX and not negated:
                out.append(_POSIX[name])
                i = end + 2
                first = False
                continue
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[" or (c == "]" and first):
            out.append("\\" + c)
            i += 1
        else:
            out.append(c)
            i += 1
        first = False
    raise ValueError("missing closing ]")


@functools.lru_cache(maxsize=256)
def compile_re2(pattern: str) -> re.Pattern[str]:
    return re.compile(translate_re2(pattern))


@dataclass(frozen=True, slots=True)
class CryptRule:
    """The one rule of a file deciding which leaves are encrypted (sops ``shouldBeEncrypted``)."""

    kind: str = "unencrypted_suffix"
    value: str = DEFAULT_UNENCRYPTED_SUFFIX

    def __post_init__(self) -> None:
        if self.kind not in RULE_KEYS:
            raise ValueError(f"unknown rule {self.kind}")
        if self.kind.endswith("regex"):
            try:
                compile_re2(self.value)
            except (re.error, ValueError) as exc:
                raise SopsFormatError(f"{self.kind} {self.value!r} is not a valid regular expression: {exc}") from None

    def encrypts(self, path: Sequence[str], comments: Sequence[str] = ()) -> bool:
        """Whether a leaf at ``path`` (preceded by ``comments``) is encrypted."""
        kind, value = self.kind, self.value
        if kind == "unencrypted_suffix":
            return not any(p.endswith(value) for p in path)
        if kind == "encrypted_suffix":
            return any(p.endswith(value) for p in path)
        if kind in ("unencrypted_regex", "encrypted_regex"):
            rx = compile_re2(value)
            hit = any(rx.search(p) for p in path)
            return hit if kind == "encrypted_regex" else not hit
        rx = compile_re2(value)
        hit = any(rx.search(c) for c in comments)
        return hit if kind == "encrypted_comment_regex" else not hit

    def encrypts_comment(self, comment: str, path: Sequence[str], comments: Sequence[str] = ()) -> bool:
        """Comments follow the rule of their enclosing path; the comment regexes never hide a marker comment."""
        if self.kind == "encrypted_comment_regex":
            return False
        if self.kind == "unencrypted_comment_regex":
            return not compile_re2(self.value).search(comment) and self.encrypts(path, comments)
        return self.encrypts(path, comments)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str) -> CryptRule | None:
        """The rule named in ``data``; None when there is none; an error when there are several."""
        found = [(k, data[k]) for k in RULE_KEYS if data.get(k) not in (None, "")]
        if len(found) > 1:
            raise SopsConfigError(f"{where}: only one of {', '.join(k for k, _ in found)} may be set")
        if not found:
            return None
        return cls(found[0][0], str(found[0][1]))


# --- .sops.yaml --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreationRule:
    """One entry of ``creation_rules``: which files, to which age recipients, which values."""

    path_regex: str = ""
    age: tuple[str, ...] = ()
    crypt: CryptRule | None = None
    mac_only_encrypted: bool = False
    other_keys: tuple[str, ...] = field(default=())  # pgp/kms/… that homeops cannot wrap to
    index: int = 0


@dataclass(frozen=True, slots=True)
class SopsConfig:
    path: Path
    rules: tuple[CreationRule, ...]

    def rule_for(self, file: Path) -> CreationRule:
        """The first rule whose ``path_regex`` matches ``file`` (relative to the config's directory)."""
        rel = relative_to_config(self.path, file)
        for rule in self.rules:
            if not rule.path_regex or compile_re2(rule.path_regex).search(rel):
                return rule
        raise SopsConfigError(
            f"{self.path}: no creation rule matches {rel}",
            hint="add a creation_rules entry whose path_regex matches it",
        )

    def matches(self, file: Path) -> bool:
        rel = relative_to_config(self.path, file)
        return any(not r.path_regex or compile_re2(r.path_regex).search(rel) for r in self.rules)


def relative_to_config(config: Path, file: Path) -> str:
    base = os.path.abspath(config.parent)
    target = os.path.abspath(file)
    if target.startswith(base + os.sep):
        return target[len(base) + 1 :]
    return target


_OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hckms")


def _recipients(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(v).strip() for v in items if str(v).strip())


def parse_config(path: Path, text: str) -> SopsConfig:
    """Parse ``.sops.yaml`` text. Errors name the file and the rule."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SopsConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict):
        raise SopsConfigError(f"{path}: expected a mapping with creation_rules")
    raw_rules = data.get("creation_rules")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise SopsConfigError(f"{path}: creation_rules must be a list")
    rules: list[CreationRule] = []
    for i, raw in enumerate(raw_rules):
        where = f"{path}: creation_rules[{i}]"
        if not isinstance(raw, dict):
            raise SopsConfigError(f"{where}: must be a mapping")
        age = list(_recipients(raw.get("age")))
        others = [k for k in _OTHER_KEY_TYPES if raw.get(k)]
        groups = raw.get("key_groups") or []
        if groups:
            if not isinstance(groups, list) or len(groups) > 1:
                raise SopsConfigError(
                    f"{where}: key_groups with more than one group (Shamir) is not supported by homeops",
                    hint="use one key group, or the sops binary",
                )
            group = groups[0] or {}
            age += _recipients(group.get("age"))
            others += [k for k in ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault", "hckms") if group.get(k)]
        path_regex = str(raw.get("path_regex") or "")
        try:
            if path_regex:
                compile_re2(path_regex)
            crypt = CryptRule.from_mapping(raw, where=where)
        except (re.error, ValueError, SopsFormatError) as exc:
            raise SopsConfigError(f"{where}: invalid regular expression ({exc})") from None
        rules.append(
            CreationRule(
                path_regex=path_regex,
                age=tuple(age),
                crypt=crypt,
                mac_only_encrypted=bool(raw.get("mac_only_encrypted", False)),
                other_keys=tuple(others),
                index=i,
            )
        )
    return SopsConfig(path=path, rules=tuple(rules))


def load_config(path: Path) -> SopsConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SopsConfigError(f"{path}: sops config not found", hint="create it or pass --config") from None
    except OSError as exc:
        raise SopsConfigError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_config(path, text)


def find_config(start: Path) -> Path | None:
    """``.sops.yaml`` in ``start`` or its parents (sops looks from the working directory upwards)."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".sops.yaml").is_file():
            return candidate / ".sops.yaml"
    return None
