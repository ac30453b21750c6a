"""The loader reads what Flux (go-yaml) reads, where PyYAML's safe loader refuses, and keeps lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homeops.lint.yamlload import Map, ParseError, load_documents
from tests.lint.lint_helpers import BJWS, BUROA


def docs(text: str) -> list[object]:
    loaded = load_documents(text)
    assert not isinstance(loaded, ParseError), loaded
    return [d.data for d in loaded]


def test_an_anchor_defined_twice_takes_the_later_value() -> None:
    text = "a: &port 80\nb: *port\nc: &port 443\nd: *port\n"
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    assert docs(text) == [{"a": 80, "b": 80, "c": 443, "d": 443}]


def test_custom_tags_and_a_bare_equals_sign_load_as_plain_values() -> None:
    text = "api_key: !env_var SONARR_API_KEY\nlist: !seq [1, 2]\nmap: !m {k: v}\nmatchType: =\n"
    for bad in ("api_key: !env_var X\n", "matchType: =\n"):
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(bad)
    assert docs(text) == [{"api_key": "SONARR_API_KEY", "list": [1, 2], "map": {"k": "v"}, "matchType": "="}]


def test_several_documents_a_comment_before_the_separator_and_empty_documents() -> None:
    text = "# yaml-language-server: $schema=x\n---\na: 1\n---\n# only a comment\n---\nb: 2\n"
    loaded = load_documents(text)
    assert not isinstance(loaded, ParseError)
    assert [d.data for d in loaded] == [{"a": 1}, {"b": 2}]
    assert [d.start_line for d in loaded] == [3, 7]


def test_line_numbers_of_keys_and_items_survive_merge_keys_and_aliases() -> None:
    text = "---\nbase: &b\n  x: 1\nspec:\n  <<: *b\n  list:\n    - one\n    - two\n"
    (data,) = docs(text)
    assert isinstance(data, Map)
    spec = data["spec"]
    assert spec == {"x": 1, "list": ["one", "two"]}
    assert spec.line == 5 and spec.line_of("list") == 6
    assert spec["list"].line_of(1) == 8


def test_a_real_syntax_error_is_a_value_with_the_line_not_an_exception() -> None:
    loaded = load_documents("a: 1\nb: [unclosed\nc: 2\n")
    assert isinstance(loaded, ParseError)
    assert loaded.line >= 2 and loaded.message


@pytest.mark.parametrize("text", ["\x00", "a: b: c", "- a\nb: 1", "key: 'open", "\t- x"])
def test_garbage_never_raises(text: str) -> None:
    loaded = load_documents(text)
    assert isinstance(loaded, (list, ParseError))


@pytest.mark.parametrize("root", [BJWS, BUROA], ids=["bjw-s", "buroa"])
def test_every_real_file_loads(root: Path) -> None:
    files = sorted(root.rglob("*.y*ml"))
    assert len(files) > 300
    failed = [f for f in files if isinstance(load_documents(f.read_text(encoding="utf-8")), ParseError)]
    assert failed == []


def test_a_duplicate_key_is_rejected_like_kustomize_does_but_merge_keys_may_be_overridden() -> None:
    loaded = load_documents("a: 1\nb: 2\na: 3\n")
    assert loaded == ParseError(3, "mapping key 'a' already defined at line 1")
    assert docs("x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  a: 5\n")[0] == {"x": {"a": 1, "b": 2}, "y": {"a": 5, "b": 2}}


def test_an_app_config_fed_to_configmapgenerator_is_skipped_even_if_it_does_not_parse(tmp_path: Path) -> None:
    from homeops.lint.engine import lint_repo
    from tests.lint.lint_helpers import write

    write(
        tmp_path,
        "app/kustomization.yaml",
        "---\nconfigMapGenerator:\n  - name: c\n    files:\n      - cfg=config.yaml\n",
    )
    write(tmp_path, "app/config.yaml", "key: 1\nkey: 2\n")
    write(tmp_path, "app/broken.yaml", "---\nkey: 1\nkey: 2\n")
    result = lint_repo(tmp_path)
    status = {f.path: (f.status, f.reason) for f in result.files}
    assert status["app/config.yaml"][0] == "skipped" and "configMapGenerator input" in status["app/config.yaml"][1]
    assert status["app/broken.yaml"][0] == "parse-error"
    assert [(f.path, f.rule) for f in result.findings] == [("app/broken.yaml", "parse-error")]
