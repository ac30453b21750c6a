"""repo.lint judges what Flux deploys (issue 21): the effective Flux Kustomizations, only files
something deploys, the blind spots of the first version, the new rules, and the output formats.
Each test failed on the linter before issue 21."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from homeops.lint.cli import run_lint
from homeops.lint.engine import lint_repo
from homeops.lint.findings import RULES, SEVERITY
from tests.lint.lint_helpers import ROOT_KS, kustomization, write

APP_KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
spec:
  path: ./kubernetes/apps/default/{name}/app
  sourceRef: {{kind: GitRepository, name: flux-system}}
{extra}"""
POD = """
  template:
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 1000}}
      containers:
        - name: app
          image: {image}
          securityContext: {{capabilities: {{drop: [ALL]}}}}
"""
DEPLOY = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:" + POD


def app(root: Path, name: str, *files: tuple[str, str], ks_extra: str = "  targetNamespace: default\n") -> None:
    write(root, f"kubernetes/apps/default/{name}/ks.yaml", APP_KS.format(name=name, extra=ks_extra))
    for fname, text in files:
        write(root, f"kubernetes/apps/default/{name}/app/{fname}", text)
    write(root, f"kubernetes/apps/default/{name}/app/kustomization.yaml", kustomization(*(f"./{f}" for f, _ in files)))


def cluster(root: Path, apps: list[str], *, ns_extra: str = "", root_extra: str = "") -> None:
    write(root, "kubernetes/flux/cluster/ks.yaml", ROOT_KS.format(extra=root_extra))
    write(
        root,
        "kubernetes/apps/default/kustomization.yaml",
        kustomization(*(f"./{a}/ks.yaml" for a in apps), extra=f"namespace: default\n{ns_extra}"),
    )


def found(root: Path, rule: str | None = None) -> list[tuple[str, str]]:
    return [(f.path, f.rule) for f in lint_repo(root).findings if rule is None or f.rule == rule]


# ---- the effective Flux Kustomization ----------------------------------------------------------

REPLACEMENTS = """replacements:
  - source:
      kind: Namespace
      fieldPath: metadata.name
    targets:
      - select:
          kind: Kustomization
          group: kustomize.toolkit.fluxcd.io
        fieldPaths:
          - spec.targetNamespace
        options:
          create: true
"""


def test_a_target_namespace_set_by_the_parents_replacements_counts(tmp_path: Path) -> None:
    """The namespace-level kustomization's replacements write spec.targetNamespace into every app's
    Flux Kustomization (the source: its Namespace, renamed by ``namespace:``): no ks-target-namespace."""
    cluster(tmp_path, ["web"], ns_extra=REPLACEMENTS)
    write(
        tmp_path,
        "kubernetes/apps/default/namespace.yaml",
        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: _\n",
    )
    write(
        tmp_path,
        "kubernetes/apps/default/kustomization.yaml",
        kustomization("./namespace.yaml", "./web/ks.yaml", extra=f"namespace: default\n{REPLACEMENTS}"),
    )
    app(tmp_path, "web", ("deploy.yaml", DEPLOY.format(name="web", image="ghcr.io/x/web:1.0")), ks_extra="")
    assert found(tmp_path) == []
    ks = next(
        k for k in __import__("homeops.lint.repo", fromlist=["load_repo"]).load_repo(tmp_path).flux if k.name == "web"
    )
    assert ks.target_namespace == "default" and "replacements" in ks.set_by
    # without the replacement the rule fires
    write(
        tmp_path,
        "kubernetes/apps/default/kustomization.yaml",
        kustomization("./namespace.yaml", "./web/ks.yaml", extra="namespace: default\n"),
    )
    assert found(tmp_path) == [("kubernetes/apps/default/web/ks.yaml", "ks-target-namespace")]


