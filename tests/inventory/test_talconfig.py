"""The talconfig reader: YAML features, env substitution, group merging, patches, images, refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory.schematic import EMPTY_SCHEMATIC_ID
from homeops.inventory.talconfig import LATEST_TALOS_VERSION, read_talconfig

QEMU_ID = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def write(directory: Path, name: str, *parts: str) -> Path:
    """Write the parts, each dedented on its own, one after the other."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(textwrap.dedent(part).lstrip("\n") for part in parts))
    return path


BASE = """
clusterName: home
talosVersion: v1.11.6
kubernetesVersion: v1.34.2
endpoint: https://10.0.0.10:6443
"""


def test_anchors_merge_keys_flow_maps_and_column_zero_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        nodes:
        - hostname: a
          ipAddress: "10.0.0.1, 10.0.1.1"
          controlPlane: true
          installDiskSelector: { size: "<= 300Gb" }
          networkInterfaces:
            - &bond
              interface: bond0
              bond: { mode: 802.3ad, deviceSelectors: [{ hardwareAddr: "58:47:ca:77:*", driver: i40e }] }
              mtu: 9000
          schematic: &schematic
            customization:
              systemExtensions:
                officialExtensions:
                - siderolabs/qemu-guest-agent
        - hostname: b
          ipAddress: 10.0.0.2
          installDisk: /dev/sda
          networkInterfaces:
            - <<: *bond
              mtu: 1500
          schematic: *schematic
        """,
    )
    tc = read_talconfig(path, environ={})
    a, b = tc.nodes
    assert (a.hostname, a.ips, a.control_plane) == ("a", ("10.0.0.1", "10.0.1.1"), True)
    assert (b.hostname, b.control_plane) == ("b", False)  # controlPlane absent means worker
    assert b.settings["networkInterfaces"][0]["bond"]["mode"] == "802.3ad"
    assert b.settings["networkInterfaces"][0]["mtu"] == 1500  # the node's own key beats the merged one
    assert a.schematic_id == b.schematic_id == QEMU_ID
    assert b.install_image == f"factory.talos.dev/metal-installer/{QEMU_ID}:v1.11.6"
    assert a.install_disk_selector == {"size": "<= 300Gb"}
    assert tc.warnings == ()


def test_group_merge_follows_talhelper(tmp_path: Path) -> None:
    write(tmp_path, "patches/cp.yaml", "machine:\n  time:\n    disabled: false\n")
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        nodes:
          - hostname: cp1
            ipAddress: 10.0.0.1
            controlPlane: true
            installDisk: /dev/sda
            nodeLabels: { own: "1" }
            certSANs: [node.example]
            patches:
              - |-
                machine:
                  network:
                    hostname: cp1
          - hostname: cp2
            ipAddress: 10.0.0.2
            controlPlane: true
            installDisk: /dev/sda
            overridePatches: true
            talosImageURL: registry.example/talos/installer
            patches: ["@./patches/cp.yaml"]
          - hostname: w1
            ipAddress: 10.0.0.3
            installDisk: /dev/sda
        controlPlane:
          nodeLabels: { group: "1" }
          certSANs: [group.example]
          machineSpec: { secureboot: true }
          schematic:
            customization:
              systemExtensions:
                officialExtensions: [siderolabs/qemu-guest-agent]
          patches:
            - "@./patches/cp.yaml"
        worker:
          patches:
            - |-
              - op: remove
                path: /cluster/apiServer/admissionControl
        patches:
          - |-
            cluster:
              proxy:
                disabled: true
        """,
    )
    tc = read_talconfig(path, environ={})
    cp1, cp2, w1 = tc.nodes
    # Non-zero node values win outright: no deep merge of maps.
    assert cp1.settings["nodeLabels"] == {"own": "1"}
    assert cp2.settings["nodeLabels"] == {"group": "1"}
    # certSANs: node entries, then the group's.
    assert cp1.settings["certSANs"] == ["node.example", "group.example"]
    # Patches: group first, then the node's own, then the global ones.
    assert [p.origin for p in cp1.patches] == ["controlPlane.patches[0]", "nodes[0].patches[0]", "patches[0]"]
    assert [p.kind for p in cp1.patches] == ["file", "strategic", "strategic"]
    assert [p.origin for p in cp2.patches] == ["nodes[1].patches[0]", "patches[0]"]  # overridePatches
    assert [(p.origin, p.kind) for p in w1.patches] == [("worker.patches[0]", "json6902"), ("patches[0]", "strategic")]
    # Images: the group's schematic with secureboot; a node's talosImageURL wins over the schematic.
    assert cp1.install_image == f"factory.talos.dev/metal-installer-secureboot/{QEMU_ID}:v1.11.6"
    assert cp2.install_image == "registry.example/talos/installer:v1.11.6"
    assert cp2.schematic_id is None
    # No schematic anywhere: talhelper uses the empty schematic's factory image.
    assert w1.install_image == f"factory.talos.dev/metal-installer/{EMPTY_SCHEMATIC_ID}:v1.11.6"
    assert [n.hostname for n in tc.control_planes] == ["cp1", "cp2"]


