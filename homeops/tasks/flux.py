"""Tasks of the ``flux`` namespace: reconcile now (the seed's ``task reconcile``) and show what is not Ready.

Both talk to the cluster only through the inventory's kubeconfig, passed explicitly to every
``flux``/``kubectl`` call, and refuse to start when that kubeconfig points at another cluster.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

ns = Collection("flux")

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


def _open(c: Any, inventory: str | None) -> Any:
    from homeops.app.backend import open_runtime
    from homeops.errors import ConfigError
    from homeops.operations.bootstrap_inputs import check_kubeconfig

    rt = open_runtime(inventory_dir(c, inventory))
    try:
        # A simulated cluster answers without one, as it does for every other task; one that is there
        # must still be this cluster's.
        if check_kubeconfig(rt.inventory) is None and not rt.simulated:
            raise ConfigError(
                "not found: the cluster has no kubeconfig yet",
                file=str(rt.inventory.cluster.kubeconfig),
                hint="run `inv bootstrap.talos` (it fetches it), or fix cluster.kubeconfig in homeops.yaml",
            )
    except BaseException:
        rt.close()
        raise
    return rt


def _banner(rt: Any) -> str:
    return "[SIMULATED] " if rt.simulated else ""


@task(
    help={
        "kustomization": "the Kustomization to reconcile (default: flux-system, the root of the repo)",
        "namespace": "its namespace (default: flux-system)",
        "with_source": "fetch its Git source first (flux reconcile ... --with-source)",
        "timeout": "seconds to wait for the reconciliation (default 300)",
        "inventory": INVENTORY_HELP,
    }
)
@user_errors
def reconcile(
    c: Any,
    kustomization: str = "flux-system",
    namespace: str = "flux-system",
    with_source: bool = False,
    timeout: int = 300,
    inventory: str | None = None,
) -> None:
    """Reconcile a Flux Kustomization now and wait for it (fails naming it when it does not become Ready)."""
    from homeops.adapters import flux

    with _open(c, inventory) as rt:
        print(
            f"{_banner(rt)}reconciling Kustomization {namespace}/{kustomization}" + (" with its source" * with_source)
        )
        result = flux.run_reconcile(
            rt.local,
            "kustomization",
            kustomization,
            namespace=namespace,
            with_source=with_source,
            timeout=timeout,
            kubeconfig=rt.inventory.cluster.kubeconfig,
        )
    print(f"{_banner(rt)}{namespace}/{kustomization}: applied revision {result.revision or '(unknown)'}")


@task(help={"inventory": INVENTORY_HELP, "all_objects": "list every object, not only those not Ready"})
@user_errors
def status(c: Any, inventory: str | None = None, all_objects: bool = False) -> None:
    """Flux Kustomizations, HelmReleases and the FluxInstance that are not Ready or suspended, as a table;
    exits 1 if one is not Ready (the `flux` health gate's definition: suspended ones are listed, not failed)."""
    from homeops.adapters import flux, kubectl

    with _open(c, inventory) as rt:
        kubeconfig = rt.inventory.cluster.kubeconfig
        objects = [
            *flux.kustomizations(rt.local, kubeconfig=kubeconfig),
            *flux.helmreleases(rt.local, kubeconfig=kubeconfig),
        ]
        # No Flux Operator (no FluxInstance CRD) is a cluster bootstrapped the classic way: not an error.
        objects += kubectl.flux_instances(rt.local, kubectl.Kubectl(kubeconfig))
        simulated = rt.simulated
    shown = objects if all_objects else [o for o in objects if o.ready != "True" or o.suspended]
    prefix = "[SIMULATED] " if simulated else ""
    if not objects:
        raise Exit(f"{prefix}no Flux objects found: is Flux installed? (`inv bootstrap.apps` installs it)", code=1)
    if not shown:
        print(f"{prefix}all {len(objects)} Flux objects Ready")
        return
    rows = [["KIND", "NAMESPACE", "NAME", "READY", "SUSPENDED", "MESSAGE"]] + [
        [o.kind, o.namespace, o.name, o.ready, str(o.suspended), " ".join(o.message.split())[:100]] for o in shown
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(prefix + "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows))
    # the same definition as the upgrades' `flux` gate: a suspended object is listed, not a failure
    not_ready = kubectl.flux_unhealthy(objects)
    if not_ready:
        raise Exit(f"{len(not_ready)} of {len(objects)} Flux objects not Ready", code=1)


ns.add_task(reconcile)
ns.add_task(status)
