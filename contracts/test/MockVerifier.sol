// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";

/// @title MockVerifier
/// @notice TEST ONLY: an IOpVerifier whose answer a test sets, so that the DisputeGame can be tested
/// apart from the real verifiers (contracts/verifiers/). It can also insist on the exact arguments
/// the game passes (keccak256 of their ABI encoding), which lets a test check the operands the game
/// builds from its openings.
contract MockVerifier is IOpVerifier {
    /// @notice What `check` returns (true: consistent, no fraud).
    bool public answer = true;
    /// @notice When set, `check` reverts with MockCheckReverted (a verifier refusing the operands).
    bool public refuse;
    /// @notice When non-zero, `check` reverts with UnexpectedCall unless keccak256(abi.encode(args)) equals it.
    bytes32 public expectedCall;

    /// @notice Thrown by `check` while `refuse` is set.
    error MockCheckReverted();
    /// @notice Thrown by `check` when its arguments are not the expected ones.
    /// @param got keccak256 of the arguments received
    /// @param expected keccak256 of the arguments expected
    error UnexpectedCall(bytes32 got, bytes32 expected);

    /// @notice Set the answer of `check`.
    function setAnswer(bool _answer) external {
        answer = _answer;
    }

    /// @notice Make `check` revert (true) or answer (false).
    function setRefuse(bool _refuse) external {
        refuse = _refuse;
    }

    /// @notice Insist on these arguments (keccak256 of abi.encode(descriptor, inputs, output, outIndex)); 0: any.
    function expectCall(bytes32 _hash) external {
        expectedCall = _hash;
    }

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        view
        returns (bool ok_)
    {
        if (refuse) revert MockCheckReverted();
        if (expectedCall != bytes32(0)) {
            bytes32 got = keccak256(abi.encode(_descriptor, _inputs, _output, _outIndex));
            if (got != expectedCall) revert UnexpectedCall(got, expectedCall);
        }
        ok_ = answer;
    }
}
