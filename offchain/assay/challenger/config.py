"""Challenger configuration (pydantic, YAML + CLI overrides). A misconfiguration fails at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from ..configfile import DaemonConfig, load_config


class ChallengerConfig(DaemonConfig):
    # chain, tick and transaction options: DaemonConfig (as the worker's, docs/worker.md)
    # which results to re-check
    sample_rate: float = Field(1.0, ge=0, le=1, description="fraction of posted results re-run")
    model_rates: dict[str, float] = Field(default_factory=dict, description="per-model sample rate (model id -> rate)")
    # when to challenge: outputs differ beyond this (never raw bits: onnxruntime is not deterministic)
    rtol: float = Field(1e-3, gt=0)
    atol: float = Field(1e-4, gt=0)
    # resources
    store_dir: Path = Path(".assay/challenger-store")
    gateways: list[str] = Field(default_factory=list)
    journal: Path = Path(".assay/challenger.sqlite")
    max_model_bytes: int = Field(512 * 2**20, ge=1)
    intra_op_threads: int = Field(1, ge=0, le=256)
    graph_optimization: str = Field("all", description="onnxruntime optimisation of the re-run: disable|basic|extended|all")
    metrics_port: int | None = Field(None, ge=0, le=65535)
    # test-only: challenge every sampled result, even honest ones (a griefing challenger)
    fault: str | None = None

    @field_validator("model_rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        out = {}
        for k, r in v.items():
            h = k.lower().removeprefix("0x")
            if len(h) != 64:
                raise ValueError(f"model id {k!r} is not 32 bytes of hex")
            if not 0 <= r <= 1:
                raise ValueError(f"rate {r} for {k} is not in [0, 1]")
            out["0x" + h] = r
        return out


def load_challenger_config(path: Path | None, **overrides) -> ChallengerConfig:
    return load_config(ChallengerConfig, path, "challenger", "docs/fraud-proofs.md", **overrides)
