"""The simulator's kubectl scale/delete/create and flux suspend/resume, against the real tools' output and
exit codes (kubectl 1.32 ``--help`` and messages; flux2 ``cmd/flux/{suspend,resume}.go``)."""

from __future__ import annotations

from homeops.runners import Result
from homeops.sim.runner import SimRunner

from .drsim import DrSim


def run(drsim: DrSim, *argv: str) -> Result:
    return SimRunner(drsim.root / ".homeops" / "sim").run(list(argv))


def test_kubectl_scale_needs_replicas_names_the_object_and_settles(drsim: DrSim) -> None:
    missing = run(drsim, "kubectl", "scale", "deployment/immich-server")
    assert (missing.exit_code, missing.stderr.strip()) == (1, 'error: required flag(s) "replicas" not set')
    gone = run(drsim, "kubectl", "-n", "default", "scale", "deployment/nope", "--replicas=0")
    assert gone.exit_code == 1
    assert gone.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'
    done = run(drsim, "kubectl", "-n", "default", "scale", "statefulset/paperless", "--replicas=0")
    assert (done.exit_code, done.stdout) == (0, "statefulset.apps/paperless scaled\n")
    seen = run(
        drsim, "kubectl", "-n", "default", "get", "statefulsets", "paperless", "-o", "jsonpath={.status.replicas}"
    )
    assert seen.stdout == "1"  # its pod is still terminating
    drsim.advance(20)
    seen = run(
        drsim, "kubectl", "-n", "default", "get", "statefulsets", "paperless", "-o", "jsonpath={.status.replicas}"
    )
    assert seen.stdout == ""  # zero is omitted, as the API server does


def test_kubectl_delete_pvc_waits_for_the_pods_using_it(drsim: DrSim) -> None:
    held = run(drsim, "kubectl", "-n", "default", "delete", "pvc", "immich-data", "--timeout=30s")
    assert held.exit_code == 1
    assert held.stdout == 'persistentvolumeclaim "immich-data" deleted from default namespace\n'  # kubectl 1.34
    assert held.stderr.strip() == "error: timed out waiting for the condition on persistentvolumeclaims/immich-data"
    terminating = run(drsim, "kubectl", "-n", "default", "get", "pvc", "immich-data", "-o", "json")
    assert '"deletionTimestamp"' in terminating.stdout
    assert run(drsim, "kubectl", "-n", "default", "scale", "deployment/immich-server", "--replicas=0").ok
    drsim.advance(20)
    after = run(drsim, "kubectl", "-n", "default", "get", "pvc", "immich-data")
    assert after.exit_code == 1
    assert after.stderr.strip() == 'Error from server (NotFound): persistentvolumeclaims "immich-data" not found'
    again = run(drsim, "kubectl", "-n", "default", "delete", "pvc", "immich-data")
    assert again.exit_code == 1 and "NotFound" in again.stderr
    assert run(drsim, "kubectl", "-n", "default", "delete", "pvc", "immich-data", "--ignore-not-found").stdout == ""


def test_kubectl_create_refuses_a_pvc_that_exists(drsim: DrSim) -> None:
    manifest = drsim.root / "pvc.yaml"
    manifest.write_text("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: paperless-data}\nspec: {}\n")
    taken = run(drsim, "kubectl", "-n", "default", "create", "-f", str(manifest))
    assert taken.exit_code == 1
    assert taken.stderr.strip() == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": '
        'persistentvolumeclaims "paperless-data" already exists'
    )


def test_flux_suspend_and_resume(drsim: DrSim) -> None:
    absent = run(drsim, "flux", "suspend", "kustomization", "nope", "--namespace", "flux-system")
    assert (absent.exit_code, absent.stderr) == (0, "✗ Kustomization nope not found in flux-system namespace\n")
    done = run(drsim, "flux", "suspend", "helmrelease", "immich", "--namespace", "default")
    assert (done.exit_code, done.stderr) == (
        0,
        "► suspending helmrelease immich in default namespace\n✔ helmrelease suspended\n",
    )
    table = run(drsim, "flux", "get", "helmreleases", "--namespace", "default")
    assert "immich" in table.stdout and "True  " in table.stdout.splitlines()[1]
    back = run(drsim, "flux", "resume", "helmrelease", "immich", "--namespace", "default")
    assert back.exit_code == 0
    assert back.stderr.splitlines() == [
        "► resuming helmrelease immich in default namespace",
        "✔ helmrelease resumed",
        "◎ waiting for HelmRelease reconciliation",
        "✔ HelmRelease immich reconciliation completed",
        "✔ applied revision 0.9.3",
    ]


def test_a_destination_restoring_again_keeps_its_last_image_until_the_new_one(drsim: DrSim) -> None:
    def status() -> dict[str, object]:
        import json

        got = run(drsim, "kubectl", "-n", "default", "get", "replicationdestinations", "immich-data-dst", "-o", "json")
        return json.loads(got.stdout)["status"]  # type: ignore[no-any-return]

    before = status()
    patch = '{"spec":{"trigger":{"manual":"again"}}}'
    patched = run(
        drsim,
        "kubectl",
        "-n",
        "default",
        "patch",
        "replicationdestination",
        "immich-data-dst",
        "--type",
        "merge",
        "-p",
        patch,
    )
    assert patched.stdout == "replicationdestination.volsync.backube/immich-data-dst patched\n"
    during = status()
    assert during["latestImage"] == before["latestImage"] and during["lastManualSync"] == "restore-once"
    drsim.advance(130)
    after = status()
    assert after["lastManualSync"] == "again" and after["latestImage"] != before["latestImage"]
