"""repo.lint cost: wall time to lint a 500-file home-ops repository in one process (target < 2 s).

The repository is a synthetic one of exactly --files YAML files shaped like the real trees (per app:
ks.yaml with a kopiur-style component, kustomization.yaml, ocirepository.yaml, an app-template
helmrelease.yaml; plus the component's PVC), so the figure does not depend on shared/ being present.
When the real bjw-s tree is there, it is measured too. Each figure is the median of --runs complete
runs (read + parse + index + every rule), and one end-to-end `python -m homeops.lint` process is timed.
Run: python bench/lint.py [--runs N] [--files N]. Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeops.lint.engine import lint_repo

REAL = Path(__file__).resolve().parent.parent.parent / "shared/realworld/apps/bjw-s-labs__home-ops"

KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {app}
spec:
  components:
    - ../../../components/volsync
  interval: 1h
  path: ./kubernetes/apps/{app}/app
  postBuild:
    substitute:
      APP: {app}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  targetNamespace: default
"""
KUSTOMIZATION = """---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ./helmrelease.yaml
  - ./ocirepository.yaml
"""
OCI = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: {app}
spec:
  interval: 15m
  ref:
    tag: 4.4.0
  url: oci://ghcr.io/bjw-s-labs/helm/app-template
"""
HR = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {app}
spec:
  chartRef:
    kind: OCIRepository
    name: {app}
  interval: 1h
  values:
    defaultPodOptions:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
    controllers:
      {app}:
        strategy: {strategy}
        containers:
          app:
            image:
              repository: ghcr.io/example/{app}
              tag: 1.{n}.0@sha256:0000000000000000000000000000000000000000000000000000000000000000
            env:
              TZ: Europe/Amsterdam
              PORT: &port 8080
            probes:
              liveness: &probes
                enabled: true
                custom: true
                spec:
                  httpGet:
                    path: /healthz
                    port: *port
              readiness: *probes
            securityContext:
              allowPrivilegeEscalation: false
              readOnlyRootFilesystem: true
              capabilities: {{drop: ["ALL"]}}
            resources:
              requests:
                cpu: 10m
              limits:
                memory: 256Mi
    service:
      app:
        ports:
          http:
            port: *port
    persistence:
      config:
        existingClaim: "{{{{ .Release.Name }}}}"
      tmp:
        type: emptyDir
"""
PVC = """---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: "${VOLSYNC_CLAIM:-${APP}}"
spec:
  accessModes: ["${VOLSYNC_ACCESSMODES:=ReadWriteOnce}"]
  resources:
    requests:
      storage: "${VOLSYNC_CAPACITY:=5Gi}"
"""


def synthetic(root: Path, files: int) -> int:
    component = root / "kubernetes/components/volsync"
    component.mkdir(parents=True)
    (component / "pvc.yaml").write_text(PVC)
    (component / "kustomization.yaml").write_text(
        "---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - ./pvc.yaml\n"
    )
    written = 2
    n = 0
    while written < files:
        app = f"app{n:03d}"
        folder = root / "kubernetes/apps" / app
        (folder / "app").mkdir(parents=True)
        strategy = "RollingUpdate" if n % 50 == 0 else "Recreate"  # a few real findings to report
        parts = {
            "ks.yaml": KS.format(app=app),
            "app/kustomization.yaml": KUSTOMIZATION,
            "app/ocirepository.yaml": OCI.format(app=app),
            "app/helmrelease.yaml": HR.format(app=app, n=n, strategy=strategy),
        }
        for rel, text in list(parts.items())[: files - written]:
            (folder / rel).write_text(text)
            written += 1
        n += 1
    return written


def median_run(root: Path, runs: int) -> tuple[float, int, int]:
    times = []
    result = lint_repo(root)
    for _ in range(runs):
        start = time.perf_counter()
        result = lint_repo(root)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(result.files), len(result.findings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=500)
    args = parser.parse_args()
    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        count = synthetic(root, args.files)
        median, files, findings = median_run(root, args.runs)
        print(f"synthetic repo: {files} YAML files, {findings} findings; median of {args.runs} runs {median:.3f} s")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "homeops.lint", "--path", str(root)], capture_output=True, text=True, check=False
        )
        process = time.perf_counter() - start
        print(f"one `python -m homeops.lint` process (startup included): {process:.3f} s, exit {proc.returncode}")
        figures.update(
            {"synthetic_files": count, "lint_500_files_median_s": round(median, 3), "lint_process_s": round(process, 3)}
        )
    if REAL.is_dir():
        real_median, real_files, real_findings = median_run(REAL, args.runs)
        print(f"bjw-s-labs/home-ops: {real_files} YAML files, {real_findings} findings; median {real_median:.3f} s")
        figures["lint_bjws_median_s"] = round(real_median, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
