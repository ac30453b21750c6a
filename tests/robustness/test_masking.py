"""Defect 11: values from a sops-encrypted talenv.sops.yaml were masked in errors and plans but printed
as-is by ``inventory.show`` (table and --json) and ``sim.status``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from homeops.sops import encrypt_file
from tests.conftest import EXAMPLE_INVENTORY
from tests.robustness.conftest import run_inv

SECRET_HOST = "hidden-endpoint.example"


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    env = target / "talos" / "talenv.sops.yaml"
    env.write_text(f"secretHost: {SECRET_HOST}\n")
    encrypt_file(env, config=target / ".sops.yaml", in_place=True)
    assert SECRET_HOST not in env.read_text()
    tal = target / "talos" / "talconfig.yaml"
    tal.write_text(tal.read_text().replace("endpoint: https://10.10.0.10:6443", "endpoint: https://${secretHost}:6443"))
    return target


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_inventory_show_masks_sops_values(inv: Path, extra: tuple[str, ...]) -> None:
    ran = run_inv("inventory.show", "--inventory", str(inv), *extra)
    assert ran.crashed is None and ran.code == 0, ran
    assert "endpoint" in ran.out
    assert SECRET_HOST not in ran.out + ran.err


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_sim_status_masks_sops_values(inv: Path, extra: tuple[str, ...]) -> None:
    up = run_inv("sim.up", "--inventory", str(inv), "--virtual")
    assert up.crashed is None and up.code == 0, up
    assert SECRET_HOST not in up.out + up.err
    ran = run_inv("sim.status", "--inventory", str(inv), *extra)
    assert ran.crashed is None and ran.code == 0, ran
    assert "k8s-0" in ran.out
    assert SECRET_HOST not in ran.out + ran.err