def test_variables_a_parent_patch_adds_are_used(tmp_path: Path) -> None:
    """cluster-apps patches every child Kustomization with postBuild.substitute: the child's image tag
    ``${WEB_TAG}`` resolves to ``latest`` only through that patch."""
    patch = (
        "  patches:\n    - target: {group: kustomize.toolkit.fluxcd.io, kind: Kustomization}\n      patch: |\n"
        "        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n"
        "        metadata: {name: _}\n        spec:\n          postBuild:\n            substitute:\n"
        "              WEB_TAG: latest\n"
    )
    cluster(tmp_path, ["web"], root_extra=patch)
    app(tmp_path, "web", ("deploy.yaml", DEPLOY.format(name="web", image="ghcr.io/x/web:${WEB_TAG}")))
    assert found(tmp_path) == [("kubernetes/apps/default/web/app/deploy.yaml", "pinned-image")]


def test_a_file_nothing_deploys_is_reported_once_as_unreferenced_and_not_judged(tmp_path: Path) -> None:
    cluster(tmp_path, ["web"])
    app(tmp_path, "web", ("deploy.yaml", DEPLOY.format(name="web", image="ghcr.io/x/web:1.0")))
    # commented out of the kustomization: a raw Secret and a latest image there are not deployed
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/old.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: x\nstringData: {a: b}\n"
        + DEPLOY.format(name="old", image="nginx:latest"),
    )
    result = lint_repo(tmp_path)
    assert [(f.path, f.rule, f.severity) for f in result.findings] == [
        ("kubernetes/apps/default/web/app/old.yaml", "unreferenced", "info")
    ]
    assert not result.failing
    assert run_lint(path=str(tmp_path), out=io.StringIO(), err=io.StringIO()) == 0


# ---- exemptions --------------------------------------------------------------------------------


def test_sops_files_are_exempt_from_the_header_rule(tmp_path: Path) -> None:
    """sops rewrites the file and drops a leading '---' (upstream won't fix): nobody can comply."""
    sops = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
    sops += "stringData:\n  a: ENC[AES256_GCM,data:x]\nsops:\n  mac: y\n"
    write(tmp_path, "apps/secret.sops.yaml", sops)
    write(tmp_path, "apps/other.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n")
    assert found(tmp_path) == [("apps/other.yaml", "yaml-header")]


def test_secrets_with_nothing_secret_in_git_are_not_raw_secrets(tmp_path: Path) -> None:
    head = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
    write(tmp_path, "a/token.yaml", head.format(name="t") + "type: kubernetes.io/service-account-token\n")
    write(tmp_path, "a/empty.yaml", head.format(name="e") + "stringData: {}\n")
    write(tmp_path, "a/refs.yaml", head.format(name="r") + "stringData:\n  k: op://vault/item/field\n  v: ${SECRET}\n")
    write(tmp_path, "a/real.yaml", head.format(name="p") + "stringData:\n  password: hunter2\n")
    assert found(tmp_path) == [("a/real.yaml", "no-raw-secret")]


# ---- blind spots -------------------------------------------------------------------------------

APP_TEMPLATE_OCI = (
    "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: app-template\n"
    "spec:\n  url: oci://ghcr.io/bjw-s-labs/helm/app-template\n"
)
HR = (
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\nspec:\n"
    "  chartRef: {{kind: OCIRepository, name: app-template}}\n  values:\n{values}"
)


def test_app_template_v1_is_read_and_an_unreadable_shape_is_a_finding(tmp_path: Path) -> None:
    """app-template 1.x: values.image and a single controller; three ``tag: latest`` went unseen."""
    write(tmp_path, "apps/oci.yaml", APP_TEMPLATE_OCI)
    write(
        tmp_path,
        "apps/v1.yaml",
        HR.format(
            name="old",
            values="    image:\n      repository: ghcr.io/x/old\n      tag: latest\n"
            "    podSecurityContext: {runAsNonRoot: true, runAsUser: 1000}\n"
            "    securityContext: {capabilities: {drop: [ALL]}}\n",
        ),
    )
    write(tmp_path, "apps/odd.yaml", HR.format(name="odd", values="    something: {}\n"))
    assert sorted(found(tmp_path)) == [("apps/odd.yaml", "unread-workload"), ("apps/v1.yaml", "pinned-image")]
    [odd] = [f for f in lint_repo(tmp_path).findings if f.rule == "unread-workload"]
    assert odd.message.startswith("HelmRelease 'odd' uses app-template but its values have neither controllers")


