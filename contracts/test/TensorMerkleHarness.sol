// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TensorMerkle} from "../libraries/TensorMerkle.sol";

/// @title TensorMerkleHarness
/// @notice Test-only contract exposing TensorMerkle's internal functions, plus gas probes that
/// measure the library's execution gas alone (no calldata, no call overhead). Never deployed
/// outside tests.
contract TensorMerkleHarness {
    function hashLeaf(bytes calldata _chunk) external view returns (bytes32) {
        return TensorMerkle.hashLeaf(_chunk);
    }

    function hashNode(bytes32 _left, bytes32 _right) external view returns (bytes32) {
        return TensorMerkle.hashNode(_left, _right);
    }

    function hashDescriptor(bytes calldata _descriptor) external view returns (bytes32) {
        return TensorMerkle.hashDescriptor(_descriptor);
    }

    function proofLength(uint256 _first, uint256 _end, uint256 _count) external pure returns (uint256) {
        return TensorMerkle.proofLength(_first, _end, _count);
    }

    function processProof(bytes32 _leaf, uint256 _index, uint256 _count, bytes32[] calldata _proof)
        external
        view
        returns (bytes32)
    {
        return TensorMerkle.processProof(_leaf, _index, _count, _proof);
    }

    function processRangeProof(bytes32[] calldata _run, uint256 _first, uint256 _count, bytes32[] calldata _proof)
        external
        view
        returns (bytes32)
    {
        return TensorMerkle.processRangeProof(_run, _first, _count, _proof);
    }

    function itemSize(uint8 _dtype) external pure returns (uint256) {
        return TensorMerkle.itemSize(_dtype);
    }

    function dataSize(uint8 _dtype, uint64[] calldata _dims) external pure returns (uint256) {
        return TensorMerkle.dataSize(_dtype, _dims);
    }

    function leafCount(uint256 _nbytes) external pure returns (uint256) {
        return TensorMerkle.leafCount(_nbytes);
    }

    function tensorRoot(uint8 _dtype, uint64[] calldata _dims, bytes32 _dataRoot) external view returns (bytes32) {
        return TensorMerkle.tensorRoot(_dtype, _dims, _dataRoot);
    }

    function verifyChunk(
        bytes32 _root,
        uint8 _dtype,
        uint64[] calldata _dims,
        uint256 _leafIndex,
        bytes calldata _chunk,
        bytes32[] calldata _proof
    ) external view returns (bool) {
        return TensorMerkle.verifyChunk(_root, _dtype, _dims, _leafIndex, _chunk, _proof);
    }

    function verifyChunkRange(
        bytes32 _root,
        uint8 _dtype,
        uint64[] calldata _dims,
        uint256 _first,
        bytes calldata _data,
        bytes32[] calldata _proof
    ) external view returns (bool) {
        return TensorMerkle.verifyChunkRange(_root, _dtype, _dims, _first, _data, _proof);
    }

    function elementLocation(uint8 _dtype, uint64[] calldata _dims, uint256 _flatIndex)
        external
        pure
        returns (uint256, uint256)
    {
        return TensorMerkle.elementLocation(_dtype, _dims, _flatIndex);
    }

    function verifyElement(
        bytes32 _root,
        uint8 _dtype,
        uint64[] calldata _dims,
        uint256 _flatIndex,
        bytes calldata _chunk,
        bytes32[] calldata _proof
    ) external view returns (bool, uint256) {
        return TensorMerkle.verifyElement(_root, _dtype, _dims, _flatIndex, _chunk, _proof);
    }

    function readLE(bytes calldata _data, uint256 _offset, uint256 _size) external pure returns (uint256) {
        return TensorMerkle.readLE(_data, _offset, _size);
    }

    function ioRoot(string[] calldata _names, bytes32[] calldata _roots) external pure returns (bytes32) {
        return TensorMerkle.ioRoot(_names, _roots);
    }

    function listRoot(uint8 _tag, uint64 _count, bytes32 _treeRoot) external pure returns (bytes32) {
        return TensorMerkle.listRoot(_tag, _count, _treeRoot);
    }

    function verifyListItem(
        bytes32 _root,
        uint8 _tag,
        uint64 _count,
        uint256 _index,
        bytes32 _item,
        bytes32[] calldata _proof
    ) external view returns (bool) {
        return TensorMerkle.verifyListItem(_root, _tag, _count, _index, _item, _proof);
    }

    /// @notice verifyChunk plus the execution gas it used (gasleft before and after).
    function verifyChunkGas(
        bytes32 _root,
        uint8 _dtype,
        uint64[] calldata _dims,
        uint256 _leafIndex,
        bytes calldata _chunk,
        bytes32[] calldata _proof
    ) external view returns (bool ok_, uint256 gas_) {
        uint64[] memory dims = _dims;
        gas_ = gasleft();
        ok_ = TensorMerkle.verifyChunk(_root, _dtype, dims, _leafIndex, _chunk, _proof);
        gas_ -= gasleft();
    }

    /// @notice verifyChunkRange plus the execution gas it used.
    function verifyChunkRangeGas(
        bytes32 _root,
        uint8 _dtype,
        uint64[] calldata _dims,
        uint256 _first,
        bytes calldata _data,
        bytes32[] calldata _proof
    ) external view returns (bool ok_, uint256 gas_) {
        uint64[] memory dims = _dims;
        gas_ = gasleft();
        ok_ = TensorMerkle.verifyChunkRange(_root, _dtype, dims, _first, _data, _proof);
        gas_ -= gasleft();
    }
}
