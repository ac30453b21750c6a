"""``${VAR}`` substitution with a8m/envsubst semantics, comment stripping and talenv parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeops.inventory import envsubst


def test_plain_and_braced() -> None:
    out, missing = envsubst.substitute("a: ${X} b: $Y c: $$Z d: ${X}x", {"X": "1", "Y": "2"})
    assert out == "a: 1 b: 2 c: $Z d: 1x"
    assert missing == ()


def test_talhelper_envsubst_test_vector() -> None:
    # pkg/substitute/envsubst_test.go in talhelper.
    env = {"env1": "value1", "env2": "true", "env3": "123", "default": "default value"}
    text = 'a: ${env1}\nb: "${env2:+$default}"\nc: "${env3-$default}"\nd: ${env4:=$default}\n'
    out, missing = envsubst.substitute(text, env)
    assert out == 'a: value1\nb: "default value"\nc: "123"\nd: default value\n'
    assert missing == ()
    assert env["env4"] == "default value"  # := assigns


@pytest.mark.parametrize(
    ("expr", "env", "expected"),
    [
        ("${A-d}", {}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A:-d}", {"A": "v"}, "v"),
        ("${A+alt}", {"A": ""}, "alt"),
        ("${A:+alt}", {"A": ""}, ""),
        ("${A:+alt}", {}, ""),
        ("${A=d}", {}, "d"),
    ],
)
def test_operators(expr: str, env: dict[str, str], expected: str) -> None:
    out, missing = envsubst.substitute(expr, env)
    assert out == expected
    assert missing == ()


def test_unset_and_empty_are_missing_like_restricted_mode() -> None:
    out, missing = envsubst.substitute("h: node.${DOMAIN} e: ${EMPTY} again ${DOMAIN}", {"EMPTY": ""})
    assert missing == ("DOMAIN", "EMPTY")
    assert out == "h: node.${DOMAIN} e: ${EMPTY} again ${DOMAIN}"  # left as written by default


def test_markers_survive_and_restore() -> None:
    out, missing = envsubst.substitute("x.${DOMAIN_NAME_}", {}, on_missing=envsubst.marker)
    assert missing == ("DOMAIN_NAME_",)
    assert "${" not in out
    assert envsubst.unresolved_names(out) == ("DOMAIN_NAME_",)
    assert envsubst.restore_markers(out) == "x.${DOMAIN_NAME_}"


def test_not_variables() -> None:
    text = "cost: $5 ${} ${1x} price$ $"
    out, missing = envsubst.substitute(text, {})
    assert out == text
    assert missing == ()


def test_strip_comments_keeps_values_and_line_numbers() -> None:
    text = (
        "# yaml-language-server: $schema=x\n"
        "a: 1 # the ${UNSET} comment\n"
        "url: https://x/#/y\n"
        'q: "keep # this"\n'
        "  - # 2.5G\n"
        "    interface: bond0\n"
    )
    out = envsubst.strip_comments(text)
    assert out.split("\n") == ["", "a: 1", "url: https://x/#/y", 'q: "keep # this"', "  -", "    interface: bond0", ""]
    assert envsubst.references(out) == ()


def test_parse_env_yaml_keeps_scalar_text() -> None:
    text = "---\n# renovate: x\nTALOS_VERSION: v1.9.4\nN: 123\nB: true\nQ: '1.10'\n"
    assert envsubst.parse_env_text(text) == {"TALOS_VERSION": "v1.9.4", "N": "123", "B": "true", "Q": "1.10"}


def test_parse_env_dotenv() -> None:
    text = 'export A=1\nB="two words"\n# c\nC=x # comment\n'
    assert envsubst.parse_env_text(text) == {"A": "1", "B": "two words", "C": "x"}


def test_parse_env_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="line 1"):
        envsubst.parse_env_text("just some words\n")


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_values = st.text(alphabet=st.characters(blacklist_characters="$", blacklist_categories=("Cs",)), max_size=12)


@given(st.dictionaries(_names, _values.filter(bool), max_size=4), st.lists(_names, max_size=6))
def test_every_set_variable_substitutes(env: dict[str, str], used: list[str]) -> None:
    text = " ".join("${" + n + "}" for n in used)
    out, missing = envsubst.substitute(text, env)
    assert set(missing) == {n for n in used if n not in env}
    expected = " ".join(env.get(n, "${" + n + "}") for n in used)
    assert out == expected
