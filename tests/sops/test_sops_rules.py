"""RE2 → Python translation, crypt rules, and .sops.yaml creation rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homeops import sops
from homeops.sops.rules import CryptRule, parse_config, translate_re2

BJW_S = "((?i)(pass|secret($|[^N])|key|token|^data$|^stringData))"


def test_mid_pattern_flag_is_scoped_to_its_group() -> None:
    with pytest.raises(re.error):
        re.compile(BJW_S)
    rx = re.compile(translate_re2(BJW_S))
    for key in ("POSTGRES_PASSWORD", "Secret", "SECRET_X", "api_KEY", "Token", "data", "stringData", "STRINGDATA"):
        assert rx.search(key), key
    for key in ("apiVersion", "kind", "metadata", "SECRETNAME", "database", "name"):
        assert not rx.search(key), key


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("a(?i)b", "aB", True),
        ("a(?i)b", "AB", False),  # the flag does not reach back
        ("(x(?i)y)z", "xYz", True),
        ("(x(?i)y)z", "xYZ", False),  # nor past its group
        (r"end\z", "the end", True),
        ("^kind$", "kind\n", False),  # RE2's $ is end of text only
        ("[[:digit:]]+x", "123x", True),
        ("[[:upper:]]", "abc", False),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        ("(?<n>ab)", "ab", True),
        ("(?i)^data$", "DATA", True),
        ("[]a]", "]", True),
    ],
)
def test_translation_cases(pattern: str, text: str, matches: bool) -> None:
    assert bool(re.search(translate_re2(pattern), text)) is matches


def test_rules_check_each_path_component() -> None:
    assert CryptRule().encrypts(["a", "b"]) and not CryptRule().encrypts(["a_unencrypted", "b"])
    enc_suffix = CryptRule("encrypted_suffix", "_secret")
    assert enc_suffix.encrypts(["x_secret", "y"]) and not enc_suffix.encrypts(["x"])
    regex = CryptRule("encrypted_regex", "^(data|stringData)$")
    assert regex.encrypts(["stringData", "password"]) and not regex.encrypts(["metadata", "name"])
    assert not regex.encrypts([])  # a top-level comment stays plain under encrypted_regex
    unenc = CryptRule("unencrypted_regex", "^(kind)$")
    assert not unenc.encrypts(["kind"]) and unenc.encrypts(["spec"])
    comment = CryptRule("encrypted_comment_regex", "sops:enc")
    assert comment.encrypts(["a"], ["sops:enc"]) and not comment.encrypts(["a"], ["other"])
    assert not comment.encrypts_comment("sops:enc", [], [])


def test_more_than_one_rule_is_an_error() -> None:
    with pytest.raises(sops.SopsConfigError, match="only one of"):
        CryptRule.from_mapping({"encrypted_regex": "a", "unencrypted_suffix": "_x"}, where="f")


def test_creation_rules_first_match_wins_relative_to_config(tmp_path: Path) -> None:
    cfg = tmp_path / ".sops.yaml"
    text = """
creation_rules:
  - path_regex: talos/.*\\.sops\\.ya?ml$
    age: age1aaa, age1bbb
  - path_regex: .*\\.sops\\.ya?ml$
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
    key_groups:
      - age:
          - age1ccc
  - path_regex: .*\\.pgp\\.yaml$
    pgp: ABCDEF
"""
    config = parse_config(cfg, text)
    first = config.rule_for(tmp_path / "talos" / "talsecret.sops.yaml")
    assert first.age == ("age1aaa", "age1bbb") and first.crypt is None and first.index == 0
    second = config.rule_for(tmp_path / "kubernetes" / "app" / "secret.sops.yaml")
    assert second.age == ("age1ccc",) and second.mac_only_encrypted and second.index == 1
    assert second.crypt == CryptRule("encrypted_regex", "^(data|stringData)$")
    assert config.rule_for(tmp_path / "x.pgp.yaml").other_keys == ("pgp",)
    with pytest.raises(sops.SopsConfigError, match=r"no creation rule matches notes\.txt"):
        config.rule_for(tmp_path / "notes.txt")
    assert not config.matches(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("creation_rules: {}", "creation_rules must be a list"),
        ("creation_rules:\n  - path_regex: '(('\n", "invalid regular expression"),
        ("creation_rules:\n  - key_groups: [{age: [a]}, {age: [b]}]\n", "Shamir"),
        ("[", "not valid YAML"),
    ],
)
def test_config_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(sops.SopsConfigError, match=re.escape(message)) as err:
        parse_config(tmp_path / ".sops.yaml", text)
    assert str(tmp_path / ".sops.yaml") in str(err.value) and err.value.exit_code == 61


def test_example_inventory_config_routes_talsecret_to_the_example_key() -> None:
    repo = Path(__file__).resolve().parents[2]
    config = sops.load_config(repo / "inventory" / ".sops.yaml")
    rule = config.rule_for(repo / "inventory" / "talos" / "talsecret.sops.yaml")
    assert rule.index == 0 and rule.age == ("age1der89ltz6c4p5svv6vs9f7uudmjm6l5dv26nelrl0fyfa44r8vusyjev48",)
