"""Alertmanager's HTTP API v2: silences — create, read, extend (same id), expire.

Modelled on prometheus/alertmanager v0.25.0 (Debian bookworm's ``prometheus-alertmanager`` 0.25.0-1,
which the tests run for real):

- ``POST /api/v2/silences`` creates a silence, or updates the one whose ``id`` it carries, and answers
  ``{"silenceID": …}`` (api/v2/api.go ``postSilencesHandler``, line 629). ``endsAt`` in the past is refused.
- An update keeps its id only when the matchers are unchanged and, for an active silence, ``startsAt``
  is the same second; anything else expires the old silence and answers a *new* id; an id it does not
  know is HTTP 404 (silence/silence.go ``Set`` line 548, ``canUpdate`` line 585). So ``extend`` sends
  back the matchers and ``startsAt`` it read, and reports when the id changed.
- ``GET /api/v2/silence/{id}`` reads one (``status.state``: active, pending or expired; line 595);
  ``DELETE /api/v2/silence/{id}`` expires it — idempotent on an expired one (line 618, silence.go
  ``expire`` line 620).
- A silence whose matchers all match the empty label set is refused (silence.go ``validateSilence``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeops.adapters._http import Service
from homeops.errors import ApiError
from homeops.inventory.matchers import Matcher, MatchOp

SERVICE = "alertmanager"


@dataclass(frozen=True)
class Silence:
    id: str
    state: str  # active, pending, expired
    matchers: tuple[Matcher, ...]
    starts_at: str  # as Alertmanager wrote it: an update must send back the very same second
    ends_at: float  # seconds since the epoch
    created_by: str
    comment: str


class Alertmanager(Service):
    """One Alertmanager, by its base URL (``http://alertmanager:9093``, or a prefix behind a proxy)."""

    service = SERVICE

    def create(
        self, matchers: Sequence[Matcher], *, ends_at: float, created_by: str, comment: str, starts_at: float
    ) -> str:
        body = silence_body(matchers, starts_at=timestamp(starts_at), ends_at=ends_at, by=created_by, comment=comment)
        return _silence_id(self._call("POST", "/api/v2/silences", body=body))

    def get(self, silence_id: str) -> Silence:
        return parse_silence(self._call("GET", f"/api/v2/silence/{silence_id}"))

    def extend(self, silence: Silence, *, ends_at: float) -> str:
        """Move ``silence``'s end to ``ends_at``; the answer is its id (a new one if Alertmanager replaced it)."""
        body = silence_body(
            silence.matchers,
            starts_at=silence.starts_at,
            ends_at=ends_at,
            by=silence.created_by,
            comment=silence.comment,
        )
        body["id"] = silence.id
        return _silence_id(self._call("POST", "/api/v2/silences", body=body))

    def expire(self, silence_id: str) -> None:
        self._call("DELETE", f"/api/v2/silence/{silence_id}")


def silence_body(
    matchers: Sequence[Matcher], *, starts_at: str, ends_at: float, by: str, comment: str
) -> dict[str, Any]:
    """A ``postableSilence`` (api/v2/openapi.yaml): matchers carry ``isRegex`` and ``isEqual``."""
    return {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal} for m in matchers
        ],
        "startsAt": starts_at,
        "endsAt": timestamp(ends_at),
        "createdBy": by,
        "comment": comment,
    }


def parse_silence(data: Any) -> Silence:
    """A ``gettableSilence``; ``ApiError`` naming the field when the answer is not one."""
    if not isinstance(data, dict):
        raise ApiError(f"{SERVICE}: a silence should be a JSON object, not {type(data).__name__}")
    try:
        matchers = tuple(_matcher(m) for m in data["matchers"])
        return Silence(
            id=str(data["id"]),
            state=str(data["status"]["state"]),
            matchers=matchers,
            starts_at=str(data["startsAt"]),
            ends_at=parse_time(str(data["endsAt"])),
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(f"{SERVICE}: unexpected silence {str(data)[:200]}: {type(exc).__name__} {exc}") from None


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, as Alertmanager writes them (go-openapi strfmt.DateTime)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(seconds * 1000) % 1000:03d}Z"


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> float:
    """RFC 3339 (Go may write up to nine fraction digits; Python reads six)."""
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00"))).timestamp()


def _matcher(data: Any) -> Matcher:
    regex, equal = bool(data.get("isRegex", False)), bool(data.get("isEqual", True))
    op: MatchOp = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
    return Matcher(str(data["name"]), op, str(data["value"]))


def _silence_id(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("silenceID"), str) and data["silenceID"]:
        return str(data["silenceID"])
    raise ApiError(f'{SERVICE}: a created silence should answer {{"silenceID": …}}, not {str(data)[:200]}')
