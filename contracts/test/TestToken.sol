// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice Freely mintable ERC20 for local networks and tests only. The deploy script refuses to
/// deploy it on any network but a local one.
contract TestToken is ERC20 {
    constructor() ERC20("Assay Test Token", "tASSAY") {}

    /// @notice Mint `_amount` to `_to` (anyone: test networks only).
    function mint(address _to, uint256 _amount) external {
        _mint(_to, _amount);
    }
}