def test_patch_forms(tmp_path: Path) -> None:
    write(tmp_path, "patches/multi.yaml", "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\n---\nmachine: {}\n")
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        nodes:
          - { hostname: n, ipAddress: 10.0.0.1, controlPlane: true, installDisk: /dev/sda }
        patches:
          - "@./patches/multi.yaml"
          - "@./patches/missing.yaml"
          - |
            apiVersion: v1alpha1
            kind: UserVolumeConfig
            name: data
          - |
            machine: {}
            ---
            apiVersion: v1alpha1
            kind: EthernetConfig
          - machine: { not: a string }
        """,
    )
    tc = read_talconfig(path, environ={})
    kinds = [(p.kind, p.content_kind, p.exists) for p in tc.patches]
    assert kinds == [
        ("file", "multidoc", True),
        ("file", None, False),
        ("document", None, None),
        ("multidoc", None, None),
        ("strategic", None, None),
    ]
    assert tc.patches[0].path == (tmp_path / "patches/multi.yaml").resolve()
    assert any("patches[1]: patch file ./patches/missing.yaml not found" in w for w in tc.warnings)
    assert any("patches[4]: is a mapping, not a string" in w for w in tc.warnings)


def test_env_files_override_process_env(tmp_path: Path) -> None:
    write(tmp_path, "talenv.yaml", "talosVersion: 1.10.2\nDOMAIN: home.arpa\n")
    write(tmp_path, "talenv.yml", "kubernetesVersion: v1.33.0-beta.1\n")
    path = write(
        tmp_path,
        "talconfig.yaml",
        """
        # a ${COMMENTED} variable in a comment is not an error
        clusterName: ${NAME}
        talosVersion: "${talosVersion}"
        kubernetesVersion: ${kubernetesVersion}
        endpoint: https://${VIP:-10.0.0.10}:6443
        nodes:
          - { hostname: "n1.${DOMAIN}", ipAddress: "${N1_IP}", controlPlane: true, installDisk: /dev/sda }
        """,
    )
    env = {"NAME": "lab", "DOMAIN": "ignored.example", "N1_IP": "10.0.0.21", "talosVersion": "v9.9.9"}
    tc = read_talconfig(path, environ=env)
    assert tc.cluster_name == "lab"
    assert tc.talos_version == "v1.10.2"  # v-less in the file, and the file beats the environment
    assert tc.kubernetes_version == "v1.33.0-beta.1"
    assert tc.endpoint == "https://10.0.0.10:6443"
    assert tc.nodes[0].hostname == "n1.home.arpa"
    assert tc.nodes[0].ip == "10.0.0.21"
    assert tc.env_files == (tmp_path / "talenv.yaml", tmp_path / "talenv.yml")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("clusterName: ${NAME}", "clusterName"),
        ("endpoint: https://${VIP}:6443", "endpoint"),
        ("talosVersion: ${TALOS_VERSION}", "talosVersion"),
        ("kubernetesVersion: ${K8S}", "kubernetesVersion"),
    ],
)
def test_unresolved_needed_field_is_an_error(tmp_path: Path, line: str, field: str) -> None:
    doc = {
        "clusterName": "clusterName: home",
        "endpoint": "endpoint: https://10.0.0.10:6443",
        "talosVersion": "talosVersion: v1.11.6",
        "kubernetesVersion": "kubernetesVersion: v1.34.2",
    }
    doc[field] = line
    text = "\n".join(doc.values()) + "\nnodes:\n  - {hostname: n, ipAddress: 10.0.0.1, installDisk: /dev/sda}\n"
    path = write(tmp_path, "talconfig.yaml", text)
    with pytest.raises(ConfigError) as info:
        read_talconfig(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: $")
    assert "is not set" in message
    assert "\n" not in message


def test_unresolved_elsewhere_is_a_warning_and_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        additionalApiServerCertSans: ["${CLUSTERENDPOINTIP}", 127.0.0.1]
        nodes:
          - hostname: n
            ipAddress: 10.0.0.1
            installDisk: /dev/sda
            nodeLabels: { zone: "${ZONE}" }
            patches:
              - |-
                machine:
                  registries: { config: { r: { auth: { password: "${REGISTRY_PASSWORD}" } } } }
        """,
    )
    tc = read_talconfig(path, environ={})
    assert tc.document["additionalApiServerCertSans"] == ["${CLUSTERENDPOINTIP}", "127.0.0.1"]
    assert tc.nodes[0].settings["nodeLabels"] == {"zone": "${ZONE}"}
    assert "${REGISTRY_PASSWORD}" in (tc.nodes[0].patches[0].text or "")
    joined = "\n".join(tc.warnings)
    assert "additionalApiServerCertSans[0]: ${CLUSTERENDPOINTIP} not set" in joined
    assert "nodes[0].nodeLabels.zone: ${ZONE} not set" in joined
    assert "nodes[0].patches[0]: ${REGISTRY_PASSWORD} not set" in joined


