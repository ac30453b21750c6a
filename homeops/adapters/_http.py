"""JSON over HTTP for the adapters of tools that are services (Alertmanager, Prometheus), with urllib.

Every call has a timeout and ends in a value or one ``HomeopsError`` line: ``ConnectionFailed`` when
nothing answered (refused, timed out, DNS), ``ApiError`` when something answered with an error status
or a body that is not JSON. Credentials written into the URL (``https://user:pass@host``) are sent as
HTTP basic auth and never appear in a message.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from homeops.errors import ApiError, ConnectionFailed
from homeops.inventory.checks import service_url_problem

#: Seconds one request may take; a service that takes longer is treated as not answering.
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    """A service's base URL, split into what is sent and what is shown."""

    base: str  # scheme://host[:port][/prefix], without credentials or a trailing slash
    authorization: str | None = None  # "Basic …" from user:pass@ in the configured URL

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """``ValueError`` (one line, credentials masked) unless ``url`` is an http(s) URL with a host."""
        problem = service_url_problem(url.strip())
        if problem:
            raise ValueError(problem)  # the loader's own check: one reading of a service URL, one wording
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(base, authorization)

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        suffix = ""
        if query:
            suffix = "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
        return f"{self.base}{path}{suffix}"


class Service:
    """A client of one service by its base URL; a subclass names the service and sends with ``_call``."""

    service = ""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = Endpoint.parse(url)
        self.timeout = timeout

    @property
    def url(self) -> str:
        return self.endpoint.base

    def _call(self, method: str, path: str, *, body: Any = None) -> Any:
        return call(self.service, self.endpoint, method, path, body=body, timeout=self.timeout)


def call(
    service: str,
    endpoint: Endpoint,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """Send one request and return its JSON answer (``None`` for an empty body)."""
    url = endpoint.url(path, query)
    what = f"{service} {method} {url}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if endpoint.authorization:
        request.add_header("Authorization", endpoint.authorization)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = _first_line(exc.read())
        raise ApiError(f"{what}: HTTP {exc.code}{': ' + detail if detail else ''}", status=exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = "timed out" if isinstance(reason, socket.timeout | TimeoutError) else str(reason)
        raise ConnectionFailed(
            f"{what}: cannot connect: {text}", hint=f"is {service} running at {endpoint.base}?"
        ) from None
    except TimeoutError:
        raise ConnectionFailed(
            f"{what}: no answer within {timeout:g}s", hint=f"is {service} at {endpoint.base} overloaded?"
        ) from None
    except (OSError, ValueError) as exc:  # a reset mid-body, an http.client protocol error (ValueError subclasses)
        raise ConnectionFailed(f"{what}: {type(exc).__name__}: {exc}") from None
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(f"{what}: answered with something that is not JSON: {_first_line(raw)}") from None


def _first_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 200 else line[:199] + "…"
