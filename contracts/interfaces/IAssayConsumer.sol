// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAssayConsumer
/// @notice Implemented by a contract that submits jobs with `callback = true`. Called once, at
/// finalize, with a bounded amount of gas; a revert or an out-of-gas here never blocks payment.
interface IAssayConsumer {
    /// @notice A result became final.
    /// @param _jobId the job
    /// @param _modelId the model that was run
    /// @param _inputRoot commitment to the input
    /// @param _outputRoot commitment to the final output
    function onAssayResult(uint256 _jobId, bytes32 _modelId, bytes32 _inputRoot, bytes32 _outputRoot) external;
}