def test_versions_missing_and_defaulted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        """
        clusterName: c
        endpoint: https://[2a01:e0a::11]:6443
        nodes: [{hostname: n, ipAddress: 10.0.0.1, installDisk: /dev/sda, talosImageURL: docker.io/me/talos}]
        """,
    )
    tc = read_talconfig(path, environ={})
    assert tc.talos_version == LATEST_TALOS_VERSION == "v1.13.9"
    assert tc.kubernetes_version is None
    assert tc.nodes[0].install_image == "docker.io/me/talos:v1.13.9"
    assert any("talosVersion: not set; using talhelper's default v1.13.9" in w for w in tc.warnings)
    assert any("kubernetesVersion: not set" in w for w in tc.warnings)


def test_unknown_keys_are_kept_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        coreDNS: { disabled: true }
        myOwnKey: 1
        nodes:
          - { hostname: n, ipAddress: 10.0.0.1, installDisk: /dev/sda, rackPosition: 4 }
        worker:
          sparkles: true
        """,
    )
    tc = read_talconfig(path, environ={})
    assert tc.document["myOwnKey"] == 1
    assert tc.nodes[0].settings["rackPosition"] == 4
    assert tc.nodes[0].settings["sparkles"] is True  # group keys merge like any other
    joined = "\n".join(tc.warnings)
    for field in ("myOwnKey: unknown key (kept)", "nodes[0].rackPosition: unknown key", "worker.sparkles: unknown"):
        assert field in joined
    assert "coreDNS: legacy talhelper key" in joined


@pytest.mark.parametrize(
    ("body", "field", "cause"),
    [
        ("nodes: []\n", "nodes", "is empty"),
        ("nodes:\n  - {ipAddress: 10.0.0.1}\n", "nodes[0].hostname", "is missing"),
        ("nodes:\n  - {hostname: n}\n", "nodes[0].ipAddress", "is missing"),
        ("nodes:\n  - {hostname: n, ipAddress: 10.0.0.1, controlPlane: 'yes'}\n", "nodes[0].controlPlane", "true or"),
        (
            "nodes:\n  - {hostname: n, ipAddress: 10.0.0.1}\n  - {hostname: n, ipAddress: 10.0.0.2}\n",
            "nodes[1].hostname",
            "also",
        ),
        ("nodes: {n: 1}\n", "nodes", "must be a list"),
    ],
)
def test_node_errors(tmp_path: Path, body: str, field: str, cause: str) -> None:
    path = write(tmp_path, "talconfig.yaml", BASE, body)
    with pytest.raises(ConfigError) as info:
        read_talconfig(path, environ={})
    assert str(info.value).startswith(f"{path}: {field}: ")
    assert cause in str(info.value)


def test_missing_cluster_name(tmp_path: Path) -> None:
    path = write(tmp_path, "talconfig.yaml", "endpoint: https://x:6443\nnodes: [{hostname: n, ipAddress: 1.2.3.4}]\n")
    with pytest.raises(ConfigError, match=r"clusterName: is missing or empty"):
        read_talconfig(path, environ={})


def test_jinja_template_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        """
        ---
        clusterName: kubernetes
        endpoint: https://#{ cluster_api_addr }#:6443
        nodes:
          #% for item in nodes %#
          - hostname: "#{ item.name }#"
          #% endfor %#
        """,
    )
    with pytest.raises(ConfigError) as info:
        read_talconfig(path, environ={})
    assert str(info.value).startswith(f"{path}: is a Jinja template, not a talconfig (line 3: endpoint:")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "talconfig.yaml", "clusterName: c\nnodes:\n  - hostname: a\n   ipAddress: b\n")
    with pytest.raises(ConfigError, match=r"line 4, column \d+: not valid YAML"):
        read_talconfig(path, environ={})


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "talconfig.yaml", BASE, "endpoint: https://other:6443\nnodes: []\n")
    with pytest.raises(ConfigError, match=r"line 5, column 1: not valid YAML: key 'endpoint' appears twice"):
        read_talconfig(path, environ={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"talconfig.yaml: file not found"):
        read_talconfig(tmp_path / "talconfig.yaml", environ={})


def test_talos_image_url_with_tag_gives_no_image(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        "nodes: [{hostname: n, ipAddress: 1.2.3.4, installDisk: /dev/sda, talosImageURL: 'r.example/i:v1'}]\n",
    )
    tc = read_talconfig(path, environ={})
    assert tc.nodes[0].install_image is None
    assert any("already carries a tag" in w for w in tc.warnings)


def test_uncomputable_schematic_keeps_schematic_and_warns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        nodes:
          - hostname: n
            ipAddress: 1.2.3.4
            installDisk: /dev/sda
            schematic: { customization: { extraKernelArgs: ["console=ttyS0 quiet"] } }
        """,
    )
    tc = read_talconfig(path, environ={})
    node = tc.nodes[0]
    assert node.install_image is None and node.schematic_id is None
    assert node.schematic == {"customization": {"extraKernelArgs": ["console=ttyS0 quiet"]}}
    assert any("nodes[0].schematic: cannot render" in w for w in tc.warnings)


