"""Regressions for the differences from Go sops (3.11) found by test_sops_interop.py, checked without
the binary. Each names the Go source it models (getsops/sops v3.11.0, go.yaml.in/yaml/v3 v3.0.4,
gopkg.in/ini.v1 v1.67.0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sops_helpers import AgeKey

from homeops import sops
from homeops.sops import api, core, crypto
from homeops.sops.errors import SopsFormatError
from homeops.sops.stores import format_for_path, store_for
from homeops.sops.stores.yaml_store import scalar_text
from homeops.sops.tree import Comment, Mapping, format_go_float


def _encrypt(tmp_path: Path, name: str, plain: bytes, key: AgeKey) -> Path:
    fmt = format_for_path(name)
    branches, _ = store_for(fmt).load(plain, file=name)
    out, _ = api.encrypt_branches(branches, fmt=fmt, recipients=(key.recipient,), rule=None)
    path = tmp_path / name
    path.write_bytes(out)
    return path


def _types(path: Path, key: AgeKey) -> dict[str, tuple[str, bytes]]:
    """Each top-level JSON value's ``type:`` tag and plaintext bytes, as Go's cipher sees them."""
    sf = api.load(path)
    data_key = core.data_key(sf.metadata, sops.load_keyring(age_key_file=key.file), file=str(path))
    out = {}
    for k, v in sf.branches[0]:
        plain, kind = crypto.decrypt_bytes(v, data_key, f"{k}:")
        out[k] = (kind, plain)
    return out


def test_json_numbers_are_float64_so_go_sops_can_decrypt_them(tmp_path: Path, age_key: AgeKey) -> None:
    """stores/json/store.go:104-168 reads numbers with dec.Token() (float64); aes/cipher.go:106-107
    decrypts type:int with strconv.Atoi, which fails beyond int64 (the Flux failure)."""
    path = _encrypt(tmp_path, "s.json", b'{"big": 12345678901234567890, "one": 1, "half": 1.5}\n', age_key)
    assert _types(path, age_key) == {
        "big": ("float", b"12345678901234567000"),
        "one": ("float", b"1"),
        "half": ("float", b"1.5"),
    }
    # what sops -d prints: json.Marshal of a float64
    assert api.decrypt_to_bytes(path, age_key_file=age_key.file) == (
        b'{\n\t"big": 12345678901234567000,\n\t"one": 1,\n\t"half": 1.5\n}\n'
    )


@pytest.mark.parametrize(
    ("number", "shown"),
    [("1", "1"), ("1.0", "1"), ("-0", "-0"), ("1e21", "1e+21"), ("1e20", "100000000000000000000"),
     ("1e-7", "1e-7"), ("0.000001", "0.000001"), ("1.5E-8", "1.5e-8"), ("9007199254740993", "9007199254740992")],
)  # fmt: skip
def test_json_floats_print_as_go_json_marshal(number: str, shown: str) -> None:
    """encoding/json floatEncoder: %f inside [1e-6, 1e21), else %e with e-07 shortened to e-7."""
    store = store_for("json")
    branches, _ = store.load(f'{{"n": {number}}}'.encode(), file="x.json")
    assert store.dump(branches, None) == f'{{\n\t"n": {shown}\n}}\n'.encode()


def test_json_strings_are_html_escaped_like_go() -> None:
    store = store_for("json")
    branches, _ = store.load('{"s": "<a>&\\u2028 ✓ \\u0001"}'.encode(), file="x.json")
    assert store.dump(branches, None) == '{\n\t"s": "\\u003ca\\u003e\\u0026\\u2028 ✓ \\u0001"\n}\n'.encode()


def test_yaml_quotes_what_yaml_1_1_readers_would_retype() -> None:
    """yaml.v3 encode.go:309-346: isOldBool/isBase60Float strings are double-quoted, keys included,
    so kubectl's YAML 1.1 parser reads "no" as the string it is."""
    out = store_for("yaml").dump([Mapping([("n", 1.5), ("y", "no"), ("t", "1:20"), ("ok", "fine")])], None)
    assert out == b'"n": 1.5\n"y": "no"\nt: "1:20"\nok: fine\n'
    assert yaml.safe_load(out) == {"n": 1.5, "y": "no", "t": "1:20", "ok": "fine"}


