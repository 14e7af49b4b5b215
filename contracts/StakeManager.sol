// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IStakeManager, IUnbondingPolicy} from "./interfaces/IStakeManager.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @title StakeManager
/// @notice Holds worker stakes. Active stake includes locked collateral; only free stake
/// (active - locked) can start unbonding, so collateral for a job is always there to slash.
/// Pending withdrawals stay in this contract for the unbonding delay, which is kept strictly longer
/// than the JobManager's challenge window + dispute time (its `minUnbondingDelay`).
contract StakeManager is IStakeManager, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role of the contracts that lock, unlock and slash (the JobManager).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Longest unbonding delay governance may set.
    uint64 public constant MAX_UNBONDING_DELAY = 90 days;

    IERC20 private immutable _TOKEN;

    /// @dev One slot per worker: active (incl. locked) | locked.
    struct Account {
        uint128 active;
        uint128 locked;
    }

    /// @dev One slot per worker: pending withdrawal | first timestamp it may be withdrawn.
    struct Pending {
        uint128 amount;
        uint64 unlockAt;
    }

    mapping(address worker => Account) private _accounts;
    mapping(address worker => Pending) private _pending;
    uint256 private _totalStaked;
    uint64 private _unbondingDelay;
    IUnbondingPolicy private _policy;

    /// @notice Thrown when a stake transfer delivers less than the amount pulled (a fee-on-transfer or
    /// rebasing token): every staked token must be backed token for token.
    /// @param expected the amount pulled
    /// @param received the amount the StakeManager's balance grew by
    error TransferShortfall(uint256 expected, uint256 received);

    constructor(IERC20 _token, address _admin, uint64 _delay) {
        _TOKEN = _token;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
        _setDelay(_delay);
    }

    /// @inheritdoc IStakeManager
    function TOKEN() external view returns (address token_) {
        token_ = address(_TOKEN);
    }

    /// @notice Set the contract whose minUnbondingDelay() bounds the delay (admin).
    function setUnbondingPolicy(IUnbondingPolicy _newPolicy) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _policy = _newPolicy;
        emit UnbondingPolicyUpdated(address(_newPolicy));
        _setDelay(_unbondingDelay); // re-check the current delay against the new policy
    }

    /// @notice Change the unbonding delay (admin); applies to later unstake requests.
    function setUnbondingDelay(uint64 _delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDelay(_delay);
    }

    /// @inheritdoc IStakeManager
    function stake(uint256 _amount) external nonReentrant {
        if (_amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        uint256 active = uint256(a.active) + _amount;
        if (active > type(uint128).max) revert AmountTooLarge(_amount);
        a.active = uint128(active);
        _totalStaked += _amount;
        emit Staked(msg.sender, _amount, active);
        uint256 received = TokenPull.pull(_TOKEN, _amount);
        // INVARIANT: every staked token was received (no fee-on-transfer shortfall).
        if (received < _amount) revert TransferShortfall(_amount, received);
    }

    /// @inheritdoc IStakeManager
    function requestUnstake(uint256 _amount) external {
        if (_amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        uint256 free = a.active - a.locked;
        // INVARIANT: locked collateral never leaves through unbonding.
        if (_amount > free) revert InsufficientFreeStake(msg.sender, free, _amount);
        a.active -= uint128(_amount);
        Pending storage p = _pending[msg.sender];
        p.amount += uint128(_amount);
        p.unlockAt = uint64(block.timestamp) + _unbondingDelay;
        emit UnstakeRequested(msg.sender, _amount, p.amount, p.unlockAt);
    }

    /// @inheritdoc IStakeManager
    function withdraw() external nonReentrant returns (uint256 amount_) {
        Pending memory p = _pending[msg.sender];
        if (p.amount == 0) revert NothingToWithdraw(msg.sender);
        // INVARIANT: pending stake stays for the whole unbonding delay (withdrawable at unlockAt).
        if (block.timestamp < p.unlockAt) revert UnbondingNotOver(msg.sender, p.unlockAt);
        amount_ = p.amount;
        delete _pending[msg.sender];
        _totalStaked -= amount_;
        emit StakeWithdrawn(msg.sender, amount_);
        _TOKEN.safeTransfer(msg.sender, amount_);
    }

    /// @inheritdoc IStakeManager
    function lock(address _worker, uint256 _amount) external onlyRole(OPERATOR_ROLE) {
        Account storage a = _accounts[_worker];
        uint256 free = a.active - a.locked;
        // INVARIANT: collateral is backed by active stake.
        if (_amount > free) revert InsufficientFreeStake(_worker, free, _amount);
        a.locked += uint128(_amount);
        emit CollateralLocked(_worker, _amount, a.locked);
    }

    /// @inheritdoc IStakeManager
    function unlock(address _worker, uint256 _amount) external onlyRole(OPERATOR_ROLE) {
        Account storage a = _accounts[_worker];
        if (_amount > a.locked) revert ExceedsLocked(_worker, a.locked, _amount);
        a.locked -= uint128(_amount);
        emit CollateralUnlocked(_worker, _amount, a.locked);
    }

    /// @inheritdoc IStakeManager
    function slash(address _worker, uint256 _lockedAmount, uint256 _slashAmount, address _to)
        external
        onlyRole(OPERATOR_ROLE)
        nonReentrant
    {
        // INVARIANT: a slash never exceeds the collateral it is taken from.
        if (_slashAmount > _lockedAmount) revert SlashExceedsCollateral(_lockedAmount, _slashAmount);
        Account storage a = _accounts[_worker];
        if (_lockedAmount > a.locked) revert ExceedsLocked(_worker, a.locked, _lockedAmount);
        a.locked -= uint128(_lockedAmount);
        a.active -= uint128(_slashAmount); // active >= locked always held, so this cannot underflow
        _totalStaked -= _slashAmount;
        emit CollateralUnlocked(_worker, _lockedAmount, a.locked);
        if (_slashAmount != 0) {
            emit Slashed(_worker, _slashAmount, _to);
            _TOKEN.safeTransfer(_to, _slashAmount);
        }
    }

    /// @inheritdoc IStakeManager
    function unbondingDelay() external view returns (uint64 delay_) {
        delay_ = _unbondingDelay;
    }

    /// @notice The contract whose minUnbondingDelay() bounds the delay.
    function unbondingPolicy() external view returns (address policy_) {
        policy_ = address(_policy);
    }

    /// @inheritdoc IStakeManager
    function stakeOf(address _worker)
        external
        view
        returns (uint256 active_, uint256 locked_, uint256 pending_, uint64 unlockAt_)
    {
        Account memory a = _accounts[_worker];
        Pending memory p = _pending[_worker];
        (active_, locked_, pending_, unlockAt_) = (a.active, a.locked, p.amount, p.unlockAt);
    }

    /// @inheritdoc IStakeManager
    function freeStake(address _worker) external view returns (uint256 free_) {
        Account memory a = _accounts[_worker];
        free_ = a.active - a.locked;
    }

    /// @inheritdoc IStakeManager
    function totalStaked() external view returns (uint256 total_) {
        total_ = _totalStaked;
    }

    function _setDelay(uint64 _delay) private {
        uint64 min = address(_policy) == address(0) ? 0 : _policy.minUnbondingDelay();
        // INVARIANT: unbonding outlasts the challenge window plus the whole dispute, so a worker
        // cannot leave before every result it posted is final.
        if (_delay <= min || _delay > MAX_UNBONDING_DELAY) {
            revert UnbondingDelayOutOfBounds(_delay, min, MAX_UNBONDING_DELAY);
        }
        _unbondingDelay = _delay;
        emit UnbondingDelayUpdated(_delay);
    }
}
