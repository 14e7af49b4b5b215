// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A malicious ERC20 that calls back into a target during every transfer, to check that
/// the contracts holding it cannot be re-entered to drain credits or stake.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public lastCallSucceeded;
    uint256 public attempts;
    bool private _inside;

    constructor() ERC20("Reentrant", "REE") {}

    function mint(address _to, uint256 _amount) external {
        _mint(_to, _amount);
    }

    function arm(address _target, bytes calldata _payload) external {
        target = _target;
        payload = _payload;
    }

    function _update(address _from, address _to, uint256 _value) internal override {
        super._update(_from, _to, _value);
        if (target != address(0) && !_inside && _from != address(0)) {
            _inside = true;
            attempts += 1;
            (bool ok,) = target.call(payload);
            lastCallSucceeded = ok;
            _inside = false;
        }
    }
}
