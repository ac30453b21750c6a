"""Offline Image Factory schematic IDs against the factory's own test vectors."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from homeops.inventory import schematic as schematic_module
from homeops.inventory.schematic import (
    EMPTY_SCHEMATIC_ID,
    InstallerSpec,
    SchematicError,
    canonical_yaml,
    id_from_image_url,
    installer_url,
    schematic_id,
)

# siderolabs/image-factory pkg/schematic/schematic_test.go (TestID / TestUnmarshalID).
FACTORY_VECTORS = [
    ({}, EMPTY_SCHEMATIC_ID),
    ({"customization": {}}, EMPTY_SCHEMATIC_ID),
    ({"customization": {"extraKernelArgs": []}}, EMPTY_SCHEMATIC_ID),
    (
        {"customization": {"extraKernelArgs": ["noapic", "nolapic"]}},
        "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c",
    ),
    (
        {"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}},
        "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c",
    ),
    (
        {"customization": {"meta": [{"key": 10, "value": "foo"}], "extraKernelArgs": [], "systemExtensions": {}}},
        "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f",
    ),
    (
        {"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"}},
        "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9",
    ),
    (
        {"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"}, "customization": {}},
        "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9",
    ),
    (
        {"customization": {"secureboot": {"includeWellKnownCertificates": True}}},
        "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6",
    ),
    # The example inventory's qemu-guest-agent schematic, as printed by factory.talos.dev.
    (
        {"customization": {"systemExtensions": {"officialExtensions": ["siderolabs/qemu-guest-agent"]}}},
        "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515",
    ),
]


@pytest.mark.parametrize(("schematic", "expected"), FACTORY_VECTORS)
def test_factory_vectors(schematic: dict[str, object], expected: str) -> None:
    assert schematic_id(schematic) == expected


def test_canonical_form_is_yaml_v3_style() -> None:
    text = canonical_yaml(
        {"customization": {"systemExtensions": {"officialExtensions": ["a/b"]}, "extraKernelArgs": ["-lockdown"]}}
    )
    assert text == (
        "customization:\n    extraKernelArgs:\n        - -lockdown\n"
        "    systemExtensions:\n        officialExtensions:\n            - a/b\n"
    )


@pytest.mark.parametrize(
    "schematic",
    [
        {"customization": {"extraKernelArgs": ["yes"]}},  # yaml.v3 would quote an old-style bool
        {"customization": {"extraKernelArgs": ["a b"]}},
        {"customization": {"extraKernelArgs": ["0x10"]}},
        {"customization": {"extraKernelArgs": [3]}},
        {"customization": {"extraKernelArgs": ["-"]}},
        {"customization": {"extraKernelArgs": ["console:"]}},
        {"customization": {"bootloader": "sd-boot"}},  # unknown to this factory version
        {"extra": 1},
    ],
)
def test_refuses_to_guess(schematic: dict[str, object]) -> None:
    with pytest.raises(SchematicError):
        schematic_id(schematic)


def test_installer_url_template() -> None:
    assert installer_url("abc", "v1.11.6") == "factory.talos.dev/metal-installer/abc:v1.11.6"
    spec = InstallerSpec(registry="factory.example", mode="metal", secureboot=True)
    assert installer_url("abc", "v1.11.6", spec) == "factory.example/metal-installer-secureboot/abc:v1.11.6"


def test_id_from_url() -> None:
    sid = "9a68df256a5d62389388b3c7b6e274eaefa3b735a8233518bc7883b7640ab327"
    assert id_from_image_url(f"factory.talos.dev/installer/{sid}") == sid
    assert id_from_image_url(f"factory.talos.dev/metal-installer/{sid}:v1.10.0") == sid
    assert id_from_image_url("docker.io/qjoly/talos") is None


_word = st.from_regex(r"[a-z][a-z0-9_.=/-]{0,20}", fullmatch=True)


@given(st.lists(_word, max_size=5), st.lists(_word, max_size=5))
def test_canonical_yaml_reads_back_as_the_same_schematic(args: list[str], extensions: list[str]) -> None:
    schematic = {"customization": {"extraKernelArgs": args, "systemExtensions": {"officialExtensions": extensions}}}
    try:
        text = canonical_yaml(schematic)
    except SchematicError:
        # Only a word yaml.v3 would quote ("no", "y", "1.5") may make us refuse.
        assert any(w in schematic_module._RESERVED or schematic_module._NUMBERISH.match(w) for w in args + extensions)
        return
    back = yaml.safe_load(text)
    assert back.get("customization", {}).get("extraKernelArgs", []) == args
    assert back.get("customization", {}).get("systemExtensions", {}).get("officialExtensions", []) == extensions
