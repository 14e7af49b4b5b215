// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice One input or output of a node, opened from the worker's trace (see docs/fraud-proofs.md).
struct Operand {
    uint8 dtype; // ONNX TensorProto.DataType code; 0 for an absent optional input
    uint64[] dims; // the value's logical (layout 0, row-major) dims
    uint8 layout; // layout of `data`: 0 row-major, 1 last two axes swapped
    uint256 first; // flat index (in `layout`) of the first element in `data`
    bytes data; // consecutive raw little-endian elements
}

/// @title IOpVerifier
/// @notice Checks one output element of one ONNX node against the node's own committed inputs.
interface IOpVerifier {
    /// @notice True if output element `_outIndex` (flat, row-major) is consistent with the inputs.
    /// MUST revert (never return false) when the operands do not cover what the check needs, the
    /// node's attributes are unsupported, or the dtypes are not the op's: a challenger can then
    /// never "prove" fraud by giving too little data.
    /// @param _descriptor the node descriptor (docs/commitments.md §4), already proven by the caller
    /// @param _inputs one operand per descriptor input, in order (dtype 0 for an absent input)
    /// @param _output the opened output value, covering `_outIndex`
    /// @param _outIndex flat row-major index of the checked output element
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        view
        returns (bool ok_);
}
