"""Loading the private key an actor signs with.

Sources, in the order `load_account` tries them: an explicit key file, an encrypted keystore JSON
(its password from an environment variable), the ASSAY_PRIVATE_KEY environment variable, and — on
local networks only — anvil's well-known development accounts, derived from its public mnemonic
with eth_account's HD wallet. Never prints, logs or puts key material into an error message, and
refuses key files other users can read.
"""

from __future__ import annotations

import json
import os
import stat
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..errors import AssayError, ConfigError

ENV_PRIVATE_KEY = "ASSAY_PRIVATE_KEY"
ENV_KEYSTORE_PASSWORD = "ASSAY_KEYSTORE_PASSWORD"
# anvil's (and hardhat's, and ape's test) default mnemonic: public knowledge, for local chains only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_PATH = "m/44'/60'/0'/0/{}"


class KeyLoadError(AssayError, ValueError):
    """A key could not be loaded (missing, malformed, unsafe file permissions, wrong password)."""


@lru_cache(maxsize=64)
def dev_account(index: int = 0, mnemonic: str = DEV_MNEMONIC) -> LocalAccount:
    """Account `index` of an HD mnemonic (BIP-44 path m/44'/60'/0'/0/index), anvil's by default."""
    if index < 0:
        raise ConfigError(f"account index {index} is negative", "use 0, 1, 2, ... (anvil has 10 by default)")
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(mnemonic, account_path=DEV_PATH.format(index))


def dev_accounts(n: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[LocalAccount]:
    return [dev_account(i, mnemonic) for i in range(n)]


def _parse_key(text: str, source: str) -> LocalAccount:
    key = text.strip()
    if key.startswith(("0x", "0X")):
        key = key[2:]
    if len(key) != 64 or any(c not in "0123456789abcdefABCDEF" for c in key):
        raise KeyLoadError(
            f"{source} does not hold a private key (expected 64 hex digits, optionally 0x-prefixed)",
            "put exactly one hex private key there, or use an encrypted keystore (--keystore)",
        )
    try:
        return Account.from_key(bytes.fromhex(key))
    except Exception as e:  # eth_keys rejects 0 and keys >= the curve order; never echo the key
        raise KeyLoadError(f"{source} holds an invalid secp256k1 private key ({type(e).__name__})") from None


def from_env(var: str = ENV_PRIVATE_KEY) -> LocalAccount:
    value = os.environ.get(var)
    if not value:
        raise KeyLoadError(f"environment variable {var} is not set", f"export {var}=0x<private key>, or use a key file")
    return _parse_key(value, f"environment variable {var}")


def check_private_file(path: Path) -> None:
    """Refuse a secret file that users other than its owner may read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise KeyLoadError(
            f"key file {path} is readable or writable by every user on this machine (mode {stat.filemode(mode)})",
            f"restrict it to its owner: chmod 600 {path}",
        )


def from_key_file(path: str | os.PathLike[str]) -> LocalAccount:
    """A hex private key in a file only its owner can read."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise KeyLoadError(f"key file {p} does not exist", "give the path of a file holding a hex private key")
    check_private_file(p)
    return _parse_key(p.read_text(), f"key file {p}")


def from_keystore(path: str | os.PathLike[str], password_env: str = ENV_KEYSTORE_PASSWORD) -> LocalAccount:
    """An encrypted (Web3 Secret Storage / geth / ape) keystore JSON; the password is read from `password_env`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise KeyLoadError(f"keystore {p} does not exist", "give the path of an encrypted keystore JSON file")
    check_private_file(p)
    try:
        blob = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise KeyLoadError(
            f"keystore {p} is not JSON ({e.msg} at line {e.lineno})", "give a keystore JSON file"
        ) from None
    password = os.environ.get(password_env)
    if password is None:
        raise KeyLoadError(
            f"no password for keystore {p}: environment variable {password_env} is not set",
            f"export {password_env}=<password> (or read it from a secret manager into that variable)",
        )
    try:
        key = Account.decrypt(blob, password)
    except ValueError as e:
        raise KeyLoadError(
            f"cannot decrypt keystore {p}: {e}", f"check the password in {password_env} and that the file is a keystore"
        ) from None
    return Account.from_key(key)


def encrypt_to_keystore(account: LocalAccount, path: str | os.PathLike[str], password: str) -> Path:
    """Write `account` as an encrypted keystore readable only by its owner (mode 600)."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(Account.encrypt(account.key, password))
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(p, 0o600)
    return p


def load_account(
    *,
    key_file: str | os.PathLike[str] | None = None,
    keystore: str | os.PathLike[str] | None = None,
    password_env: str = ENV_KEYSTORE_PASSWORD,
    env: str = ENV_PRIVATE_KEY,
    dev_index: int | None = None,
    local: bool = False,
) -> LocalAccount:
    """The account to sign with, from the first source given (see module doc).

    `dev_index` picks an anvil development account and is accepted only when `local` is true: those
    keys are public, and anything sent from them on a real network is taken by bots within seconds.
    """
    if key_file is not None:
        return from_key_file(key_file)
    if keystore is not None:
        return from_keystore(keystore, password_env)
    if os.environ.get(env):
        return from_env(env)
    if dev_index is not None:
        if not local:
            raise KeyLoadError(
                "anvil's development accounts are public and may only be used on a local network",
                f"on this network give a key: --key-file, --keystore, or {env}",
            )
        return dev_account(dev_index)
    raise KeyLoadError(
        "no signing key given",
        f"set {env}, or pass a key file (chmod 600) or an encrypted keystore with its password in {password_env}"
        + ("; on a local network a development account index also works" if local else ""),
    )
