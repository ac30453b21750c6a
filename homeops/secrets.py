"""Masking of secret values everywhere text leaves homeops (logs, errors, plans, reports).

``Secret`` wraps a plaintext value so that ``str``/``repr``/f-strings show ``******``; only
``.reveal()`` gives the value back. ``Masker`` holds the plaintexts known to be secret in this
process and replaces them in any text before it is printed or logged. Runners register the
values they pass to commands (``Runner.run(..., secrets=[...])``) so a failing command's
message never shows them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Generic, TypeVar
from urllib.parse import unquote, urlsplit

MASK = "******"

# Values that SOPS files encrypt wholesale (``encrypted_regex: .*``) but that are no secret: versions,
# numbers and booleans. Masking them would turn "upgrade to v1.11.6" into "upgrade to ******"
# everywhere, which hides what a plan does without protecting anything.
# A long run of digits may be a PIN or an account number, so only short numbers are exempt.
_NOT_SECRET = re.compile(
    r"^(v?\d+(\.\d+)+([-+][0-9A-Za-z.-]+)?|v?\d{1,6}|true|false|yes|no|on|off|null)$", re.IGNORECASE
)

T = TypeVar("T")


class Secret(Generic[T]):
    """A value that never prints. Compare and hash by value; reveal explicitly."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and bool(other._value == self._value)

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write plaintext somewhere we do not control.
        raise TypeError("Secret values cannot be pickled")


class Masker:
    """Replaces every registered secret string in a text with ``******``.

    Thread-safe; short values (under 4 characters) are not registered because masking them would
    garble ordinary output without protecting anything.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, *values: str | Secret[str] | None) -> None:
        with self._lock:
            for value in values:
                if value is None:
                    continue
                text = value.reveal() if isinstance(value, Secret) else value
                if len(text) >= 4 and not _NOT_SECRET.match(text.strip()):
                    self._values.add(text)
                    # Multi-line secrets (keys, certificates) leak line by line too.
                    for line in text.splitlines():
                        if len(line.strip()) >= 8:
                            self._values.add(line.strip())

    def extend(self, values: Iterable[str]) -> None:
        self.add(*values)

    def mask(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


#: The process-wide masker every runner, logger and error printer uses.
MASKER = Masker()


def _token_like(part: str) -> bool:
    # Notification URLs carry their tokens in any component (tgram://BOTTOKEN/chat, discord://id/token,
    # ntfy://topic): a long part with a digit, mixed case or a - or _ (a chosen topic) is treated as one; a
    # plain word (hooks, services), a dotted host name or an IP address is not, or it would be masked in
    # every line that happens to use it.
    if len(part) < 8 or "." in part:
        return False
    return any(c.isdigit() or c in "-_" for c in part) or (part.lower() != part and part.upper() != part)


def add_url(url: str) -> Secret[str]:
    """Register a URL that carries credentials (an Apprise URL) and its token-like parts as secrets.

    The whole URL is masked; so are its password and any long, token-like user, host, path segment or
    query value, because an error message may quote one part alone (``… to host TOKEN``).
    """
    MASKER.add(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host: the whole string is masked, which is what matters
        return Secret(url)
    netloc = parts.netloc.rpartition("@")
    if netloc[1]:
        MASKER.add(unquote(netloc[0].partition(":")[2]) or None)  # the password, however short or plain
    pieces = re.split(r"[@:]", parts.netloc) + parts.path.split("/")
    pieces += [value for item in parts.query.split("&") for value in item.split("=", 1)[1:]]
    MASKER.extend(unquote(piece) for piece in pieces if _token_like(unquote(piece)))
    return Secret(url)


def mask(text: str) -> str:
    """Mask every known secret in ``text`` (shortcut for ``MASKER.mask``)."""
    return MASKER.mask(text)
