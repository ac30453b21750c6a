"""Version paths and the Talos↔Kubernetes support matrix, decided before anything starts."""

from __future__ import annotations

import pytest

from homeops.errors import PlanError
from homeops.upgradepath import check_support, kubernetes_path, parse, talos_path


def v(text: str):
    return parse(text)


def test_talos_steps_through_each_minor_on_its_latest_patch() -> None:
    assert [str(x) for x in talos_path(v("v1.9.2"), v("v1.11.6"))] == ["v1.10.9", "v1.11.6"]
    assert [str(x) for x in talos_path(v("v1.9.2"), v("v1.12.0"))] == ["v1.10.9", "v1.11.6", "v1.12.0"]


def test_talos_patch_and_same_version() -> None:
    assert [str(x) for x in talos_path(v("v1.11.2"), v("v1.11.6"))] == ["v1.11.6"]
    assert talos_path(v("v1.11.6"), v("v1.11.6")) == ()


def test_talos_downgrade_is_refused() -> None:
    with pytest.raises(PlanError, match=r"does not downgrade"):
        talos_path(v("v1.11.6"), v("v1.10.9"))


def test_unknown_intermediate_minor_is_refused_with_a_way_forward() -> None:
    with pytest.raises(PlanError, match=r"1.8") as info:
        talos_path(v("v1.7.7"), v("v1.9.6"))
    assert "--version" in str(info.value)


def test_each_hop_must_support_the_running_kubernetes() -> None:
    # Kubernetes 1.28 runs on Talos 1.10 but not on 1.11 (1.29–1.34): upgrade Kubernetes first.
    with pytest.raises(PlanError, match=r"not supported on Talos v1.11.6") as info:
        talos_path(v("v1.10.9"), v("v1.11.6"), v("v1.28.9"))
    assert "upgrade-k8s" in str(info.value)
    assert talos_path(v("v1.10.9"), v("v1.11.6"), v("v1.33.1")) == (v("v1.11.6"),)


def test_support_matrix_edges() -> None:
    check_support(v("v1.11.6"), v("v1.29.0"))
    check_support(v("v1.11.6"), v("v1.34.2"))
    with pytest.raises(PlanError):
        check_support(v("v1.11.6"), v("v1.35.0"))
    with pytest.raises(PlanError, match=r"support matrix"):
        check_support(v("v1.2.0"), v("v1.20.0"))


def test_kubernetes_one_minor_at_a_time() -> None:
    assert kubernetes_path(v("v1.33.4"), v("v1.34.2"), v("v1.11.6")) == (v("v1.34.2"),)
    assert kubernetes_path(v("v1.34.2"), v("v1.34.2"), v("v1.11.6")) == ()
    with pytest.raises(PlanError, match=r"one minor at a time") as info:
        kubernetes_path(v("v1.32.1"), v("v1.34.2"), v("v1.11.6"))
    assert "v1.33.x" in str(info.value)
    with pytest.raises(PlanError, match=r"not supported"):
        kubernetes_path(v("v1.34.2"), v("v1.35.0"), v("v1.11.6"))


def test_bad_version_text_names_the_expected_form() -> None:
    with pytest.raises(PlanError, match=r"v1.11.6"):
        parse("1.11", what="Talos version")
