"""The installer image each node is upgraded to: always the talconfig's, never the bare default.

``talosctl upgrade`` without ``--image`` installs the vanilla installer of the *client's* version and
silently drops the node's Image Factory extensions (qemu-guest-agent, iscsi-tools, …). The image is
resolved from the talconfig the way talhelper does it (``talosImageURL:<version>``), else from the
node's known installer reference re-tagged, else from its schematic ID on the Image Factory.
"""

from __future__ import annotations

import re

from homeops.errors import PlanError
from homeops.inventory.model import Node

FACTORY = "factory.talos.dev"

# factory.talos.dev/<mode>-installer[-secureboot]/<schematic>:<tag> (and the pre-v3.0.24 /installer/ form).
_SCHEMATIC = re.compile(r"/(?:[a-z0-9]+-)?installer(?:-secureboot)?/([0-9a-f]{64})(?::|@|$)")


def untagged(image: str) -> str:
    """The repository part of an image reference (drops ``:tag`` and ``@digest``)."""
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def image_tag(image: str) -> str | None:
    last = image.split("@", 1)[0].rpartition("/")[2]
    return last.split(":", 1)[1] if ":" in last else None


def schematic_of(image: str | None) -> str | None:
    """The Image Factory schematic ID inside an installer reference, if it has one."""
    if not image:
        return None
    match = _SCHEMATIC.search(image)
    return match.group(1) if match else None


def target_image(node: Node, version: str, *, override: str | None = None) -> str:
    """The installer reference for ``node`` at ``version``."""
    if override:
        tag = image_tag(override)
        if tag is None:
            raise PlanError(
                f"--image {override} has no tag",
                hint=f"add the version, e.g. {override}:{version}",
            )
        if tag.lstrip("v") != version.lstrip("v"):
            # installing another version than planned skips the version path and its checks
            raise PlanError(
                f"--image tag {tag} is not the planned target {version}; nothing was sent",
                hint=f"use {untagged(override)}:{version}, or pass --version {tag} to plan for it",
            )
        return override
    if node.talos_image_url:
        return f"{untagged(node.talos_image_url)}:{version}"
    if node.install_image:
        return f"{untagged(node.install_image)}:{version}"
    if node.schematic_id:
        return f"{FACTORY}/metal-installer/{node.schematic_id}:{version}"
    raise PlanError(
        f"no installer image known for node {node.hostname}",
        hint="set talosImageURL (or a schematic) for it in talconfig.yaml, or pass --image; homeops will not use "
        "the default installer because it drops the node's system extensions",
    )
