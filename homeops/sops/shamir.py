"""Recombining a data key split over several key groups (sops shamir/shamir.go, HashiCorp Vault's scheme).

Each share is 32 bytes of y-values plus the x-coordinate in the last byte; the secret is the
Lagrange interpolation at x = 0 over GF(2^8) with the AES polynomial, byte by byte.
"""

from __future__ import annotations

from collections.abc import Sequence


def _mul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return result


def _inv(a: int) -> int:
    # a^254 = a^-1 in GF(2^8)
    result, base, exp = 1, a, 254
    while exp:
        if exp & 1:
            result = _mul(result, base)
        base = _mul(base, base)
        exp >>= 1
    return result


def combine(shares: Sequence[bytes]) -> bytes:
    if len(shares) < 2:
        raise ValueError("less than two parts cannot be used to reconstruct the secret")
    length = len(shares[0])
    if length < 2 or any(len(s) != length for s in shares):
        raise ValueError("all parts must be the same length")
    xs = [s[-1] for s in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("duplicate part detected")
    secret = bytearray(length - 1)
    for idx in range(length - 1):
        value = 0
        for i, xi in enumerate(xs):
            num, den = 1, 1
            for j, xj in enumerate(xs):
                if i != j:
                    num = _mul(num, xj)
                    den = _mul(den, xi ^ xj)
            value ^= _mul(shares[i][idx], _mul(num, _inv(den)))
        secret[idx] = value
    return bytes(secret)