@pytest.mark.parametrize(
    ("value", "text"),
    [(" lead", "' lead'"), ("a: b", "'a: b'"), ("it's #1", "'it''s #1'"), ("it's", "it's"), ("#x", "'#x'"),
     ("🙂", '"\\U0001F642"'),
     ("bell\x07", '"bell\\a"'), ("del\x7f", '"del\\x7F"'), ("", '""'), ("<<", "!!merge <<"), ("123", '"123"'),
     ("tab\there", '"tab\\there"'), ("2024-01-01", '"2024-01-01"'), ("yes", '"yes"'), ("-", "'-'")],
)  # fmt: skip
def test_yaml_scalar_styles_follow_the_libyaml_emitter(value: str, text: str) -> None:
    """emitterc.go:1289-1441 (analysis) and :1031-1078 (plain → single → double)."""
    assert scalar_text(value) == text


def test_yaml_multi_line_and_long_keys_are_complex_keys() -> None:
    """emitterc.go:997-1029 check_simple_key: a key with a line break or over 128 bytes is written
    "? key" / ": value"."""
    dump = store_for("yaml").dump
    assert dump([Mapping([("a\nb", 1)])], None) == b"? |-\n    a\n    b\n: 1\n"
    assert dump([Mapping([("k" * 129, 1)])], None) == b"? " + b"k" * 129 + b"\n: 1\n"
    assert dump([Mapping([("k" * 128, 1)])], None) == b"k" * 128 + b": 1\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1e10, "1e+10"), (1234567.0, "1.234567e+06"), (123456.0, "123456"), (1e-5, "1e-05"),
     (0.0001, "0.0001"), (-0.0, "-0"), (float("inf"), ".inf"), (float("nan"), ".nan")],
)  # fmt: skip
def test_yaml_floats_are_formatted_g(value: float, text: str) -> None:
    """encode.go:391-408 FormatFloat(f, 'g', -1, 64); the MAC keeps 'f' (sops.go:965-988)."""
    assert scalar_text(value) == text
    assert format_go_float(1e10) == "10000000000"


def test_yaml_literal_blocks_get_indentation_and_chomping_indicators() -> None:
    """emitterc.go:1882-1922: a leading space or break needs |4; a lone or doubled final break |+."""
    dump = store_for("yaml").dump
    assert dump([Mapping([("a", "  x\ny\n")])], None) == b"a: |4\n      x\n    y\n"
    assert dump([Mapping([("a", "\n")])], None) == b"a: |4+\n\n"
    assert dump([Mapping([("a", "x\ny")])], None) == b"a: |-\n    x\n    y\n"
    assert dump([Mapping([("a", "x  \ny\n")])], None) == b'a: "x  \\ny\\n"\n'


def test_yaml_nesting_inside_sequence_items() -> None:
    """emitterc.go:228-255: inside a sequence item +2, else the next multiple of the indent."""
    tree = Mapping([("l", [Mapping([("k", Mapping([("d", 1)])), ("s", ["x"])])])])
    assert store_for("yaml").dump([tree], None) == b"l:\n    - k:\n        d: 1\n      s:\n        - x\n"


def test_yaml_dedented_trailing_comment_is_a_foot_of_the_deepest_block() -> None:
    """scannerc.go:2973-2986: a comment followed by a dedented line at another column is a foot of
    the content before it, so sops keeps it (and encrypts it, AAD a:b:) inside b."""
    branches, _ = store_for("yaml").load(b"a:\n    b:\n        x: 1\n  # foot\nc: 2\n", file="x")
    b = dict(branches[0])["a"][0][1]
    assert b == Mapping([("x", 1), (Comment(" foot"), None)])
    # a comment directly above a key at its column stays that key's head comment
    branches, _ = store_for("yaml").load(b"a:\n    b: 1\n# head of c\nc: 2\n", file="x")
    assert branches[0][1] == (Comment(" head of c"), None)


