// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title TokenPull
/// @notice Pulls tokens and says how many arrived, so that a caller can refuse fee-on-transfer
/// (or otherwise short-delivering) tokens instead of booking more than it holds.
library TokenPull {
    using SafeERC20 for IERC20;

    /// @notice `safeTransferFrom(msg.sender, this, _amount)` (internal: msg.sender is the calling
    /// contract's caller); returns by how much this contract's balance grew.
    function pull(IERC20 _token, uint256 _amount) internal returns (uint256 received_) {
        uint256 before = selfBalance(_token);
        _token.safeTransferFrom(msg.sender, address(this), _amount);
        received_ = selfBalance(_token) - before;
    }

    /// @notice This contract's balance of `_token`; 0 when balanceOf fails or returns no word (a token
    /// without code), so that the transfer that follows reports the failure (SafeERC20FailedOperation).
    function selfBalance(IERC20 _token) internal view returns (uint256 balance_) {
        address token = address(_token);
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, address())
            let ok := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            balance_ := mul(mload(0x00), and(ok, gt(returndatasize(), 0x1f)))
        }
    }
}
