"""A real Alertmanager and a real Prometheus on 127.0.0.1, for the silence and alert-gate tests.

Debian's ``prometheus-alertmanager`` (0.25.0) and ``prometheus`` (2.42.0), installed by ``scripts/test``,
run as plain processes on free ports with their config and data in a temp directory — no systemd, no
packaged service, nothing on the default ports. One pair per pytest worker (session scope); every test
works on its own silences and its own switchable alert, so tests stay independent under xdist.

Prometheus evaluates every second and sends to the Alertmanager (within ~6 s of its start: notifier
discovery updates every 5 s). Its rules:

- ``HomeopsTestAlwaysFiring`` on ``vector(1)``, ``for: 0s``, labelled ``severity=warning, cluster=home``:
  firing from the first evaluation on;
- ``HomeopsTestAlwaysPending`` on ``vector(1)`` with ``for: 1h``: pending, never firing, in any test run;
- one ``HomeopsSwitch…`` alert per ``switch`` a test asks for: its expression is ``vector(1)`` while on and
  ``vector(0) > 1`` (empty) while off; switching rewrites the rule file and POSTs ``/-/reload``
  (``--web.enable-lifecycle``), which returns once the new rules are loaded.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import cannot_run

STARTUP_SECONDS = 20.0
ALWAYS_FIRING = "HomeopsTestAlwaysFiring"
ALWAYS_PENDING = "HomeopsTestAlwaysPending"


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path is None:
        cannot_run(f"{name} is not installed (Debian package {name}; ./scripts/test installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies (a killed worker must not leave a Prometheus running)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
            if _get(f"{self.url}/-/ready")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {STARTUP_SECONDS:g}s at {self.url}: {self.tail()}")

    def tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _start(name: str, argv: Callable[[int], list[str]], workdir: Path) -> Service:
    """Start on a free port; a port taken between choosing and binding (another worker) gets another try."""
    for attempt in range(3):
        port = _free_port()
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv(port), stdout=out, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=_die_with_parent
            )
        service = Service(name, f"http://127.0.0.1:{port}", process, log)
        try:
            service.wait_ready(time.monotonic() + STARTUP_SECONDS)
            return service
        except RuntimeError:
            service.stop()
            if attempt == 2 or "address already in use" not in service.tail():
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    binary = _binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("alertmanager")
    config = workdir / "alertmanager.yml"
    # Every alert goes to a receiver with no integration: the tests read silences and alerts over the API.
    config.write_text('route: {receiver: "null", group_wait: 0s}\nreceivers: [{name: "null"}]\n')
    service = _start(
        "alertmanager",
        lambda port: [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no HA gossip port (it would take 9094)
            "--log.level=warn",
        ],
        workdir,
    )
    yield service
    service.stop()


@dataclass
class PrometheusService:
    service: Service
    rules: Path
    switches: dict[str, bool] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.service.url

    def switch(self, name: str, on: bool) -> None:
        """Turn the alert ``name`` on or off and reload the rules (returns once they are loaded)."""
        self.switches[name] = on
        self.rules.write_text(_rules(self.switches))
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, f"reload answered {response.status}"

    def firing(self) -> set[str]:
        status, body = _get(f"{self.url}/api/v1/alerts")
        assert status == 200, f"/api/v1/alerts answered {status}"
        return {a["labels"]["alertname"] for a in json.loads(body)["data"]["alerts"] if a["state"] == "firing"}

    def wait_until(self, name: str, firing: bool, within: float = 10.0) -> float:
        """Seconds it took until ``name`` is (or is no longer) firing in /api/v1/alerts."""
        start = time.monotonic()
        while (name in self.firing()) != firing:
            if time.monotonic() - start > within:
                raise AssertionError(f"{name} still {'not ' if firing else ''}firing after {within:g}s")
            time.sleep(0.1)
        return time.monotonic() - start


def _rules(switches: dict[str, bool]) -> str:
    rules = [
        {
            "alert": ALWAYS_FIRING,
            "expr": "vector(1)",
            "for": "0s",
            "labels": {"severity": "warning", "cluster": "home"},
        }
    ]
    # Active but never firing: its ``for:`` outlasts every test run.
    rules.append({"alert": ALWAYS_PENDING, "expr": "vector(1)", "for": "1h", "labels": {"severity": "critical"}})
    for name, on in sorted(switches.items()):
        expr = "vector(1)" if on else "vector(0) > 1"
        rules.append({"alert": name, "expr": expr, "for": "0s", "labels": {"severity": "critical", "cluster": "home"}})
    return json.dumps({"groups": [{"name": "homeops-test", "interval": "1s", "rules": rules}]}, indent=1)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, alertmanager: Service) -> Iterator[PrometheusService]:
    binary = _binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    rules = workdir / "rules.yml"
    rules.write_text(_rules({}))
    config = workdir / "prometheus.yml"
    am_host = alertmanager.url.removeprefix("http://")
    # JSON is YAML: no YAML writer needed.
    config.write_text(
        json.dumps(
            {
                "global": {"evaluation_interval": "1s", "scrape_interval": "1m"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_host]}]}]},
            }
        )
    )
    service = _start(
        "prometheus",
        lambda port: [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            # The first send happens before the notifier has discovered the Alertmanager (its discovery
            # updates every 5 s) and is lost; resend every second instead of every minute.
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ],
        workdir,
    )
    prom = PrometheusService(service, rules)
    try:
        prom.wait_until(ALWAYS_FIRING, True, within=STARTUP_SECONDS)
    except AssertionError:
        service.stop()
        raise
    yield prom
    service.stop()


@pytest.fixture
def switch_name(request: pytest.FixtureRequest) -> str:
    """An alert name of this test's own (a switch no other test turns)."""
    return "HomeopsSwitch" + "".join(ch for ch in request.node.name.title() if ch.isalnum())[:60]


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (connection refused at once)."""
    return _free_port()