# -- sops-encrypted env files and talconfigs ---------------------------------------------------------


@pytest.fixture
def age_key(tmp_path: Path) -> Path:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    key = tmp_path / "keys" / "age.key"
    key.parent.mkdir()
    key.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    rule = f"creation_rules:\n  - path_regex: .*\\.sops\\.ya?ml$\n    age: {identity.to_public()}\n"
    (tmp_path / ".sops.yaml").write_text(rule)
    return key


def encrypt(path: Path, config: Path) -> None:
    from homeops import sops

    sops.encrypt_file(path, config=config, in_place=True)
    assert "ENC[AES256_GCM" in path.read_text()


SOPS_TALCONFIG = """
clusterName: home
talosVersion: v1.11.6
kubernetesVersion: v1.34.2
endpoint: https://10.0.0.10:6443
nodes:
  - { hostname: "n1.${DOMAIN}", ipAddress: 10.0.0.1, controlPlane: true, installDisk: /dev/sda }
"""


def test_sops_env_file_is_decrypted_with_the_key(tmp_path: Path, age_key: Path) -> None:
    write(tmp_path, "talenv.sops.yaml", "DOMAIN: home.arpa\n")
    encrypt(tmp_path / "talenv.sops.yaml", tmp_path / ".sops.yaml")
    path = write(tmp_path, "talconfig.yaml", SOPS_TALCONFIG)
    tc = read_talconfig(path, environ={}, age_key_file=age_key)
    assert tc.nodes[0].hostname == "n1.home.arpa"
    assert tc.env_files == (tmp_path / "talenv.sops.yaml",)


def test_sops_env_file_without_key_fails_where_the_value_is_needed(tmp_path: Path, age_key: Path) -> None:
    write(tmp_path, "talenv.sops.yaml", "DOMAIN: home.arpa\n")
    encrypt(tmp_path / "talenv.sops.yaml", tmp_path / ".sops.yaml")
    path = write(tmp_path, "talconfig.yaml", SOPS_TALCONFIG)
    with pytest.raises(ConfigError) as info:
        read_talconfig(path, environ={})  # no key given, none in the (hermetic) environment
    message = str(info.value)
    assert message.startswith(f"{path}: nodes[0].hostname: ${{DOMAIN}} is not set")
    assert f"{tmp_path / 'talenv.sops.yaml'} could not be decrypted" in message
    assert "age" in message and "\n" not in message


