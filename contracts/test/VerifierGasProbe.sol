// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title VerifierGasProbe
/// @notice Test-only: calls an op verifier with ready-encoded calldata and reports the execution
/// gas of that call alone (no transaction base cost, no calldata cost). Never deployed outside tests.
contract VerifierGasProbe {
    /// @notice Static-calls `verifier` with `callData`; returns whether it succeeded, what it
    /// returned (or its revert data) and the gas the call used.
    function measure(address _verifier, bytes calldata _callData)
        external
        view
        returns (bool success_, bytes memory ret_, uint256 gas_)
    {
        gas_ = gasleft();
        (success_, ret_) = _verifier.staticcall(_callData);
        gas_ -= gasleft();
    }
}
