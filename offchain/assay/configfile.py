"""Reading a daemon's YAML config file into its pydantic model, with CLI overrides applied on top.

Shared by the worker and the challenger; every problem becomes a ConfigError naming the file and
the field, raised at start-up before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class DaemonConfig(BaseModel):
    """What the worker's and the challenger's configs share: the chain, the tick and transactions."""

    model_config = ConfigDict(extra="forbid")

    rpc_url: str = "http://127.0.0.1:8545"
    network: str = "ethereum:local"  # selects deployments/<ecosystem>-<network>.json
    deployment_file: Path | None = None  # overrides `network` when given
    confirmations: int = Field(0, ge=0, le=64, description="blocks the daemon trails the head by")
    poll_interval: float = Field(0.5, gt=0, le=60)
    startup_rpc_wait: float = Field(120.0, ge=0, le=86400, description="seconds to wait at start-up for an RPC "
                                    "that does not answer before refusing to start (0: refuse at once)")
    tx_timeout: float = Field(60.0, gt=0, le=3600, description="seconds a tick waits for a receipt; the transaction "
                              "stays pending and the next tick waits for it again instead of sending a second")
    tx_replace_after: float = Field(20.0, gt=0, le=3600, description="seconds without a receipt before a transaction "
                                    "is re-priced (same nonce, fees +12.5 %) or a nonce gap below it is filled")
    max_fee_per_gas: int | None = Field(None, ge=1, description="cap in wei on maxFeePerGas / gasPrice (none: no cap)")

    @field_validator("rpc_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"rpc_url {v!r} is not an http:// or https:// JSON-RPC endpoint")
        return v

    @model_validator(mode="after")
    def _tx_times(self):
        if self.tx_timeout < self.tx_replace_after:
            raise ValueError(f"tx_timeout ({self.tx_timeout:g}s) is shorter than tx_replace_after "
                             f"({self.tx_replace_after:g}s): a stuck transaction would never be re-priced")
        return self


def load_config(cls: type[M], path: Path | str | None, what: str, doc: str, **overrides: Any) -> M:
    """`cls` from the YAML mapping in `path` (if given) updated with the non-None `overrides`."""
    raw: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"{what} config {path} not found", "pass an existing file to --config") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{what} config {path} is not valid YAML: {e}") from e
        if not isinstance(raw, dict):
            raise ConfigError(f"{what} config {path} must be a mapping of option: value")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"invalid {what} configuration:\n{e}", f"fix the fields named above ({doc})") from e
