"""SOPS decrypt cost: median in-process time to decrypt a 40-value talsecret (target ≤ 20 ms).

The file is encrypted by homeops to a fresh age key (talhelper's layout, base64 PEM certificates),
then decrypted end to end each run: read, parse, load the key file, unwrap the data key with age,
AES-GCM 40 values, verify the MAC. Run: python bench/sops.py [--runs N]. Prints each figure, then
one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyrage

from homeops import sops
from homeops.sops import api
from homeops.sops.tree import Mapping


def talsecret(values: int = 40) -> Mapping:
    """A talsecret-shaped tree with ``values`` leaves: ids and tokens, then cert/key pairs."""

    def blob(n: int) -> str:
        return base64.b64encode(os.urandom(n)).decode()

    tree = Mapping(
        [
            ("cluster", Mapping([("id", blob(32)), ("secret", blob(32))])),
            (
                "secrets",
                Mapping([("bootstraptoken", "abcdef.0123456789abcdef"), ("secretboxencryptionsecret", blob(32))]),
            ),
            ("trustdinfo", Mapping([("token", "uvwxyz.0123456789abcdef")])),
        ]
    )
    certs = Mapping()
    remaining = values - 5
    i = 0
    while remaining > 0:
        pair = Mapping([("crt", blob(560))] + ([("key", blob(220))] if remaining > 1 else []))
        certs.append((f"ca{i}", pair))
        remaining -= len(pair)
        i += 1
    tree.append(("certs", certs))
    return tree


def _time(path: Path, key_file: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sops.decrypt_file(path, age_key_file=key_file)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=51)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ident = pyrage.x25519.Identity.generate()
        key_file = Path(tmp) / "age.key"
        key_file.write_text(f"{ident}\n")
        tree = talsecret()
        out, _ = api.encrypt_branches(
            [tree],
            fmt="yaml",
            recipients=(str(ident.to_public()),),
            rule=sops.CryptRule("encrypted_regex", "^(cluster|secrets|trustdinfo|certs)$"),
            mac_only_encrypted=True,
        )
        path = Path(tmp) / "talsecret.sops.yaml"
        path.write_bytes(out)
        data = sops.decrypt_file(path, age_key_file=key_file)  # warm imports and caches
        leaves = sum(len(v) if isinstance(v, dict) else 1 for v in data["certs"].values()) + 5
        times = _time(path, key_file, args.runs)
        # A file with comments goes through PyYAML's pure-Python scanner (comments must be kept).
        commented = Path(tmp) / "commented.sops.yaml"
        commented.write_bytes(b"# talhelper gensecret | sops -e\n" + out)
        commented_times = _time(commented, key_file, args.runs)
    median = statistics.median(times)
    print(f"talsecret: {leaves} encrypted values, {len(out)} bytes")
    print(f"decrypt runs: {args.runs}, median {median:.2f} ms, min {min(times):.2f} ms, max {max(times):.2f} ms")
    print(f"same file with a comment: median {statistics.median(commented_times):.2f} ms")
    print(json.dumps({"decrypt_talsecret_median_ms": round(median, 3)}))


if __name__ == "__main__":
    main()