def test_yaml_line_comment_of_a_sequence_item_comes_before_it() -> None:
    """stores/yaml/store.go:70-78: an item's line comment is appended before the item."""
    branches, _ = store_for("yaml").load(b"l:\n    - 1 # one\n    - 2\n", file="x")
    assert branches[0][0][1] == [Comment(" one"), 1, 2]


def test_go_list_comment_items_decrypt_outside_the_mac(tmp_path: Path, age_key: AgeKey) -> None:
    """Go sops writes an encrypted comment inside a list as an "- ENC[…type:comment]" item; Tree.Decrypt
    turns it back into a comment and leaves it out of the MAC (sops.go:584-650)."""
    path = _encrypt(tmp_path, "s.yaml", b"l:\n    - a\n    # note\n    - b\n", age_key)
    text = path.read_text()
    assert "    #ENC[" in text
    path.write_text(text.replace("    #ENC[", "    - ENC["))
    assert api.decrypt_to_bytes(path, age_key_file=age_key.file) == b"l:\n    - a\n    # note\n    - b\n"


def test_integers_beyond_int64_are_refused_like_go_sops(tmp_path: Path, age_key: AgeKey) -> None:
    """yaml.v3 resolve.go reads 2^63…2^64-1 as uint64, which sops cannot walk (sops.go:338-365)."""
    plain = tmp_path / "s.yaml"
    plain.write_text("big: 9223372036854775808\nok: 9223372036854775807\n")
    with pytest.raises(SopsFormatError, match=r"big .* outside the int64 range"):
        sops.encrypt_file(plain, config=_config(tmp_path, age_key))


def _config(tmp_path: Path, key: AgeKey) -> Path:
    cfg = tmp_path / ".sops.yaml"
    cfg.write_text(f"creation_rules:\n  - age: {key.recipient}\n")
    return cfg