def test_app_template_values_on_another_chart_are_a_finding_that_names_the_chart_problem(tmp_path: Path) -> None:
    """Controllers with containers on a chart that is not app-template: its defaults are unknown here."""
    write(
        tmp_path,
        "apps/other.yaml",
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: other\nspec:\n"
        "  chart:\n    spec:\n      chart: some-chart\n      sourceRef: {kind: HelmRepository, name: charts}\n"
        "  values:\n    controllers:\n      main:\n        containers:\n          app:\n"
        "            image: {repository: ghcr.io/x/other, tag: 1.0.0}\n",
    )
    [other] = [f for f in lint_repo(tmp_path).findings if f.rule == "unread-workload"]
    assert other.path == "apps/other.yaml"
    assert other.message.startswith("HelmRelease 'other' describes controllers like app-template, but its chart is not")


def test_load_balancers_from_patches_and_operator_resources(tmp_path: Path) -> None:
    write(tmp_path, "apps/svc.yaml", "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: []\n")
    write(
        tmp_path,
        "apps/lb-patch.yaml",
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n",
    )
    write(
        tmp_path,
        "apps/kustomization.yaml",
        kustomization(
            "./svc.yaml",
            "./pg.yaml",
            "./df.yaml",
            "./crunchy.yaml",
            extra="patches:\n  - path: ./lb-patch.yaml\n  - target: {kind: Service, name: web}\n    patch: |\n"
            "      - op: replace\n        path: /spec/type\n        value: LoadBalancer\n",
        ),
    )
    write(
        tmp_path,
        "apps/pg.yaml",
        "---\napiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: pg\nspec:\n  managed:\n"
        "    services:\n      additional:\n        - selectorType: rw\n          serviceTemplate:\n"
        "            metadata: {name: pg-lb}\n            spec:\n              type: LoadBalancer\n",
    )
    write(
        tmp_path,
        "apps/df.yaml",
        "---\napiVersion: dragonflydb.io/v1alpha1\nkind: Dragonfly\nmetadata:\n  name: df\nspec:\n"
        "  serviceSpec:\n    type: LoadBalancer\n",
    )
    write(
        tmp_path,
        "apps/crunchy.yaml",
        "---\napiVersion: postgres-operator.crunchydata.com/v1beta1\nkind: PostgresCluster\nmetadata:\n"
        "  name: cr\nspec:\n  service:\n    type: LoadBalancer\n",
    )
    assert sorted(found(tmp_path, "no-loadbalancer")) == [
        ("apps/crunchy.yaml", "no-loadbalancer"),
        ("apps/df.yaml", "no-loadbalancer"),
        ("apps/kustomization.yaml", "no-loadbalancer"),
        ("apps/lb-patch.yaml", "no-loadbalancer"),
        ("apps/pg.yaml", "no-loadbalancer"),
    ]


def test_plain_text_from_secret_generator_literals_and_app_template_secrets(tmp_path: Path) -> None:
    write(tmp_path, "apps/oci.yaml", APP_TEMPLATE_OCI)
    write(
        tmp_path,
        "apps/kustomization.yaml",
        kustomization(
            "./hr.yaml",
            "./oci.yaml",
            extra="secretGenerator:\n  - name: creds\n    literals:\n      - password=hunter2\n",
        ),
    )
    write(
        tmp_path,
        "apps/hr.yaml",
        HR.format(
            name="web",
            values="    controllers: {}\n    secrets:\n      creds:\n        stringData:\n          token: abc123\n",
        ),
    )
    assert sorted(found(tmp_path, "no-raw-secret")) == [
        ("apps/hr.yaml", "no-raw-secret"),
        ("apps/kustomization.yaml", "no-raw-secret"),
    ]


