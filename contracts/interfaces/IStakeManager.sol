// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IStakeManager
/// @notice Worker stakes in one ERC20. Stake is locked per job as collateral by the JobManager
/// (OPERATOR_ROLE); unstaking waits an unbonding delay longer than challenge window + dispute time.
interface IStakeManager {
    /// @notice Thrown when an amount is zero.
    error ZeroAmount();
    /// @notice Thrown when a worker's free stake (active - locked) is below what is needed.
    /// @param worker the worker
    /// @param free its free stake
    /// @param needed what was asked for
    error InsufficientFreeStake(address worker, uint256 free, uint256 needed);
    /// @notice Thrown when unlocking or slashing more than is locked.
    /// @param worker the worker
    /// @param locked its locked stake
    /// @param amount what was asked for
    error ExceedsLocked(address worker, uint256 locked, uint256 amount);
    /// @notice Thrown when a slash is larger than the collateral it is taken from.
    /// @param lockedAmount the collateral released
    /// @param slashAmount the slash asked for
    error SlashExceedsCollateral(uint256 lockedAmount, uint256 slashAmount);
    /// @notice Thrown when withdrawing before the unbonding delay has passed.
    /// @param worker the worker
    /// @param unlockAt first timestamp at which the withdrawal is allowed
    error UnbondingNotOver(address worker, uint64 unlockAt);
    /// @notice Thrown when withdrawing with no pending withdrawal.
    /// @param worker the worker
    error NothingToWithdraw(address worker);
    /// @notice Thrown when an unbonding delay is not longer than the policy's minimum, or absurd.
    /// @param delay the delay asked for
    /// @param minExclusive the delay must be strictly greater than this
    /// @param max the largest allowed
    error UnbondingDelayOutOfBounds(uint64 delay, uint64 minExclusive, uint64 max);
    /// @notice Thrown when an amount does not fit the 128-bit stake accounting.
    /// @param amount the amount
    error AmountTooLarge(uint256 amount);

    /// @notice Emitted when stake is deposited.
    /// @param worker the worker
    /// @param amount deposited
    /// @param active active stake after
    event Staked(address indexed worker, uint256 amount, uint256 active);
    /// @notice Emitted when a worker starts unbonding.
    /// @param worker the worker
    /// @param amount moved to pending
    /// @param pending total pending after
    /// @param unlockAt first timestamp at which it can be withdrawn
    event UnstakeRequested(address indexed worker, uint256 amount, uint256 pending, uint64 unlockAt);
    /// @notice Emitted when pending stake is withdrawn.
    /// @param worker the worker
    /// @param amount paid out
    event StakeWithdrawn(address indexed worker, uint256 amount);
    /// @notice Emitted when collateral is locked for a job.
    /// @param worker the worker
    /// @param amount locked
    /// @param locked total locked after
    event CollateralLocked(address indexed worker, uint256 amount, uint256 locked);
    /// @notice Emitted when collateral is released.
    /// @param worker the worker
    /// @param amount released
    /// @param locked total locked after
    event CollateralUnlocked(address indexed worker, uint256 amount, uint256 locked);
    /// @notice Emitted when stake is slashed.
    /// @param worker the worker
    /// @param amount taken
    /// @param to where the tokens went
    event Slashed(address indexed worker, uint256 amount, address indexed to);
    /// @notice Emitted when governance changes the unbonding delay.
    /// @param delay the new delay in seconds
    event UnbondingDelayUpdated(uint64 delay);
    /// @notice Emitted when governance changes the unbonding policy contract.
    /// @param policy the contract whose minUnbondingDelay() bounds the delay
    event UnbondingPolicyUpdated(address policy);

    /// @notice Deposit stake (pulls tokens from the caller).
    function stake(uint256 _amount) external;
    /// @notice Move free stake into a pending withdrawal; resets the unbonding clock for the whole pending amount.
    function requestUnstake(uint256 _amount) external;
    /// @notice Withdraw the pending amount once its unbonding delay has passed.
    function withdraw() external returns (uint256 amount_);
    /// @notice Lock collateral (OPERATOR_ROLE).
    function lock(address _worker, uint256 _amount) external;
    /// @notice Release collateral (OPERATOR_ROLE).
    function unlock(address _worker, uint256 _amount) external;
    /// @notice Release `_lockedAmount` of collateral and take `_slashAmount` of it to `_to` (OPERATOR_ROLE).
    function slash(address _worker, uint256 _lockedAmount, uint256 _slashAmount, address _to) external;

    /// @notice The staking token.
    function TOKEN() external view returns (address token_);
    /// @notice Seconds between requestUnstake and withdraw.
    function unbondingDelay() external view returns (uint64 delay_);
    /// @notice A worker's stake: active (incl. locked), locked, pending withdrawal and its unlock time.
    function stakeOf(address _worker)
        external
        view
        returns (uint256 active_, uint256 locked_, uint256 pending_, uint64 unlockAt_);
    /// @notice Active stake not locked as collateral.
    function freeStake(address _worker) external view returns (uint256 free_);
    /// @notice Sum of all active and pending stake (what this contract owes).
    function totalStaked() external view returns (uint256 total_);
}

/// @notice Whatever bounds the unbonding delay from below (the JobManager).
interface IUnbondingPolicy {
    /// @notice The unbonding delay must be strictly greater than this.
    function minUnbondingDelay() external view returns (uint64 min_);
}
