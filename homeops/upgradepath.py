"""Which versions a cluster may move through, decided before anything is touched.

Talos supports upgrades one minor release at a time (1.9 → 1.10 → 1.11), so a jump across minors
becomes a chain of hops through the latest known patch of each minor in between. Kubernetes moves
at most one minor per run (``talosctl upgrade-k8s`` refuses more). Every hop must keep the running
Kubernetes inside the Talos↔Kubernetes support matrix, checked here so a plan that would strand the
cluster on an unsupported pair is refused up front.
"""

from __future__ import annotations

from homeops.errors import PlanError
from homeops.inventory.versions import Version


def parse(text: str, *, what: str = "version") -> Version:
    """A version from user input or a tool; a bad one is a ``PlanError`` that shows the expected form."""
    try:
        return Version.parse(text)
    except ValueError:
        raise PlanError(
            f"'{text}' is not a {what} like v1.11.6", hint="give the full version, e.g. --version v1.11.6"
        ) from None


# The Kubernetes minors each Talos minor supports (Talos support matrix: six minors per release).
SUPPORT_MATRIX: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]] = {
    (1, 7): ((1, 25), (1, 30)),
    (1, 8): ((1, 26), (1, 31)),
    (1, 9): ((1, 27), (1, 32)),
    (1, 10): ((1, 28), (1, 33)),
    (1, 11): ((1, 29), (1, 34)),
    (1, 12): ((1, 30), (1, 35)),
    (1, 13): ((1, 31), (1, 36)),
    # siderolabs/talos v1.14.0-rc.1 pkg/machinery/compatibility/talos114/talos114.go:25,28 (1.32.0–1.37.99);
    # constants.go:381,384 agree (DefaultKubernetesVersion 1.37, six versions back).
    (1, 14): ((1, 32), (1, 37)),
}

#: From this Talos minor on, ``ghcr.io/siderolabs/installer`` is no longer published: only Image Factory
#: installers exist (talos v1.14.0-rc.1 hack/release.toml ``notes.defaultInstaller``).
FACTORY_ONLY_FROM = (1, 14)

# The newest patch of each Talos minor homeops knows (tags read for cli-interfaces.md); an
# intermediate hop lands on it. Without network access we cannot ask the registry for newer ones.
LATEST_TALOS_PATCH: dict[tuple[int, int], str] = {
    (1, 9): "v1.9.6",
    (1, 10): "v1.10.9",
    (1, 11): "v1.11.6",
    (1, 12): "v1.12.11",
    (1, 13): "v1.13.9",
    # 1.14: only release candidates are tagged (v1.14.0-rc.1); no hop lands on one.
}


def _fmt(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def check_support(talos: Version, kubernetes: Version) -> None:
    """Refuse a Talos/Kubernetes pair outside the support matrix."""
    supported = SUPPORT_MATRIX.get(talos.series)
    if supported is None:
        known = ", ".join(_fmt(k) for k in SUPPORT_MATRIX)
        raise PlanError(
            f"Talos {talos} is not in homeops' support matrix (known: {known})",
            hint="use a supported Talos release",
        )
    low, high = supported
    if not low <= kubernetes.series <= high:
        raise PlanError(
            f"Kubernetes {kubernetes} is not supported on Talos {talos} (supports {_fmt(low)}–{_fmt(high)})",
            hint=(
                f"upgrade Kubernetes first (inv talos.upgrade-k8s --to v{_fmt(low)}.x)"
                if kubernetes.series < low
                else "choose a newer Talos release or an older Kubernetes"
            ),
        )


def talos_path(current: Version, target: Version, kubernetes: Version | None = None) -> tuple[Version, ...]:
    """The Talos releases to install in order to go from ``current`` to ``target`` (empty: nothing to do).

    Every hop is checked against the support matrix for the running ``kubernetes`` when it is known.
    """
    if target < current:
        raise PlanError(
            f"Talos {target} is older than the running {current}: homeops does not downgrade",
            hint="roll back with the node's previous A/B image (talosctl rollback) or pick a newer --version",
        )
    if target.major != current.major:
        raise PlanError(f"Talos {current} → {target} crosses a major release; homeops plans minor steps only")
    hops: list[Version] = []
    for minor in range(current.minor + 1, target.minor):
        known = LATEST_TALOS_PATCH.get((current.major, minor))
        if known is None:
            raise PlanError(
                f"Talos {current} → {target} must pass through {current.major}.{minor}, "
                "and homeops knows no release of it",
                hint=f"upgrade to a v{current.major}.{minor}.x release first with --version",
            )
        hops.append(Version.parse(known))
    if target != current:
        hops.append(target)
    if kubernetes is not None:
        for hop in hops:
            check_support(hop, kubernetes)
    return tuple(hops)


def kubernetes_path(current: Version, target: Version, talos: Version) -> tuple[Version, ...]:
    """Kubernetes moves at most one minor per run, and the target must be supported by ``talos``."""
    if target < current:
        raise PlanError(f"Kubernetes {target} is older than the running {current}: homeops does not downgrade")
    if target == current:
        return ()
    if target.major != current.major or target.minor > current.minor + 1:
        step = f"v{current.major}.{current.minor + 1}.x"
        raise PlanError(
            f"Kubernetes {current} → {target} skips a minor release; Kubernetes upgrades one minor at a time",
            hint=f"upgrade to {step} first (inv talos.upgrade-k8s --to {step})",
        )
    check_support(talos, target)
    return (target,)
