"""homeops.yaml ``notify:``: typed, one-line errors, URLs from the file, a SOPS file and $HOMEOPS_NOTIFY_URLS — and
never shown, not even in the error that refuses them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeops.errors import ConfigError
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import DEFAULT_NOTIFY_EVENTS, NotifyConfig
from homeops.policies.notify import notifier_from, resolve_urls, split_urls
from homeops.secrets import mask

BASE = """\
cluster:
  name: home
  endpoint: https://10.10.0.10:6443
  talosVersion: v1.11.6
  kubernetesVersion: v1.34.2
nodes:
  - { hostname: k8s-0, ip: 10.10.0.20, controlPlane: true }
"""


def inventory(tmp_path: Path, notify: str) -> Path:
    (tmp_path / "homeops.yaml").write_text(BASE + textwrap.dedent(notify))
    return tmp_path


def test_a_notify_section_is_read_into_a_typed_config(tmp_path: Path) -> None:
    inv = load_inventory(
        inventory(
            tmp_path,
            """\
            notify:
              urls: [json://127.0.0.1:9/hook/Cfg1Token, "ntfys://ntfy.sh/homeops-Xk2p9"]
              urlsFile: notify.sops.yaml
              events: [started, node-failed, failed, started]
              timeout: 3
            """,
        )
    )
    config = inv.notify
    assert [u.reveal() for u in config.urls] == ["json://127.0.0.1:9/hook/Cfg1Token", "ntfys://ntfy.sh/homeops-Xk2p9"]
    assert config.urls_file == tmp_path / "notify.sops.yaml"
    assert config.events == ("started", "node-failed", "failed")
    assert config.timeout == 3.0
    assert "Cfg1Token" not in mask("sent to json://127.0.0.1:9/hook/Cfg1Token (Cfg1Token)")
    assert "Xk2p9" not in repr(config)  # the URLs are Secret values


def test_without_a_notify_section_nothing_is_configured(tmp_path: Path) -> None:
    config = load_inventory(inventory(tmp_path, "")).notify
    assert config == NotifyConfig()
    assert "node-done" not in DEFAULT_NOTIFY_EVENTS and "failed" in DEFAULT_NOTIFY_EVENTS
    assert notifier_from(config, environ={}) is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "notify: { events: [started, node-faild] }",
            "notify.events[1]: unknown event 'node-faild' — known: started, node-done, node-failed, stuck, finished,"
            " failed, interrupted, stopped",
        ),
        ("notify: { events: started }", "notify.events: must be a list of event names, not 'started'"),
        ("notify: { urls: json://127.0.0.1/Sec4etInline }", "notify.urls: must be a list of Apprise URLs (strings)"),
        ("notify: { urls: [Sec4etNoScheme] }", "notify.urls[0]: is not a URL (schema://…)"),
        ("notify: { timeout: 0 }", "notify.timeout: must be a number of seconds > 0, not '0'"),
        ("notify: { url: [json://x] }", "notify.url: unknown key; did you mean urls?"),
        ("notify: [json://x]", "notify: must be a mapping, not a list"),
    ],
)
def test_bad_notify_settings_are_one_line_errors_that_never_quote_a_url(
    tmp_path: Path, section: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory(inventory(tmp_path, section + "\n"))
    message = str(info.value)
    assert message == f"{tmp_path / 'homeops.yaml'}: {expected}" or message.startswith(
        f"{tmp_path / 'homeops.yaml'}: {expected}"
    ), message
    assert "\n" not in message
    assert "Sec4et" not in message


def test_urls_from_the_environment_are_split_on_whitespace_and_commas_and_masked() -> None:
    assert split_urls(" json://a/1,json://b/2\n  ntfy://c/3 ,, ") == ["json://a/1", "json://b/2", "ntfy://c/3"]
    config = NotifyConfig(urls=())
    urls = resolve_urls(config, environ={"HOMEOPS_NOTIFY_URLS": "json://127.0.0.1:9/Env1Tok3n, tgram://B0tT0ken/1"})
    assert [u.reveal() for u in urls] == ["json://127.0.0.1:9/Env1Tok3n", "tgram://B0tT0ken/1"]
    assert mask("Env1Tok3n and B0tT0ken") == "****** and ******"
    with pytest.raises(ConfigError, match=r"^\$HOMEOPS_NOTIFY_URLS: entry 2 is not a URL") as info:
        resolve_urls(config, environ={"HOMEOPS_NOTIFY_URLS": "json://x/1 EnvN0tAUrl9"})
    assert "EnvN0tAUrl9" not in str(info.value)


def test_urls_from_a_sops_file(tmp_path: Path) -> None:
    import pyrage

    from homeops import sops

    identity = pyrage.x25519.Identity.generate()
    key = tmp_path / "age.key"
    key.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: .*\\.sops\\.yaml$\n    age: {identity.to_public()}\n"
    )
    secret = tmp_path / "notify.sops.yaml"
    secret.write_text("urls:\n  - json://127.0.0.1:9/S0psTokenA\n  - ntfys://ntfy.sh/S0psTopicB\n")
    sops.encrypt_file(secret, config=tmp_path / ".sops.yaml", in_place=True)
    assert "S0psTokenA" not in secret.read_text()

    config = NotifyConfig(urls_file=secret)
    urls = resolve_urls(config, environ={"HOMEOPS_NOTIFY_URLS": "json://127.0.0.1:9/S0psTokenA"}, age_key_file=key)
    assert [u.reveal() for u in urls] == ["json://127.0.0.1:9/S0psTokenA", "ntfys://ntfy.sh/S0psTopicB"]  # no twice
    assert mask("S0psTokenA S0psTopicB") == "****** ******"
    notifier = notifier_from(config, environ={}, age_key_file=key)
    assert notifier is not None and len(notifier.urls) == 2

    wrong = tmp_path / "wrong.key"
    wrong.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    with pytest.raises(ConfigError, match=r"notify.sops.yaml: notify.urlsFile: cannot be decrypted") as info:
        resolve_urls(config, environ={}, age_key_file=wrong)
    assert "\n" not in str(info.value)

    plain = tmp_path / "empty.sops.yaml"
    plain.write_text("urls: []\n")
    sops.encrypt_file(plain, config=tmp_path / ".sops.yaml", in_place=True)
    with pytest.raises(ConfigError, match=r"empty.sops.yaml: must hold urls: a list of Apprise URLs"):
        resolve_urls(NotifyConfig(urls_file=plain), environ={}, age_key_file=key)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["urls", "urlsFile", "events", "timeout"]), _VALUES, max_size=4))
def test_any_notify_section_loads_or_is_one_line_error(tmp_path: Path, section: dict[str, object]) -> None:
    (tmp_path / "homeops.yaml").write_text(BASE + yaml.safe_dump({"notify": section}))
    try:
        config = load_inventory(tmp_path).notify
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{tmp_path / 'homeops.yaml'}: notify")
    else:
        assert all("://" in url.reveal() for url in config.urls) and config.timeout > 0