# ---- new rules ---------------------------------------------------------------------------------


def _db_app(root: Path, name: str, env: str) -> None:
    app(
        root,
        name,
        (
            "deploy.yaml",
            DEPLOY.format(name=name, image="ghcr.io/x/a:1.0") + f"          env:\n{env}",
        ),
    )


def test_shared_database_two_apps_on_one_database(tmp_path: Path) -> None:
    cluster(tmp_path, ["a", "b", "c"])
    _db_app(
        tmp_path,
        "a",
        "            - {name: DATABASE_URL, value: 'postgres://u:p@pg-rw.database.svc.cluster.local/shared'}\n",
    )
    _db_app(
        tmp_path,
        "b",
        "            - {name: DB_HOST, value: pg-rw.database.svc}\n            - {name: DB_NAME, value: shared}\n",
    )
    # the same server, its own database: fine
    _db_app(
        tmp_path,
        "c",
        "            - {name: POSTGRES_HOST, value: pg-rw.database}\n            - {name: POSTGRES_DB, value: c}\n",
    )
    assert sorted(found(tmp_path, "shared-database")) == [
        ("kubernetes/apps/default/a/app/deploy.yaml", "shared-database"),
        ("kubernetes/apps/default/b/app/deploy.yaml", "shared-database"),
    ]


PVC = (
    "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n{meta}"
    "spec:\n  storageClassName: ceph-block\n"
)


def test_backup_coverage(tmp_path: Path) -> None:
    cluster(tmp_path, ["a", "b", "c"])
    app(tmp_path, "a", ("pvc.yaml", PVC.format(name="a", meta="")))
    app(
        tmp_path,
        "b",
        ("pvc.yaml", PVC.format(name="b", meta="")),
        (
            "rs.yaml",
            "---\napiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n  name: b\n"
            "spec:\n  sourcePVC: b\n",
        ),
    )
    app(tmp_path, "c", ("pvc.yaml", PVC.format(name="c", meta='  annotations:\n    homeops.io/backup: "false"\n')))
    assert found(tmp_path, "backup-coverage") == [("kubernetes/apps/default/a/app/pvc.yaml", "backup-coverage")]


# ---- robustness (issue 22 §3) --------------------------------------------------------------------


def test_a_symlink_to_root_in_a_generated_folder_ends(tmp_path: Path) -> None:
    cluster(tmp_path, [])
    write(tmp_path, "kubernetes/apps/default/kustomization.yaml", kustomization(extra="namespace: default\n"))
    os.symlink("/", tmp_path / "kubernetes/apps/rootfs")
    started = time.monotonic()
    lint_repo(tmp_path)
    assert time.monotonic() - started < 30


# ---- output ------------------------------------------------------------------------------------


