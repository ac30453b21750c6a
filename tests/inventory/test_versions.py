"""Version parsing, normalisation and ordering (SemVer §11), including property-based round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeops.errors import ConfigError
from homeops.inventory.versions import Version, normalise_version, parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.11.6", "v1.11.6"),
        ("1.29.2", "v1.29.2"),  # truxnell's kubernetesVersion has no v
        ("V1.10.0", "v1.10.0"),
        (" v1.12.0-beta.2 ", "v1.12.0-beta.2"),
        ("v1.13.0-alpha.2", "v1.13.0-alpha.2"),
        ("v1.9.4+build.7", "v1.9.4+build.7"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise_version(text) == expected


@pytest.mark.parametrize(
    "text", ["", "latest", "v1.10", "1", "v1.2.3.4", "v01.2.3", "v1.2.3-", "v1.2.3-beta.01", "１.２.３"]
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a version"):
        Version.parse(text)


def test_parse_version_names_file_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_version("latest", file="talconfig.yaml", field="talosVersion")
    assert str(info.value).startswith("talconfig.yaml: talosVersion: not a version: 'latest'")


def test_ordering_follows_semver() -> None:
    ordered = [
        "v1.9.6",
        "v1.10.0-alpha.1",
        "v1.10.0-alpha.beta",
        "v1.10.0-beta.2",
        "v1.10.0-beta.11",
        "v1.10.0-rc.1",
        "v1.10.0",
        "v1.10.9",
        "v1.11.0",
    ]
    parsed = [Version.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert Version.parse("v1.2.3+a") == Version.parse("1.2.3+b")  # build metadata does not order


def test_series_and_bare() -> None:
    v = Version.parse("v1.11.6")
    assert v.minor == 11
    assert v.series == (1, 11)
    assert v.series_name == "v1.11"
    assert v.bare == "1.11.6"
    assert v.same_series(Version.parse("1.11.0-beta.1"))
    assert not v.same_series(Version.parse("v1.12.0"))
    assert Version.parse("v1.12.0-beta.2").release() == Version.parse("v1.12.0")
    assert Version.parse("v1.12.0-beta.2").is_prerelease


_num = st.integers(min_value=0, max_value=10_000)
_ident = st.one_of(
    st.integers(min_value=0, max_value=999).map(str),
    st.from_regex(r"[a-zA-Z-][0-9a-zA-Z-]{0,6}", fullmatch=True),
)
versions = st.builds(Version, _num, _num, _num, st.lists(_ident, max_size=3).map(tuple))


@given(versions, st.sampled_from(["v", "V", ""]))
def test_round_trip(version: Version, prefix: str) -> None:
    assert Version.parse(str(version)) == version
    assert Version.parse(prefix + version.bare) == version
    assert str(Version.parse(prefix + version.bare)) == str(version)


@given(versions, versions)
def test_order_is_total_and_consistent(a: Version, b: Version) -> None:
    assert (a < b) + (a == b) + (a > b) == 1
    if a.release() != b.release():
        assert (a < b) == ((a.major, a.minor, a.patch) < (b.major, b.minor, b.patch))
    if a.prerelease and not b.prerelease and a.release() == b.release():
        assert a < b


def test_public_api_resolves() -> None:
    import homeops.inventory as api

    for name in api.__all__:
        assert getattr(api, name) is not None
    with pytest.raises(AttributeError):
        _ = api.nope  # type: ignore[attr-defined]


def test_all_lists_exactly_the_lazy_exports() -> None:
    import homeops.inventory as api

    assert sorted(api.__all__) == sorted(api._EXPORTS)
