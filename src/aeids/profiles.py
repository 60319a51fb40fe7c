"""Known dataset layouts, kept as data.

A :class:`Profile` says how to read one family of files: which column holds
the class label, which columns are identifiers to drop, which text columns are
categorical, how raw labels map to classes and what to do with cells or rows
that do not fit. :func:`aeids.io.load_table` applies a profile; no other module
holds per-dataset code paths.

User profiles are small TOML files read by :func:`load_profile`::

    name = "my-flows"
    label = "Label"
    drop = ["Flow ID", "Src IP"]
    categorical = ["Protocol"]
    normal = "BENIGN"
    bad_cells = "missing"

    [label_map]
    "DoS Hulk" = "DoS"
"""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

from aeids.exceptions import ConfigError

__all__ = ["PROFILES", "Profile", "get_profile", "load_profile"]

_BAD_CELLS = ("error", "missing")
_SHIFTED = ("error", "drop", "keep")


@dataclass(frozen=True)
class Profile:
    """How to read one family of intrusion-detection files.

    Parameters
    ----------
    name : str
        Short name, as given to ``load_table(profile=...)``.
    label : str or None
        Name of the class-label column after header names are stripped.
    binary_label : str or None, default=None
        A 0/1 attack column that duplicates the label; dropped from features.
    drop : tuple of str, default=()
        Identifier or payload columns to drop; absent ones only warn.
    names : tuple of str or None, default=None
        Column names for headerless files; also the expected field count.
    categorical : tuple of str, default=()
        Text columns to keep as categories whatever their number of values.
    label_map : mapping of str to str, default={}
        Normalised raw label to class name; labels not listed stay as they are.
    normal : str or None, default=None
        The class of benign traffic, after ``label_map``.
    bad_cells : {"error", "missing"}, default="error"
        Policy for text cells in numeric columns: raise, or treat as missing.
    shifted : {"error", "drop", "keep"}, default="error"
        Policy for shifted rows: rows with the wrong number of fields, and rows
        whose cell in an ``aligned`` column does not match its pattern. Rows with
        the wrong field count are dropped under both "drop" and "keep", since
        their values cannot be placed; pattern misfits are kept under "keep".
    aligned : mapping of str to str, default={}
        Column name to a regular expression that the cell of a well-aligned row
        matches in full; a row whose cell does not match is a shifted row.
    """

    name: str
    label: str | None
    binary_label: str | None = None
    drop: tuple[str, ...] = ()
    names: tuple[str, ...] | None = None
    categorical: tuple[str, ...] = ()
    label_map: Mapping[str, str] = field(default_factory=dict)
    normal: str | None = None
    bad_cells: str = "error"
    shifted: str = "error"
    aligned: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.bad_cells not in _BAD_CELLS:
            raise ConfigError(
                f"Profile {self.name!r}: bad_cells must be one of {_BAD_CELLS}, "
                f"got {self.bad_cells!r}."
            )
        if self.shifted not in _SHIFTED:
            raise ConfigError(
                f"Profile {self.name!r}: shifted must be one of {_SHIFTED}, "
                f"got {self.shifted!r}."
            )
        for key in ("label_map", "aligned"):
            frozen = MappingProxyType(dict(getattr(self, key)))
            object.__setattr__(self, key, frozen)

    def to_dict(self):
        """Return the profile as plain JSON- and TOML-friendly values."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[item.name] = value
        return out


_NSL_KDD_NAMES = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
    "label",
    "difficulty",
]

_NSL_KDD_GROUPS = {
    "DoS": "back land neptune pod smurf teardrop apache2 mailbomb processtable "
    "udpstorm",
    "Probe": "ipsweep nmap portsweep satan mscan saint",
    "U2R": "buffer_overflow loadmodule perl rootkit httptunnel ps sqlattack xterm",
    "R2L": "ftp_write guess_passwd imap multihop phf spy warezclient warezmaster "
    "named sendmail snmpgetattack snmpguess worm xlock xsnoop",
}
_NSL_KDD_MAP = {"normal": "normal"} | {
    attack: group for group, text in _NSL_KDD_GROUPS.items() for attack in text.split()
}

_EDGE_DROP = [
    "frame.time",
    "ip.src_host",
    "ip.dst_host",
    "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4",
    "http.file_data",
    "http.request.full_uri",
    "icmp.transmit_timestamp",
    "http.request.uri.query",
    "tcp.options",
    "tcp.payload",
    "tcp.srcport",
    "tcp.dstport",
    "udp.port",
    "mqtt.msg",
]

_EDGE_CATEGORICAL = [
    "http.request.method",
    "http.referer",
    "http.request.version",
    "dns.qry.name",
    "mqtt.conack.flags",
    "mqtt.protoname",
    "mqtt.topic",
]

_NSL_KDD_COMMON = dict(
    label="label",
    drop=("difficulty",),
    names=tuple(_NSL_KDD_NAMES),
    categorical=("protocol_type", "service", "flag"),
    normal="normal",
)

PROFILES = MappingProxyType(
    {
        "nsl-kdd": Profile(name="nsl-kdd", label_map=_NSL_KDD_MAP, **_NSL_KDD_COMMON),
        "nsl-kdd-fine": Profile(name="nsl-kdd-fine", **_NSL_KDD_COMMON),
        "unsw-nb15": Profile(
            name="unsw-nb15",
            label="attack_cat",
            binary_label="label",
            drop=("id",),
            categorical=("proto", "service", "state"),
            normal="Normal",
        ),
        "cic-ids2017": Profile(name="cic-ids2017", label="Label", normal="BENIGN"),
        "edge-iiotset": Profile(
            name="edge-iiotset",
            label="Attack_type",
            binary_label="Attack_label",
            drop=tuple(_EDGE_DROP),
            categorical=tuple(_EDGE_CATEGORICAL),
            label_map={"OS_Fingerprinting": "Fingerprinting"},
            normal="Normal",
            bad_cells="missing",
            shifted="keep",
            aligned={"frame.time": r"\s*(\w{3}\s+)?(\d+,?\s+)?\d{4}\s+\d{1,2}:\d\d:.*"},
        ),
    }
)
"""Built-in profiles by name.

