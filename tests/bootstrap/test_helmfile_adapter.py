"""helmfile adapter: the summary as helmfile really logs it, the bootstrap helmfile's order and files.

Real behaviour read from helmfile/helmfile: ``cmd/root.go`` (logger on os.Stderr),
``pkg/state/state.go DisplayAffectedReleases`` and ``pkg/kubedog/printer.go`` (v1.6.0 ``HeaderDivider``,
v1.7.1+ ``HeaderDividerCentered``), ``pkg/app/errors.go`` (no matching release, exit 3).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.adapters import helmfile
from homeops.errors import CommandError, ConfigError
from homeops.runners import FakeRunner

HELMFILE = """\
---
repositories:
  - name: cilium
    url: https://helm.cilium.io
helmDefaults:
  timeout: 600
  wait: true
releases:
  - name: flux-instance
    namespace: flux-system
    chart: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance
    values: ['./values/flux-instance.yaml']
    needs: ['flux-system/flux-operator']
  - name: cilium
    namespace: kube-system
    chart: cilium/cilium
    version: 1.18.2
    values: ['./values/cilium.yaml']
    hooks:
      - events: ['postsync']
        command: kubectl
  - name: flux-operator
    namespace: flux-system
    chart: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator
    needs: ['kube-system/coredns']
    timeout: 120
  - name: coredns
    namespace: kube-system
    chart: ./charts/coredns
    needs: ['cilium']
"""


def test_summary_on_stdout_is_not_read_only_stderr_counts():
    # the bug of issue 11 finding 4: the adapter read stdout, where helmfile never prints the summary
    summary = (
        "\nUPDATED RELEASES:\nNAME     NAMESPACE     CHART           VERSION   DURATION\n"
        "cilium   kube-system   cilium/cilium   1.18.2         2s\n"
    )
    result = helmfile.run_sync(FakeRunner().on("sync", (0, "", summary)), "h.yaml")
    assert [(r.name, r.namespace, r.chart, r.version, r.duration) for r in result.updated] == [
        ("cilium", "kube-system", "cilium/cilium", "1.18.2", "2s")
    ]


@pytest.mark.parametrize(
    "header",
    [
        "UPDATED RELEASES:",  # v0.169 – v1.5.x
        "========== Updated Releases ==========",  # v1.6.0 – v1.7.0
        "\x1b[1m\x1b[34m========== Updated Releases ==========\x1b[0m",  # v1.6 on a colour terminal / default
        "================== Updated Releases ===================",  # v1.7.1+: centered on the table width
    ],
)
def test_every_eras_section_header(header: str):
    text = (
        f"Upgrading release=x, chart=./x, namespace=\n\n{header}\n"
        "NAME   NAMESPACE   CHART             VERSION   DURATION\n"
        "baz                stable/mychart3   3.1.0           0s\n"
        "foo                stable/mychart1                   0s\n\n"
    )
    result = helmfile.parse_sync(text)
    assert [(r.name, r.namespace, r.chart, r.version) for r in result.updated] == [
        ("baz", "", "stable/mychart3", "3.1.0"),
        ("foo", "", "stable/mychart1", ""),
    ]
    assert result.ok


def test_failed_and_failed_to_delete_sections_make_the_sync_not_ok():
    text = (
        "========== Failed Releases ==========\nNAME     NAMESPACE     CHART           VERSION   DURATION\n"
        "cilium   kube-system   cilium/cilium   1.18.2        5m0s\n\n"
    )
    result = helmfile.parse_sync(text)
    assert not result.ok and result.failed[0].duration == "5m0s"


def test_selector_matching_nothing_is_exit_3_with_a_hint():
    err = (
        "err: no releases found that matches specified selector(name=nope) and environment(default), in any helmfile\n"
    )
    with pytest.raises(CommandError) as info:
        helmfile.run_sync(FakeRunner().on("sync", (3, "", err)), "h.yaml", selectors=["name=nope"])
    assert "exit 3" in str(info.value) and "helmfile list" in str(info.value)


def test_argv_carries_the_kubeconfig_before_the_subcommand():
    argv = helmfile.sync("b/h.yaml", selectors=[helmfile.release_selector("cilium")], kubeconfig="/inv/kubeconfig")
    assert argv == [
        "helmfile", "--file", "b/h.yaml", "--selector", "name=cilium", "--kubeconfig", "/inv/kubeconfig",
        "sync", "--hide-notes",
    ]  # fmt: skip
    assert helmfile.template("h.yaml", include_crds=True)[-2:] == ["template", "--include-crds"]
    assert helmfile.list_releases("h.yaml")[-4:] == ["list", "--skip-charts", "--output", "json"]


def test_needs_order_and_timeouts(tmp_path: Path):
    spec = helmfile.parse_helmfile(HELMFILE, str(tmp_path / "helmfile.yaml"))
    assert [r.name for r in helmfile.sync_order(spec)] == ["cilium", "coredns", "flux-operator", "flux-instance"]
    by_name = {r.name: r for r in spec.releases}
    assert by_name["flux-operator"].timeout == 120 and spec.default_timeout == 600
    assert by_name["cilium"].hooks == ("postsync",)


def test_missing_chart_values_and_repository_are_named(tmp_path: Path):
    path = tmp_path / "helmfile.yaml"
    path.write_text(HELMFILE.replace("chart: cilium/cilium", "chart: nope/cilium"))
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "cilium.yaml").write_text("{}\n")
    problems = helmfile.missing_files(helmfile.load_helmfile(path))
    assert any("release flux-instance: values file ./values/flux-instance.yaml not found" in p for p in problems)
    assert any("release coredns: chart ./charts/coredns not found" in p for p in problems)
    assert any("release cilium: chart nope/cilium names repository 'nope'" in p for p in problems)
    assert all(str(path) in p for p in problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("releases:\n  - name: a\n    chart: x/a\n    needs: [b]\n", "release a needs 'b'"),
        (
            "releases:\n  - name: a\n    chart: ./a\n    needs: [b]\n  - name: b\n    chart: ./b\n    needs: [a]\n",
            "cycle: a → b → a",
        ),
        ("releases:\n  - name: a\n", "release a has no chart"),
        ("repositories: []\n", "has no releases"),
    ],
)
def test_bad_helmfiles_are_refused_naming_the_file(text: str, message: str, tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        helmfile.parse_helmfile(text, str(tmp_path / "hf.yaml"))
    assert message in str(info.value) and "hf.yaml" in str(info.value)


def test_a_missing_helmfile_is_refused_naming_it(tmp_path: Path):
    with pytest.raises(ConfigError, match="bootstrap helmfile not found"):
        helmfile.load_helmfile(tmp_path / "nope.yaml")


def test_crds_only_keeps_the_crds_as_a_stream():
    text = (
        "---\n# Source: cert-manager/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n"
        "---\n# Source: cert-manager/crds/c.yaml\napiVersion: apiextensions.k8s.io/v1\n"
        "kind: CustomResourceDefinition\nmetadata:\n  name: certificates.cert-manager.io\n"
    )
    manifests, stream = helmfile.crds_only(text)
    assert [m.name for m in manifests] == ["certificates.cert-manager.io"]
    assert "ServiceAccount" not in stream and stream.startswith("---\n# Source: cert-manager/crds/c.yaml")


def test_parse_list_json():
    out = (
        '[{"name":"cilium","namespace":"kube-system","enabled":true,"installed":true,"labels":"",'
        '"chart":"cilium/cilium","version":"1.18.2"}]'
    )
    [release] = helmfile.parse_list(out + "\n")
    assert (release.name, release.namespace, release.installed) == ("cilium", "kube-system", True)
