"""The simulator's Go text/template interpreter against what Go (text/template + helmfile funcs) prints.

Expected outputs were produced with the real thing: py-go-template 1.0.0 (Go text/template with
helmfile's and sprig's functions compiled in), judged for the simulator and not used (see the module).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.sim.tools.gotemplate import Context, TemplateError, render

RELEASE = {"Release": {"Name": "cilium", "Namespace": "kube-system"}}


def test_the_real_home_ops_release_template(tmp_path: Path):
    (tmp_path / "apps" / "kube-system" / "cilium").mkdir(parents=True)
    (tmp_path / "apps" / "kube-system" / "cilium" / "oci.yaml").write_text(
        "spec:\n  url: oci://quay.io/cilium/charts/cilium\n  ref:\n    tag: 1.18.2\n"
    )
    (tmp_path / "tpl").mkdir()
    text = (
        '{{- $oci := fromYaml (readFile (printf "../apps/%s/%s/oci.yaml" .Release.Namespace .Release.Name)) -}}\n'
        "chart: {{ $oci.spec.url }}\nversion: {{ $oci.spec.ref.tag }}\n"
    )
    out = render(text, RELEASE, Context(str(tmp_path / "tpl"), {}))  # readFile: relative to the base folder
    assert out == "chart: oci://quay.io/cilium/charts/cilium\nversion: 1.18.2\n"
    wrapped = '{{ (fromYaml (tpl (readFile "./r.gotmpl") .)).version }}'
    (tmp_path / "tpl" / "r.gotmpl").write_text(text)
    assert render(wrapped, RELEASE, Context(str(tmp_path / "tpl"), {})) == "1.18.2"


def test_go_outputs_recorded_from_the_real_library(tmp_path: Path):
    ctx = Context(str(tmp_path), {"HOME": "/root"})
    # recorded: py-go-template render of the same text
    text = (
        't: {{ tpl "{{ .Release.Name }}" . }}\n'
        'r: {{ regexReplaceAll "a+" "baaac" "X" }} {{ regexSplit "," "a,b" -1 | toYaml }}\n'
        'd: {{ dict "a" 1 | toYaml }} {{ default "z" "" }} {{ index .Release "Name" }}\n'
        'e: {{ env "HOME" }}\n'
    )
    assert render(text, RELEASE, ctx) == "t: cilium\nr: bXc - a\n- b\n\nd: a: 1\n z cilium\ne: /root\n"


def test_control_flow_trimming_and_variables():
    ctx = Context(".", {})
    text = '{{- if eq .Release.Name "x" }}A{{ else if eq .Release.Name "cilium" }}B{{ else }}C{{ end -}}\n'
    assert render(text, RELEASE, ctx) == "B"
    text = "{{ range $i, $v := list 1 2 }}[{{$i}}={{$v}}]{{end}}"
    text += "{{ with .Release }}{{ .Name }}{{end}} {{ $x := 5 }}{{ $x }}"
    assert render(text, RELEASE, ctx) == "[0=1][1=2]cilium 5"
    assert render('{{ .Missing }}|{{ (dict "a" (dict "b" 3)).a.b }}', {}, ctx) == "<no value>|3"


def test_errors_read_as_go_reports_them():
    with pytest.raises(TemplateError) as info:
        render('{{ requiredEnv "CLUSTER" }}', RELEASE, Context(".", {}))
    assert "required env var `CLUSTER` is not set" in str(info.value)
    with pytest.raises(TemplateError, match='function "nope" not defined'):
        render("{{ nope 1 }}", {}, Context(".", {}))
    with pytest.raises(TemplateError, match="unexpected EOF"):
        render("{{ if true }}x", {}, Context(".", {}))
