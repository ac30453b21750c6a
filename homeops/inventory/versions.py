"""Talos and Kubernetes version strings: parse once, compare as values.

Real talconfigs write versions as ``v1.11.6``, ``1.29.2`` (no ``v``), ``v1.12.0-beta.2`` or quoted
numbers; tools disagree on the ``v`` too (``talosctl upgrade-k8s --to`` wants ``1.34.2`` or ``v1.34.2``,
installer tags want ``v1.11.6``). ``Version`` is the one normalised form: ``str(v)`` is always
``vMAJOR.MINOR.PATCH[-PRE]``; ``v.bare`` drops the ``v``. Ordering follows SemVer 2.0 §11
(a pre-release sorts before its release; build metadata is kept but never ordered on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import total_ordering

from homeops.errors import ConfigError

# Lenient on the prefix (v, V or none) and surrounding space; strict on the parts (SemVer, patch required).
_VERSION_RE = re.compile(
    r"""^\s*[vV]?
    (?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)
    (?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    (?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*\Z""",
    re.VERBOSE,
)


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int = 0
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``v1.2.3``, ``1.2.3`` or ``v1.2.3-beta.2``; ValueError otherwise (``v1.2`` names no release)."""
        match = _VERSION_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a version: {text!r} (expected vMAJOR.MINOR.PATCH, e.g. v1.11.6)")
        pre = match["pre"]
        if pre:
            for part in pre.split("."):
                if part.isdigit() and len(part) > 1 and part.startswith("0"):
                    raise ValueError(f"not a version: {text!r} (numeric pre-release part {part!r} has a leading zero)")
        return cls(
            major=int(match["major"]),
            minor=int(match["minor"]),
            patch=int(match["patch"]),
            prerelease=tuple(pre.split(".")) if pre else (),
            build=tuple(match["build"].split(".")) if match["build"] else (),
        )

    @property
    def bare(self) -> str:
        """Without the leading ``v``: ``1.34.2``."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def series(self) -> tuple[int, int]:
        """The minor line ``(major, minor)``; Talos upgrades step through these one at a time."""
        return (self.major, self.minor)

    @property
    def series_name(self) -> str:
        return f"v{self.major}.{self.minor}"

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def same_series(self, other: Version) -> bool:
        return self.series == other.series

    def release(self) -> Version:
        """This version without pre-release or build parts."""
        return Version(self.major, self.minor, self.patch)

    def __str__(self) -> str:
        return "v" + self.bare

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after all of its pre-releases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)


def parse_version(text: str, *, file: str | None = None, field: str | None = None) -> Version:
    """``Version.parse`` that fails as a ``ConfigError`` naming where the text came from."""
    try:
        return Version.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, field=field, hint="write it like v1.11.6") from None


def normalise_version(text: str) -> str:
    """``1.29.2`` → ``v1.29.2``; ``v1.12.0-beta.2`` unchanged. ValueError if it is not a version."""
    return str(Version.parse(text))
