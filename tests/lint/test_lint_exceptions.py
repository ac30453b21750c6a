"""Exceptions where users expect them: inline ignore comments and the lint: section of homeops.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.lint.config import load_config, parse_section
from homeops.lint.engine import lint_repo
from tests.lint.lint_helpers import write

SECRET = "---\napiVersion: v1\nkind: Secret{comment}\nmetadata:\n  name: s\nstringData:\n  token: hunter2\n"
TWO_LB = """---
# {doc_comment}
apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: b
spec:
  type: LoadBalancer
"""


def rules_found(root: Path, **kwargs: object) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.rule) for f in lint_repo(root, **kwargs).findings]  # type: ignore[arg-type]


def test_inline_ignore_on_the_line_silences_only_that_rule_there(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SECRET.format(comment="  # homeops: ignore[no-raw-secret] bootstrap token, rotated"))
    write(tmp_path, "b.yaml", SECRET.format(comment="  # homeops: ignore[no-raw-configmap] wrong rule"))
    result = lint_repo(tmp_path)
    assert [(f.path, f.rule) for f in result.findings] == [("b.yaml", "no-raw-secret")]
    assert result.suppressed == 1


def test_inline_ignore_on_its_own_line_covers_its_document_only(tmp_path: Path) -> None:
    write(tmp_path, "svc.yaml", TWO_LB.format(doc_comment="homeops: ignore[no-loadbalancer] DLNA needs L2"))
    assert rules_found(tmp_path) == [("svc.yaml", 15, "no-loadbalancer")]


def test_lint_section_disables_rules_and_excepts_paths_with_a_reason(tmp_path: Path) -> None:
    write(tmp_path, "apps/a/svc.yaml", TWO_LB.format(doc_comment="nothing"))
    write(tmp_path, "apps/b/secret.yaml", SECRET.format(comment=""))
    write(tmp_path, "apps/b/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    config = parse_section(
        {
            "disable": ["yaml-header"],
            "exceptions": [{"path": "apps/a/**", "rules": ["no-loadbalancer"], "reason": "L2 announcements"}],
        },
        "homeops.yaml",
    )
    assert rules_found(tmp_path, config=config) == [
        ("apps/b/cm.yaml", 2, "no-raw-configmap"),
        ("apps/b/secret.yaml", 3, "no-raw-secret"),
    ]


def test_lint_section_is_read_from_homeops_yaml(tmp_path: Path) -> None:
    manifest = write(tmp_path, "homeops.yaml", "cluster: {name: x}\nlint:\n  disable: [rootless]\n")
    assert load_config(manifest).disabled == {"rootless"}
    assert load_config(tmp_path / "missing.yaml").disabled == frozenset()


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"disabled": ["rootless"]}, "unknown key 'disabled'"),
        ({"disable": ["no-such-rule"]}, "unknown rule 'no-such-rule'"),
        ({"disable": "rootless"}, "lint.disable: must be a list"),
        ({"exceptions": [{"path": "a", "rules": ["rootless"]}]}, "needs a 'reason'"),
        ({"exceptions": [{"path": "a", "rules": ["rootless"], "reason": "x", "until": 1}]}, "unknown key 'until'"),
        ({"exceptions": [{"rules": ["rootless"], "reason": "x"}]}, "needs a 'path'"),
        ({"exceptions": {"path": "a"}}, "must be a list"),
        (["rootless"], "must be a mapping"),
    ],
)
def test_a_bad_lint_section_is_a_one_line_error(section: object, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_section(section, "inventory/homeops.yaml")
    message = str(info.value)
    assert words in message and "\n" not in message and message.startswith("inventory/homeops.yaml")


@pytest.mark.parametrize(
    ("comment", "words"),
    [
        ("  # homeops: ignore[no-raw-secrets] bootstrap token", "unknown rule 'no-raw-secrets'"),
        ("  # homeops: ignore[no-raw-secret]", "gives no reason"),
        ("  # homeops: ignore[no-raw-secret]   ", "gives no reason"),
        ("  # homeops: ignore[] bootstrap token", "names no rule"),
        ("  # homeops: ignore[no-raw-secret,bad-ignore] token", "unknown rule 'bad-ignore'"),
    ],
)
def test_a_bad_inline_ignore_is_a_finding_and_silences_nothing(tmp_path: Path, comment: str, words: str) -> None:
    write(tmp_path, "a.yaml", SECRET.format(comment=comment))
    result = lint_repo(tmp_path)
    assert [(f.path, f.line, f.rule) for f in result.findings] == [
        ("a.yaml", 3, "bad-ignore"),
        ("a.yaml", 3, "no-raw-secret"),  # still reported: the comment silences nothing
    ]
    assert words in result.findings[0].message and "silences nothing" in result.findings[0].message
    assert result.suppressed == 0


def test_a_bad_ignore_is_reported_whatever_rules_and_config_say(tmp_path: Path) -> None:
    write(tmp_path, "svc.yaml", TWO_LB.format(doc_comment="homeops: ignore[no-loadbalancr] DLNA needs L2"))
    config = parse_section({"disable": ["no-loadbalancer"]}, "homeops.yaml")
    findings = lint_repo(tmp_path, rules=["pinned-image"], config=config).findings
    assert [(f.line, f.rule) for f in findings] == [(2, "bad-ignore")]
    assert "did you mean 'no-loadbalancer'?" in findings[0].message
