"""Contract ABIs and custom-error decoding from ape's build output (``.build/__local__.json``).

Used by everything off-chain that talks to the contracts without ape. Read-only: never compiles.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from .errors import AssayError, DecodedError

ROOT = Path(__file__).resolve().parents[2]
BUILD_MANIFEST = ROOT / ".build" / "__local__.json"
PROTOCOL_CONTRACTS = ("ModelRegistry", "StakeManager", "JobManager", "DisputeGame")


@lru_cache(maxsize=4)
def _manifest(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise AssayError(f"no compiled contracts at {p}", "run `make compile` (or `ape compile`) first")
    return json.loads(p.read_text())


def contract_type(name: str, manifest: Path = BUILD_MANIFEST) -> dict[str, Any]:
    types = _manifest(str(manifest))["contractTypes"]
    if name not in types:
        raise AssayError(f"contract {name!r} is not in {manifest}", "run `make compile`")
    return types[name]


def abi(name: str, manifest: Path = BUILD_MANIFEST) -> list[dict[str, Any]]:
    return contract_type(name, manifest)["abi"]


def abi_sha256(abi_: list[dict[str, Any]]) -> str:
    """A stable hash of an ABI (sorted JSON), stored in deployment files to notice ABI changes."""
    return hashlib.sha256(json.dumps(abi_, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _type_str(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type_str(c) for c in inp["components"]) + ")" + t[len("tuple"):]
    return t


@lru_cache(maxsize=1)
def error_table(names: tuple[str, ...] = PROTOCOL_CONTRACTS) -> dict[bytes, tuple[str, dict[str, Any]]]:
    """selector -> (contract name, error ABI) for every custom error of the given contracts."""
    table: dict[bytes, tuple[str, dict[str, Any]]] = {}
    for name in names:
        for item in abi(name):
            if item.get("type") != "error":
                continue
            sig = f"{item['name']}({','.join(_type_str(i) for i in item['inputs'])})"
            table.setdefault(keccak(text=sig)[:4], (name, item))
    return table


def decode_revert(data: bytes) -> DecodedError | None:
    """Decode revert data into a custom error of the protocol contracts, or None if unknown."""
    if len(data) < 4:
        return None
    hit = error_table().get(bytes(data[:4]))
    if hit is None:
        if data[:4] == bytes.fromhex("08c379a0"):  # Error(string)
            (msg,) = abi_decode(["string"], bytes(data[4:]))
            return DecodedError("Error", {"message": msg})
        return None
    contract, item = hit
    types = [_type_str(i) for i in item["inputs"]]
    values = abi_decode(types, bytes(data[4:]))
    return DecodedError(item["name"], {i["name"]: v for i, v in zip(item["inputs"], values)}, contract)