def _lint_out(root: Path, **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = run_lint(path=str(root), out=out, err=io.StringIO(), **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue()


def repo_with_a_load_balancer(root: Path) -> None:
    """A repository whose one finding is a LoadBalancer Service at kubernetes/apps/svc.yaml line 7."""
    (root / ".git").mkdir()
    write(
        root,
        "kubernetes/apps/svc.yaml",
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  type: LoadBalancer\n",
    )


def test_sarif_github_json_and_skip(tmp_path: Path) -> None:
    repo_with_a_load_balancer(tmp_path)
    root = tmp_path / "kubernetes"
    code, text = _lint_out(root, fmt="sarif")
    log = json.loads(text)
    assert code == 1 and log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert ids >= set(RULES)
    [result] = run["results"]
    location = result["locations"][0]["physicalLocation"]
    # relative to the repository root (the folder with .git), not to --path
    assert location["artifactLocation"]["uri"] == "kubernetes/apps/svc.yaml" and location["region"]["startLine"] == 7
    assert result["ruleId"] == "no-loadbalancer" and result["level"] == "error"
    code, text = _lint_out(root, fmt="github")
    assert text.startswith("::error file=kubernetes/apps/svc.yaml,line=7,title=no-loadbalancer::Service 's'")
    code, text = _lint_out(root, fmt="json")
    assert json.loads(text)[0]["severity"] == SEVERITY["no-loadbalancer"] == "error"
    assert _lint_out(root, skip=["no-loadbalancer"]) == (0, "")


def test_the_repositorys_own_exceptions_file(tmp_path: Path) -> None:
    repo_with_a_load_balancer(tmp_path)
    write(
        tmp_path,
        ".homeops-lint.yaml",
        "exceptions:\n  - path: kubernetes/apps/svc.yaml\n    rules: [no-loadbalancer]\n"
        "    reason: DLNA needs an L2 address\n",
    )
    assert _lint_out(tmp_path / "kubernetes") == (0, "")


def test_a_flux_instance_sync_path_is_a_root(tmp_path: Path) -> None:
    """flux-operator applies the FluxInstance's sync.path itself (v0.58.1 internal/builder/templates.go
    :455-465): what it reaches is deployed, what nothing reaches is unreferenced."""
    write(
        tmp_path,
        "kubernetes/flux/instance.yaml",
        "---\napiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\nspec:\n"
        "  sync:\n    kind: GitRepository\n    url: https://example.invalid/r.git\n    path: kubernetes/cluster\n",
    )
    write(tmp_path, "kubernetes/cluster/ns.yaml", "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n")
    write(tmp_path, "kubernetes/old/ns.yaml", "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n")
    assert found(tmp_path) == [
        ("kubernetes/flux/instance.yaml", "unreferenced"),
        ("kubernetes/old/ns.yaml", "unreferenced"),
    ]


def test_helm_chart_sources_and_broken_files_nothing_deploys(tmp_path: Path) -> None:
    """A chart's templates are not YAML until helm renders them; a file Flux never reads that does not
    parse is reported as unreferenced (info), not as a parse error that fails the lint."""
    cluster(tmp_path, ["web"])
    app(tmp_path, "web", ("deploy.yaml", DEPLOY.format(name="web", image="ghcr.io/x/web:1.0")))
    write(tmp_path, "charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
    write(tmp_path, "charts/web/templates/cm.yaml", "{{- if .Values.x }}\nkind: ConfigMap\n{{- end }}\n")
    write(tmp_path, "kubernetes/apps/default/old/broken.yaml", "a: [1,\n")
    result = lint_repo(tmp_path)
    assert [(f.path, f.rule) for f in result.findings] == [("kubernetes/apps/default/old/broken.yaml", "unreferenced")]
    assert not result.failing
    assert {a.path: a.reason for a in result.files}["charts/web/templates/cm.yaml"].startswith("Helm chart")


def test_a_target_namespace_set_by_the_parents_patch_counts(tmp_path: Path) -> None:
    """The same through a namespace-level ``patches`` entry aimed at every Flux Kustomization."""
    patch = (
        "patches:\n  - target: {group: kustomize.toolkit.fluxcd.io, kind: Kustomization}\n    patch: |\n"
        "      - op: add\n        path: /spec/targetNamespace\n        value: default\n"
    )
    cluster(tmp_path, ["web"], ns_extra=patch)
    app(tmp_path, "web", ("deploy.yaml", DEPLOY.format(name="web", image="ghcr.io/x/web:1.0")), ks_extra="")
    assert found(tmp_path) == []
    cluster(tmp_path, ["web"])
    assert found(tmp_path) == [("kubernetes/apps/default/web/ks.yaml", "ks-target-namespace")]
