"""Worker configuration: a validated pydantic model read from a YAML file and/or CLI options.

Pure data. A misconfiguration must fail here, at start-up, with a message naming the field and what
to do — never later inside the loop with a stake at risk.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..configfile import DaemonConfig, load_config


class WorkerConfig(DaemonConfig):
    # chain, tick and transaction options: DaemonConfig (rpc_url, network, deployment_file, confirmations,
    # poll_interval, startup_rpc_wait, tx_timeout, tx_replace_after, max_fee_per_gas)
    # policy
    models: list[str] = Field(default_factory=list, description="model ids (0x…) served; empty = every model")
    min_worker_fee: int = Field(0, ge=0, description="fee floor, in token units (wei)")
    max_concurrent_jobs: int = Field(8, ge=1, le=1024, description="claimed-but-unposted jobs at once")
    max_batch: int = Field(32, ge=1, le=256, description="jobs per claimJobs / postResults / finalizeJobs")
    max_attempts: int = Field(3, ge=1, le=100, description="failed runs of a job before it is given up")
    lease_margin: float = Field(5.0, ge=0, description="seconds before the lease end after which a job is not posted")
    withdraw_threshold: int = Field(0, ge=0, description="withdraw credits once they exceed this (0: every finalize)")
    # resources
    store_dir: Path = Path(".assay/store")
    gateways: list[str] = Field(default_factory=list, description="IPFS HTTP gateways, e.g. https://ipfs.io")
    journal: Path = Path(".assay/worker.sqlite")
    max_model_bytes: int = Field(512 * 2**20, ge=1)
    max_input_bytes: int = Field(64 * 2**20, ge=1)
    intra_op_threads: int = Field(0, ge=0, le=256, description="onnxruntime intra-op threads (0: its default)")
    metrics_port: int | None = Field(None, ge=0, le=65535, description="serve /metrics and /health here")
    store_port: int | None = Field(0, ge=0, le=65535, description="serve the content store (traces, outputs) over "
                                   "HTTP on this port (0: a free one; null: do not serve — challengers then "
                                   "cannot fetch your traces and you lose disputes)")
    publish_url: str | None = Field(None, description="public base URL of the served store (default: http://127.0.0.1:store_port/blobs)")
    # test-only behaviour (never set in production): wrong-output, slow-inference, ignore-demands, withhold-trace,
    # withhold-trace-answer-demands:K (node K corrupted, trace withheld, demands answered)
    fault: str | None = None

    @model_validator(mode="after")
    def _ports(self) -> "WorkerConfig":
        if self.metrics_port and self.metrics_port == self.store_port:
            raise ValueError(f"metrics_port and store_port are both {self.metrics_port}; give them different ports "
                             "(or 0 for a free one)")
        return self

    @field_validator("models")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        out = []
        for m in v:
            h = m.lower().removeprefix("0x")
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise ValueError(f"model id {m!r} is not 32 bytes of hex (0x + 64 hex digits)")
            out.append("0x" + h)
        return out


def load_worker_config(path: Path | None, **overrides) -> WorkerConfig:
    """Read `path` (YAML) if given, apply non-None overrides, validate."""
    return load_config(WorkerConfig, path, "worker", "docs/worker.md", **overrides)
