"""Built-in dataset profiles and user profiles from TOML."""

import json
import tomllib

import pytest

from aeids.exceptions import ConfigError
from aeids.profiles import PROFILES, Profile, get_profile, load_profile


def test_builtins_present():
    assert set(PROFILES) == {
        "nsl-kdd",
        "nsl-kdd-fine",
        "unsw-nb15",
        "cic-ids2017",
        "edge-iiotset",
    }
    assert get_profile("unsw-nb15").drop == ("id",)
    assert get_profile("unsw-nb15").binary_label == "label"


def test_nsl_kdd_profiles():
    coarse, fine = get_profile("nsl-kdd"), get_profile("nsl-kdd-fine")
    assert len(coarse.names) == 43 and coarse.names[-2:] == ("label", "difficulty")
    assert set(coarse.label_map.values()) == {"normal", "DoS", "Probe", "R2L", "U2R"}
    assert coarse.label_map["guess_passwd"] == "R2L"
    assert not fine.label_map


def test_edge_profile_maps_fingerprinting():
    edge = get_profile("edge-iiotset")
    assert edge.label_map["OS_Fingerprinting"] == "Fingerprinting"
    assert edge.bad_cells == "missing"


def test_unknown_profile():
    with pytest.raises(ConfigError, match="Unknown profile 'kdd'.*nsl-kdd"):
        get_profile("kdd")


def test_profile_is_frozen_and_validated():
    with pytest.raises(ConfigError, match="bad_cells must be one of"):
        Profile(name="x", label="y", bad_cells="skip")
    with pytest.raises(TypeError):
        get_profile("cic-ids2017").label_map["a"] = "b"


def _toml(data):
    # JSON strings and arrays of strings are valid TOML values.
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines = [f"{key} = {json.dumps(value)}" for key, value in scalars.items()]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_toml_round_trip(tmp_path):
    original = get_profile("edge-iiotset")
    data = {k: v for k, v in original.to_dict().items() if v is not None}
    path = tmp_path / "edge.toml"
    path.write_text(_toml(data))
    assert tomllib.loads(path.read_text())["name"] == "edge-iiotset"
    assert load_profile(path) == original


def test_minimal_toml(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name = "flows"\nlabel = "Label"\ndrop = ["Flow ID"]\n')
    profile = load_profile(path)
    assert profile.drop == ("Flow ID",) and profile.bad_cells == "error"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('name = "a"\nlabel = "b"\ncolour = "red"\n', r"unknown keys \['colour'\]"),
        ('name = "a"\nlabel = "b"\ndrop = "id"\n', "'drop' must be of type array"),
        ('name = "a"\nlabel = "b"\ndrop = [1]\n', "every entry of 'drop'"),
        ('name = "a"\n', "lacks the required key 'label'"),
        ('name = "a"\nlabel = \n', "not valid TOML"),
        ('name = "a"\nlabel = "b"\nbad_cells = "skip"\n', "bad_cells must be"),
    ],
)
def test_bad_toml(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_profile(path)


def test_missing_toml(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read profile file"):
        load_profile(tmp_path / "absent.toml")