def test_old_homeops_int_beyond_int64_is_flagged_and_rotate_fixes_it(
    tmp_path: Path, age_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files written before this fix hold type:int 12345678901234567890: sops.check names them, and
    sops.rotate stores the number as Go sops would (a float64)."""
    branches = [Mapping([("big", 12345678901234567890)])]
    with monkeypatch.context() as m:
        m.setattr(core, "check_go_leaf", lambda *a, **k: None)
        out, _ = api.encrypt_branches(branches, fmt="json", recipients=(age_key.recipient,), rule=None)
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / "old.sops.json"
    path.write_bytes(out)
    assert "type:int]" in out.decode()
    config = sops.load_config(_config(repo, age_key))
    _, problems = sops.check_tree(repo, config, age_key_file=age_key.file)
    assert [p.problem.split(":")[0] for p in problems] == ["integer beyond int64 stored as type"]
    sops.rotate_file(path, age_key_file=age_key.file)
    assert sops.check_tree(repo, config, age_key_file=age_key.file)[1] == []
    assert json.loads(api.decrypt_to_bytes(path, age_key_file=age_key.file)) == {"big": 12345678901234567000}


def test_ini_keeps_repeated_sections_and_inline_comments() -> None:
    """go-ini with AllowNonUniqueSections (stores/ini/store.go:88); readValue cuts an inline comment
    into the key's comment (parser.go:271-289), which sops stores after the key."""
    store = store_for("ini")
    branches, _ = store.load(b"[s]\na = 1 ; why\n[s]\nb = 2\n", file="x.ini")
    assert branches[0] == Mapping(
        [("DEFAULT", Mapping()), ("s", Mapping([("a", "1"), (Comment("why"), None)])), ("s", Mapping([("b", "2")]))]
    )
    assert store.dump(branches, None) == b"[s]\n; why\na = 1\n\n[s]\nb = 2\n"


def test_ini_aligns_by_bytes_and_quotes_like_go_ini() -> None:
    """file.go:390-470: alignment by len() in bytes; ``\\n``/backtick → triple quotes, ``#;`` → backticks."""
    tree = Mapping([("s", Mapping([("é", "a;b"), ("a", " x"), ("c", "x`y")]))])
    assert store_for("ini").dump([Mapping([("DEFAULT", Mapping()), *tree])], None) == (
        '[s]\né = `a;b`\na  = " x"\nc  = """x`y"""\n'.encode()
    )


def test_binary_plaintext_that_looks_like_an_envelope_is_encrypted(tmp_path: Path, age_key: AgeKey) -> None:
    """BinaryStore.LoadPlainFile wraps any bytes (stores/json/store.go:57-66)."""
    plain = tmp_path / "s.toml"
    plain.write_bytes(b'{"data": "x", "sops": 1}\n')
    out = sops.encrypt_file(plain, config=_config(tmp_path, age_key))
    enc = tmp_path / "s.enc.toml"
    enc.write_text(out)
    assert api.decrypt_to_bytes(enc, age_key_file=age_key.file) == plain.read_bytes()


def test_yaml_literal_starting_with_a_tab_prints_null_as_sops_does() -> None:
    """sops ignores Node.Encode's error (stores/yaml/store.go:199-202): the literal block yaml.v3 emits
    for "\\tx\\ny" has no indentation indicator and fails to re-parse ("found a tab character where
    an indentation space is expected"), so sops -d (and Flux) print null."""
    dump = store_for("yaml").dump
    assert dump([Mapping([("a", "\tx\ny"), ("b", "x\n\ty")])], None) == b"a: null\nb: |-\n    x\n    \ty\n"


def test_huge_float_literal_stays_a_string() -> None:
    """strconv.ParseFloat("7E5553") is a range error, so yaml.v3 keeps the plain text (resolve.go:204-209)."""
    branches, _ = store_for("yaml").load(b"a: 7E5553\nb: 1e308\n", file="x")
    assert branches[0] == Mapping([("a", "7E5553"), ("b", 1e308)])


def test_yaml_line_numbers_count_unicode_line_separators() -> None:
    """yaml.v3 single-quotes a string holding U+2028 and writes it raw; the reader counts it as a
    line break, so a '#' on a later line must not be taken for a comment."""
    text = "a: 'x\u2028y'\n? \"k #1\\N\"\n: v\n".encode()
    branches, _ = store_for("yaml").load(text, file="x")
    assert [k for k, _ in branches[0]] == ["a", "k #1\x85"]


def test_ini_quoted_value_continues_past_a_quote_before_a_backslash() -> None:
    """go-ini v1.67.1 (PR #373), the version inside the sops 3.11 binary: a closing quote followed by
    a trailing backslash does not end a multi-line value."""
    branches, _ = store_for("ini").load(b'a = """x\ny"""\\\nb = """z"""\n', file="x.ini")
    assert branches[0][0][1] == Mapping([("a", 'x\ny"""\\\nb = """z')])


def test_yaml_dedented_foot_at_the_end_hangs_on_the_block_at_its_column() -> None:
    """scannerc.go:2932-2956: at the end of the document a dedented foot is "unrelated to the prior
    token"; sops encrypts it in the block that starts exactly at its column (here k1's, AAD k1:), or
    in the document when none does. (Go sops then cannot decrypt its own comment in the first case:
    reading its output it hangs it one level deeper.)"""
    load = store_for("yaml").load
    branches, _ = load(b"k1:\n    k2:\n          n2: 1.0\n    # foot9\n", file="x")
    assert branches[0][0][1] == Mapping([("k2", Mapping([("n2", 1.0)])), (Comment(" foot9"), None)])
    branches, _ = load(b"a:\n    b:\n        c: 1\n      # foot3\n", file="x")
    assert branches[0][1] == (Comment(" foot3"), None)


def test_decrypt_file_gives_json_numbers_as_sops_prints_them(tmp_path: Path, age_key: AgeKey) -> None:
    """A whole float64 prints without a fraction (encoding/json), so reading sops -d gives an int:
    consumers such as the talhelper env reader get "6443", not "6443.0"."""
    path = _encrypt(tmp_path, "s.json", b'{"port": 6443, "ratio": 0.5, "big": 1e21}\n', age_key)
    data = sops.decrypt_file(path, age_key_file=age_key.file)
    assert data == {"port": 6443, "ratio": 0.5, "big": 1e21}
    assert type(data["port"]) is int and type(data["big"]) is float
    assert data == json.loads(api.decrypt_to_bytes(path, age_key_file=age_key.file))