def test_sops_env_file_without_key_is_a_warning_when_only_patches_need_it(tmp_path: Path, age_key: Path) -> None:
    write(tmp_path, "talenv.sops.yaml", "REGISTRY_PASSWORD: hunter2hunter2\n")
    encrypt(tmp_path / "talenv.sops.yaml", tmp_path / ".sops.yaml")
    write(
        tmp_path,
        "patches/registry.yaml",
        "machine:\n  registries:\n    config: {r: {auth: {password: ${REGISTRY_PASSWORD}}}}\n",
    )
    path = write(
        tmp_path,
        "talconfig.yaml",
        SOPS_TALCONFIG.replace("n1.${DOMAIN}", "n1"),
        'patches: ["@./patches/registry.yaml"]\n',
    )
    tc = read_talconfig(path, environ={})
    assert [n.hostname for n in tc.nodes] == ["n1"]
    (warning,) = [w for w in tc.warnings if "patches[0]" in w]
    assert "uses ${REGISTRY_PASSWORD}, not set" in warning
    assert "talenv.sops.yaml could not be decrypted" in warning
    # With the key the same config reads clean, and the secret never shows in warnings.
    tc = read_talconfig(path, environ={}, age_key_file=age_key)
    assert tc.warnings == ()


def test_sops_encrypted_talconfig(tmp_path: Path, age_key: Path) -> None:
    path = write(tmp_path, "talconfig.sops.yaml", SOPS_TALCONFIG.replace("n1.${DOMAIN}", "n1"))
    encrypt(path, tmp_path / ".sops.yaml")
    tc = read_talconfig(path, environ={}, age_key_file=age_key)
    assert (tc.cluster_name, tc.nodes[0].hostname, tc.nodes[0].ip) == ("home", "n1", "10.0.0.1")
    with pytest.raises(ConfigError) as info:
        read_talconfig(path, environ={})
    assert str(info.value).startswith(f"{path}: sops: is sops-encrypted and could not be decrypted: ")


def test_go_templates_legacy_patches_and_bare_refs(tmp_path: Path) -> None:
    write(tmp_path, "clusterconfig/extra.yaml", "- op: add\n  path: /machine/network/hostname\n  value: x\n")
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        """
        nodes:
          - hostname: n
            ipAddress: 10.0.0.1
            controlPlane: true
            installDisk: /dev/sda
            nodeLabels: { host: "{{ .Hostname }}" }
            patches: ["@clusterconfig/extra.yaml"]
        controlPlane:
          configPatches:
            - { op: add, path: /cluster/proxy, value: { disabled: true } }
          inlinePatch:
            machine: { kubelet: {} }
        """,
    )
    tc = read_talconfig(path, environ={})
    node = tc.nodes[0]
    assert node.settings["nodeLabels"] == {"host": "{{ .Hostname }}"}  # talhelper templating, not Jinja
    assert [(p.origin, p.kind, p.content_kind) for p in node.patches] == [
        ("nodes[0].patches[0]", "file", "json6902"),
        ("controlPlane.configPatches", "legacy", None),
        ("controlPlane.inlinePatch", "legacy", None),
    ]
    assert any("controlPlane.configPatches: legacy talhelper key" in w for w in tc.warnings)


def test_quoted_boolean_and_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    path = write(tmp_path, "talconfig.yaml", BASE, "nodes: [{hostname: n, ipAddress: 1.2.3.4, controlPlane: 'true'}]\n")
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.controlPlane: must be true or false, not the string 'true'"):
        read_talconfig(path, environ={})
    path = write(
        tmp_path,
        "talconfig.yaml",
        BASE,
        "nodes: [{hostname: n, ipAddress: 1.2.3.4, installDisk: /dev/sda}]\n",
        "patches: ['machine: {registries: {config: {r: {auth: {password: ${PW}}}}}}']\n",
    )
    tc = read_talconfig(path, environ={"PW": "s3cret-value"})
    assert "s3cret-value" in (tc.patches[0].text or "")
    assert "s3cret-value" not in repr(tc)
