"""The fake helmfile and the adapter agree with each other *and* with helmfile's source, per version."""

from __future__ import annotations

import pytest

from homeops.adapters import helmfile

RELEASES = (
    "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    version: 1.18.2\n"
    "  - name: coredns\n    namespace: kube-system\n    chart: coredns/coredns\n    version: 1.44.3\n"
    "    needs: [kube-system/cilium]\n"
)


@pytest.mark.parametrize(
    ("version", "header"),
    [
        ("v0.169.2", "UPDATED RELEASES:"),
        ("v1.5.5", "UPDATED RELEASES:"),
        ("v1.6.0", "\x1b[1m\x1b[34m========== Updated Releases ==========\x1b[0m"),
        # v1.7.1+: centered over the table, 60 columns wide (7+11+15+7+8 plus 4 separators of 3)
        ("v1.7.4", "\x1b[1m\x1b[34m" + "=" * 21 + " Updated Releases " + "=" * 21 + "\x1b[0m"),
    ],
)
def test_fake_helmfile_logs_the_summary_on_stderr_per_version_and_the_adapter_reads_it(sim, version, header):
    with sim.mutate() as state:
        state["config"]["helmfile_version"] = version
    (sim.dir / "helmfile.yaml").write_text(RELEASES)
    code, out, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync", "--hide-notes")
    assert code == 0 and out == ""
    assert f"\n\n{header}\n" in err
    if version == "v1.7.4":
        table = err.split(header + "\n", 1)[1].strip("\n").splitlines()
        assert max(len(line) for line in table) == 60
    result = helmfile.parse_sync(err)
    assert [(r.name, r.version) for r in result.updated] == [("cilium", "1.18.2"), ("coredns", "1.44.3")]


def test_no_color_and_quiet(sim):
    with sim.mutate() as state:
        state["config"]["helmfile_version"] = "v1.7.4"
    (sim.dir / "helmfile.yaml").write_text(RELEASES)
    _, _, err = sim.run("helmfile", "--file", "helmfile.yaml", "--no-color", "sync")
    assert "\x1b[" not in err and "= Updated Releases =" in err
    _, _, err = sim.run("helmfile", "--file", "helmfile.yaml", "--quiet", "sync")
    assert err == ""  # --quiet is log level warn: the info summary is gone too


def test_selector_matching_nothing_exits_3(sim):
    (sim.dir / "helmfile.yaml").write_text(RELEASES)
    code, _, err = sim.run("helmfile", "--file", "helmfile.yaml", "--selector", "name=nope", "sync")
    assert code == 3 and err.startswith(
        "err: no releases found that matches specified selector(name=nope) and environment(default), in any helmfile"
    )


def test_list_json_and_template_crds_through_the_adapter(sim):
    (sim.dir / "helmfile.yaml").write_text(
        RELEASES + "  - name: cert-manager\n    namespace: cert-manager\n    chart: jetstack/cert-manager\n"
    )
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "list", "--skip-charts", "--output", "json")
    assert code == 0 and [r.name for r in helmfile.parse_list(out)] == ["cilium", "coredns", "cert-manager"]
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "template", "--include-crds")
    manifests, _ = helmfile.crds_only(out)
    assert code == 0 and "certificates.cert-manager.io" in [m.name for m in manifests]
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "template")
    # cert-manager renders its CRDs from templates/ (crds.enabled), so they come without --include-crds too
    assert "certificates.cert-manager.io" in [m.name for m in helmfile.crds_only(out)[0]]
    (sim.dir / "helmfile.yaml").write_text(
        RELEASES + "  - name: kube-prometheus-stack\n    namespace: observability\n"
        "    chart: prometheus-community/kube-prometheus-stack\n"
    )
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "template")
    assert code == 0 and helmfile.crds_only(out)[0] == []  # a chart's crds/ folder only with --include-crds
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "template", "--include-crds")
    assert "servicemonitors.monitoring.coreos.com" in [m.name for m in helmfile.crds_only(out)[0]]
