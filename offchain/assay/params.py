"""Deployment and governance parameters: a validated model of config/deploy.yaml.

Pure data: reads a YAML file, merges a network's overrides over `default`, checks bounds that the
contracts would otherwise reject (so a bad file fails before any gas is spent). Never talks to a chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

BPS = 10_000
UINT96_MAX = 2**96 - 1


class GovernanceParams(BaseModel):
    """Mirror of the Solidity `Params` struct (field order matters: it is the tuple order)."""

    model_config = ConfigDict(extra="forbid")

    lease_duration: int = Field(ge=1, le=7 * 86400)
    challenge_window: int = Field(ge=1, le=30 * 86400)
    max_claim_ttl: int = Field(ge=1, le=90 * 86400)
    protocol_fee_bps: int = Field(ge=0, le=2000)
    liveness_penalty_bps: int = Field(ge=0, le=BPS)
    slash_challenger_bps: int = Field(ge=0, le=BPS)
    slash_requester_bps: int = Field(ge=0, le=BPS)
    bond_to_worker_bps: int = Field(ge=0, le=BPS)
    collateral_bps: int = Field(ge=0, le=1_000_000)
    callback_gas_limit: int = Field(ge=0, le=2_000_000)
    max_inline_bytes: int = Field(ge=32, le=65536)
    min_collateral: int = Field(ge=0, le=UINT96_MAX)
    challenge_bond: int = Field(ge=1, le=UINT96_MAX)

    @model_validator(mode="after")
    def _shares(self) -> "GovernanceParams":
        if self.slash_challenger_bps + self.slash_requester_bps > BPS:
            raise ValueError("slash_challenger_bps + slash_requester_bps must be at most 10000")
        return self

    def as_tuple(self, treasury: str) -> tuple:
        """The Solidity `Params` tuple."""
        return (
            self.lease_duration,
            self.challenge_window,
            self.max_claim_ttl,
            self.protocol_fee_bps,
            self.liveness_penalty_bps,
            self.slash_challenger_bps,
            self.slash_requester_bps,
            self.bond_to_worker_bps,
            self.collateral_bps,
            self.callback_gas_limit,
            self.max_inline_bytes,
            self.min_collateral,
            self.challenge_bond,
            treasury,
        )


MAX_WINDOW = 30 * 86400
MAX_DEMANDS = 16


class GameParams(BaseModel):
    """The DisputeGame's windows (constructor / `setDurations`), bounds as the contract enforces them."""

    model_config = ConfigDict(extra="forbid")

    response_window: int = Field(ge=1, le=MAX_WINDOW)  # seconds the worker has to post the trace root
    proof_window: int = Field(ge=1, le=MAX_WINDOW)  # seconds, from the trace root, to prove fraud
    demand_window: int = Field(ge=1, le=MAX_WINDOW)  # seconds to answer a demand; least proof time left after
    max_demands: int = Field(ge=1, le=MAX_DEMANDS)  # chunk demands per dispute

    @property
    def max_duration(self) -> int:
        """DisputeGame.maxDuration(): each answered demand can push the proof deadline by 2·demand_window."""
        return self.response_window + self.proof_window + 2 * self.max_demands * self.demand_window

    def as_args(self) -> tuple[int, int, int, int]:
        """The constructor / setDurations arguments after (jobs, admin)."""
        return (self.response_window, self.proof_window, self.demand_window, self.max_demands)


class DeployConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = None
    treasury: str | None = None
    arbiter: str | None = None
    unbonding_delay: int = Field(ge=1, le=90 * 86400)
    game: GameParams
    params: GovernanceParams

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "dispute_duration" in data:
            raise ValueError(
                "dispute_duration was replaced by the fraud-proof game's windows: set `game:` with "
                "response_window, proof_window, demand_window and max_demands (see config/deploy.yaml)"
            )
        return data

    @model_validator(mode="after")
    def _unbonding(self) -> "DeployConfig":
        need = self.params.challenge_window + self.game.max_duration
        if self.unbonding_delay <= need:
            raise ValueError(
                f"unbonding_delay ({self.unbonding_delay}) must exceed challenge_window + the game's max duration "
                f"(response_window + proof_window + 2·max_demands·demand_window) = {need}"
            )
        return self


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_deploy_config(path: Path, network: str) -> DeployConfig:
    """Config for `network` ("ethereum:local", "local", ...): `default` merged with its section."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"deploy config {path} not found", "create it from config/deploy.yaml") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"deploy config {path} is not valid YAML: {e}") from e
    merged = raw.get("default", {})
    short = network.split(":")[1] if ":" in network else network
    for key in (short, ":".join(network.split(":")[:2])):
        if key in raw and key != "default":
            merged = _merge(merged, raw[key])
    try:
        return DeployConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(f"deploy config {path} [{network}] is invalid:\n{e}", "fix the values named above") from e
