"""What a valid inventory value looks like, and which values must not repeat.

argv is never a shell, so none of these could inject a command; they are refused because a value
like ``10.10.0.299``, ``k8s-4;reboot`` or an SSH user ``-oProxyCommand=…`` can only be a mistake, and
because two nodes sharing an IP make a rolling upgrade hit one machine twice and report the other
done. Each check returns the problem as text (``None`` when the value is fine); the readers turn
it into a ``ConfigError`` naming their file and field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

# RFC 1123 names, dotted; talhelper hostnames and SSH host names alike.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
# POSIX-ish login names (useradd's rule, plus upper case); never starting with '-'.
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
# An OCI reference: registry/path[:tag][@digest]; no spaces, quotes or shell characters.
_IMAGE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9]+)?"  # registry[:port] or first path part
    r"(?:/[A-Za-z0-9._-]+)*"  # path
    r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"  # tag
    r"(?:@[A-Za-z0-9]+:[A-Fa-f0-9]+)?"  # digest
)


def ip_problem(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return f"'{text}' is not an IP address"
    return None


def hostname_problem(text: str) -> str | None:
    if _HOSTNAME.fullmatch(text) and not re.fullmatch(r"[\d.]+", text):
        return None
    return f"'{text}' is not a valid hostname (letters, digits, '-' and '.')"


def address_problem(text: str) -> str | None:
    """An SSH host address: an IP or a DNS name."""
    if re.fullmatch(r"[\d.]+", text) or ":" in text:
        return ip_problem(text)
    if _HOSTNAME.fullmatch(text):
        return None
    return f"'{text}' is neither an IP address nor a host name"


def user_problem(text: str) -> str | None:
    if _USER.fullmatch(text):
        return None
    if text.startswith("-"):
        return f"'{text}' starts with '-' (ssh would read it as an option)"
    return f"'{text}' is not a valid user name"


def endpoint_problem(text: str) -> str | None:
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        return f"'{text}' is not a URL ({exc})"
    if url.scheme not in ("https", "http") or not url.hostname:
        return f"'{text}' is not a URL like https://10.10.0.10:6443"
    host = url.hostname
    if address_problem(host) is not None:
        return f"'{text}': '{host}' is not a host name or IP address"
    del port
    return None


def image_problem(text: str) -> str | None:
    if _IMAGE.fullmatch(text):
        return None
    return f"'{text}' is not an image reference (registry/path[:tag][@digest])"


def first_repeat(values: Iterable[tuple[str, str]]) -> tuple[str, str, str] | None:
    """The first (value, where it repeats, where it was first) among (value, where) pairs."""
    seen: dict[str, str] = {}
    for value, where in values:
        if value in seen:
            return value, where, seen[value]
        seen[value] = where
    return None


def service_url_problem(text: str) -> str | None:
    """A service's base URL (Alertmanager, Prometheus): http(s), a host, a valid port, no query."""
    # Credentials are never echoed: all before the netloc's last @ (as urlsplit splits it), with or without a scheme.
    shown = re.sub(r"^((?:[^:/?#]+:)?//)?[^/?#]*@", lambda m: f"{m[1] or ''}***@", text)
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # .port raises on a non-numeric or out-of-range port
    except ValueError as exc:
        return f"'{shown}' is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not host:
        return f"'{shown}' is not an http:// or https:// URL with a host"
    if parts.query or parts.fragment:
        return f"'{shown}': a base URL takes no ?query or #fragment"
    return None