``nsl-kdd`` groups the attack names into the usual five categories (DoS, Probe,
R2L, U2R, normal); ``nsl-kdd-fine`` keeps the attack names. The Edge-IIoTset
profile treats stray text in numeric columns as missing and counts rows whose
``frame.time`` is not a capture timestamp as shifted, keeping them.
"""


def get_profile(name):
    """Return the built-in profile called `name`.

    Parameters
    ----------
    name : str or Profile
        A key of :data:`PROFILES`; a :class:`Profile` is returned unchanged.

    Returns
    -------
    Profile
    """
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(
            f"Unknown profile {name!r}; the built-in profiles are {known}, "
            "or give the path of a TOML profile file."
        ) from None


def load_profile(path):
    """Read a user profile from a TOML file.

    Parameters
    ----------
    path : str or path-like
        TOML file whose top-level keys are :class:`Profile` fields.

    Returns
    -------
    Profile
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"Cannot read profile file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Profile file {path} is not valid TOML: {exc}.") from None
    return Profile(**_check_keys(data, path))


_KINDS = {
    "name": str,
    "label": str,
    "binary_label": str,
    "drop": list,
    "names": list,
    "categorical": list,
    "label_map": dict,
    "normal": str,
    "bad_cells": str,
    "shifted": str,
    "aligned": dict,
}


def _check_keys(data, path):
    unknown = sorted(set(data) - set(_KINDS))
    if unknown:
        raise ConfigError(
            f"Profile file {path} has unknown keys {unknown}; "
            f"allowed keys are {sorted(_KINDS)}."
        )
    for key in ("name", "label"):
        if key not in data:
            raise ConfigError(f"Profile file {path} lacks the required key {key!r}.")
    out = {}
    for key, value in data.items():
        if not isinstance(value, _KINDS[key]):
            raise ConfigError(
                f"Profile file {path}: key {key!r} must be of type "
                f"{_kind_name(_KINDS[key])}, got {type(value).__name__}."
            )
        if isinstance(value, list):
            _check_strings(value, key, path)
            value = tuple(value)
        elif isinstance(value, dict):
            _check_strings([*value.values()], key, path)
        out[key] = value
    return out


def _check_strings(values, key, path):
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(
                f"Profile file {path}: every entry of {key!r} must be a string, "
                f"got {value!r}."
            )


def _kind_name(kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "string", "list": "array", "dict": "table"}
    return " or ".join(names[item.__name__] for item in kinds)
