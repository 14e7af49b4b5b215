"""Errors raised by the Assay SDK, CLI and daemons.

Every error a user can see derives from :class:`AssayError` and says what went wrong and what to do.
Reverts from the contracts arrive as :class:`ContractReverted` carrying the decoded custom error
(name and arguments). This module must never swallow an exception it cannot explain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class AssayError(Exception):
    """Base of every Assay error. ``hint`` tells the user what to do about it."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:  # message, then the hint on its own line
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class ConfigError(AssayError, ValueError):
    """A configuration file or option is invalid."""


class DeploymentNotFound(AssayError, FileNotFoundError):
    """No deployment file for the requested network."""


class InsufficientTokens(AssayError, ValueError):
    """The account holds fewer fee tokens than an action needs (nothing was sent)."""


@dataclass
class DecodedError:
    """A custom Solidity error decoded from revert data."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    contract: str | None = None

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.args.items())
        return f"{self.name}({inner})"


def _fmt(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    return repr(v) if isinstance(v, str) else str(v)


class ContractReverted(AssayError, RuntimeError):
    """A contract call reverted; ``error`` holds the decoded custom error when known."""

    def __init__(self, error: DecodedError | None, raw: bytes, hint: str | None = None):
        self.error = error
        self.raw = raw
        what = str(error) if error else f"unknown revert data 0x{raw.hex()}"
        super().__init__(f"transaction reverted: {what}", hint or _HINTS.get(error.name if error else "", ""))


# What to do about the errors a user is most likely to hit.
_HINTS: dict[str, str] = {
    "TransferShortfall": "the token delivered less than the amount pulled (it keeps a fee on transfer, or rebases): "
    "Assay's contracts accept only plain ERC20 tokens; deploy on one",
    "ModelNotRegistered": "check the model id (`assay model list`) and the network, or register the model first "
    "(`assay model register FILE`)",
    "ModelAlreadyRegistered": "this exact file is registered already: use its id (`assay model show ID`)",
    "UnknownJob": "check the job id (`assay job list`) and that --network/--deployment name the deployment it was "
    "submitted to",
    "ZeroWorkerFee": "offer workers a positive fee",
    "ZeroAmount": "give a positive amount",
    "FeeTooLarge": "fees are uint96 token units: lower the fee",
    "NothingToWithdraw": "nothing has finished unbonding: request an unstake first, then wait the unbonding delay",
    "JobNotOpen": "the job was claimed, cancelled or expired meanwhile: check `assay job status`",
    "ModelDeprecated": "its owner deprecated this model; pick another model",
    "FeeAboveMax": "the model fee or protocol fee rose; raise maxTotalFee after checking quote()",
    "ClaimDeadlineInPast": "choose a claim deadline later than the current block time",
    "ClaimDeadlineTooFar": "choose a claim deadline within maxClaimTtl of now",
    "InsufficientFreeStake": "stake more (scripts/stake.py) or wait for running jobs to release collateral",
    "LeaseExpired": "the lease ran out; the job can be re-opened with reclaim() and claimed again",
    "ChallengeWindowOpen": "wait until the challenge window has passed, then finalize",
    "ChallengeWindowClosed": "the window is over; the result can no longer be challenged",
    "InsufficientCredits": "check creditsOf(account); withdraw at most that much",
    "UnbondingNotOver": "wait until the unbonding delay has passed, then withdraw",
    "InputTooLarge": "publish the input to the content store and submit its URI instead of inline bytes",
    "OutputTooLarge": "publish the output to the content store and post its URI instead of inline bytes",
}
