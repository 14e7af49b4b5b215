// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";

/// @title OpVerifierBase
/// @notice What every op verifier shares: the errors that make a check revert (never return
/// false) when a proof is incomplete or the node is outside what is checked, operand coverage,
/// and ONNX shape arithmetic. The off-chain twin is `assay.fraud.ops`.
/// @dev Order of the checks in every verifier (the Python side raises in the same order):
/// descriptor well formed → op supported → operand count and presence → attributes → input dtypes
/// → sizes → output index in range → shapes/dtypes consistent with the op (else `false`: the worker
/// committed to an impossible execution) → operands cover the needed elements → the op's rule.
abstract contract OpVerifierBase is IOpVerifier {
    /// @notice Thrown when the descriptor's (domain, op type) has no check in this verifier.
    error UnsupportedOp(string domain, string opType);
    /// @notice Thrown when the node has a number of inputs the check does not handle.
    error UnsupportedInputCount(uint256 count);
    /// @notice Thrown when the node has other than one output (only single-output nodes are checked).
    error UnsupportedOutputCount(uint256 count);
    /// @notice Thrown when an attribute has a value the check does not handle.
    error UnsupportedAttribute(string name);
    /// @notice Thrown when input `index` has a dtype the check does not handle.
    error UnsupportedDtype(uint256 index, uint8 dtype);
    /// @notice Thrown when a size is outside what the check handles (e.g. a MatMul's K).
    error UnsupportedSize(uint256 size);
    /// @notice Thrown when the number of operands differs from the descriptor's input count.
    error OperandCountMismatch(uint256 expected, uint256 given);
    /// @notice Thrown when a required input is absent (dtype 0 or ABSENT in the descriptor).
    error MissingInput(uint256 index);
    /// @notice Thrown when an optional input is given but absent in the descriptor, or the reverse.
    error OperandPresenceMismatch(uint256 index);
    /// @notice Thrown when operand `index` (inputs.length for the output) has data that is not a
    /// whole number of elements.
    error RaggedData(uint256 index, uint256 length);
    /// @notice Thrown when input `index` does not hold elements [first, first + count) in `layout`.
    error OperandNotCovered(uint256 index, uint8 layout, uint256 first, uint256 count);
    /// @notice Thrown when the output operand does not hold element `outIndex` in layout 0.
    error OutputNotCovered(uint256 outIndex);
    /// @notice Thrown when `outIndex` is not below the output's element count.
    error OutIndexOutOfRange(uint256 outIndex, uint256 numel);

    uint8 internal constant FLOAT = 1;
    uint8 internal constant INT64 = 7;

    /// @dev Parses the descriptor and checks the operand list against it: `lo..hi` inputs, the
    /// first `lo` present, the rest present exactly when the descriptor names them.
    function _begin(bytes calldata _descriptor, Operand[] calldata _inputs, uint256 _lo, uint256 _hi)
        internal
        pure
        returns (Descriptor.Node memory n_)
    {
        n_ = Descriptor.parse(_descriptor);
        // INVARIANT: one output (the checked operand is that output).
        if (n_.nOut != 1) revert UnsupportedOutputCount(n_.nOut);
        // INVARIANT: the op takes this many inputs.
        if (n_.nIn < _lo || n_.nIn > _hi) revert UnsupportedInputCount(n_.nIn);
        // INVARIANT: one operand per descriptor input.
        if (_inputs.length != n_.nIn) revert OperandCountMismatch(n_.nIn, _inputs.length);
        for (uint256 i; i < n_.nIn; ++i) {
            bool absent = Descriptor.inputId(_descriptor, n_, i) == Descriptor.ABSENT;
            if (i < _lo) {
                // INVARIANT: required inputs are present.
                if (absent || _inputs[i].dtype == 0) revert MissingInput(i);
            } else if (absent != (_inputs[i].dtype == 0)) {
                revert OperandPresenceMismatch(i);
            }
        }
    }

    /// @dev Reverts UnsupportedOp with the descriptor's domain and op type.
    function _unsupported(bytes calldata _descriptor, Descriptor.Node memory _n) internal pure {
        revert UnsupportedOp(
            string(Descriptor.domain(_descriptor, _n)), string(Descriptor.opType(_descriptor, _n))
        );
    }

    /// @dev Reverts unless input `index` has dtype `dtype`.
    function _requireDtype(Operand[] calldata _inputs, uint256 _index, uint8 _dtype) internal pure {
        if (_inputs[_index].dtype != _dtype) revert UnsupportedDtype(_index, _inputs[_index].dtype);
    }

    /// @dev Calldata address of element `first` of input `index` after checking that the operand
    /// holds elements [first, first + count) in `layout` (any layout for rank < 2: both are equal).
    function _run(Operand calldata _op, uint256 _index, uint8 _layout, uint256 _first, uint256 _count, uint256 _size)
        internal
        pure
        returns (uint256 ptr_)
    {
        uint256 len = _op.data.length;
        // INVARIANT: data is a whole number of elements.
        if (len % _size != 0) revert RaggedData(_index, len);
        bool layoutOk = _op.layout == _layout || (_op.dims.length < 2 && _op.layout <= 1);
        // INVARIANT: the needed run lies inside the opened data, in the needed layout.
        if (!layoutOk || _first < _op.first || _first - _op.first > len / _size || _count > len / _size - (_first - _op.first)) {
            revert OperandNotCovered(_index, _layout, _first, _count);
        }
        ptr_ = _dataPtr(_op.data) + (_first - _op.first) * _size;
    }

    /// @dev Calldata address of output element `outIndex` after checking that the output covers it.
    function _outputPtr(Operand calldata _out, uint256 _nInputs, uint256 _outIndex, uint256 _size)
        internal
        pure
        returns (uint256 ptr_)
    {
        uint256 len = _out.data.length;
        if (len % _size != 0) revert RaggedData(_nInputs, len);
        bool layoutOk = _out.layout == 0 || (_out.dims.length < 2 && _out.layout <= 1);
        // INVARIANT: the output operand holds the checked element, in layout 0.
        if (!layoutOk || _outIndex < _out.first || _outIndex - _out.first >= len / _size) {
            revert OutputNotCovered(_outIndex);
        }
        ptr_ = _dataPtr(_out.data) + (_outIndex - _out.first) * _size;
    }

    /// @dev Calldata address of the first byte of `data`.
    function _dataPtr(bytes calldata _data) internal pure returns (uint256 p_) {
        assembly ("memory-safe") {
            p_ := _data.offset
        }
    }

    /// @dev Reverts unless `outIndex` is an element of the output.
    function _requireIndex(Operand calldata _out, uint256 _outIndex) internal pure {
        uint256 n = _numel(_out.dims);
        if (_outIndex >= n) revert OutIndexOutOfRange(_outIndex, n);
    }

    /// @dev Element count of committed dims, saturating at 2^256 - 1 (absurd dims a worker may have
    /// committed must make the check fail on shapes, not panic).
    function _numel(uint64[] calldata _dims) internal pure returns (uint256 n_) {
        n_ = _numelRange(_dims, 0, _dims.length);
    }

    /// @dev Π dims[from .. to), saturating.
    function _numelRange(uint64[] calldata _dims, uint256 _from, uint256 _to) internal pure returns (uint256 n_) {
        n_ = 1;
        for (uint256 i = _from; i < _to; ++i) {
            n_ = _mulSat(n_, _dims[i]);
        }
    }

    /// @dev a·b, or 2^256 - 1 when it overflows.
    function _mulSat(uint256 _a, uint256 _b) internal pure returns (uint256) {
        unchecked {
            if (_a == 0) return 0;
            uint256 c = _a * _b;
            return c / _a == _b ? c : type(uint256).max;
        }
    }

    /// @dev Whether dims `out[oFrom .. oFrom + oLen)` are the multidirectional broadcast of
    /// `a[0 .. aLen)` and `b[0 .. bLen)` (right-aligned, size-1 dims stretch).
    function _isBroadcast(
        uint64[] calldata _out,
        uint256 _oFrom,
        uint256 _oLen,
        uint64[] calldata _a,
        uint256 _aLen,
        uint64[] calldata _b,
        uint256 _bLen
    ) internal pure returns (bool) {
        if (_oLen != (_aLen > _bLen ? _aLen : _bLen)) return false;
        for (uint256 j; j < _oLen; ++j) {
            uint256 da = j + _aLen >= _oLen ? _a[j + _aLen - _oLen] : 1;
            uint256 db = j + _bLen >= _oLen ? _b[j + _bLen - _oLen] : 1;
            uint256 want;
            if (da == db || db == 1) want = da;
            else if (da == 1) want = db;
            else return false;
            if (_out[_oFrom + j] != want) return false;
        }
        return true;
    }

    /// @dev Flat row-major index into `in[0 .. inLen)` of the output position whose multi-index over
    /// `out[0 .. oLen)` has flat value `linear` (right-aligned broadcasting: size-1 dims read index 0).
    function _broadcastIndex(uint64[] calldata _out, uint256 _oLen, uint256 _linear, uint64[] calldata _in, uint256 _inLen)
        internal
        pure
        returns (uint256 flat_)
    {
        uint256 stride = 1;
        for (uint256 j = _oLen; j > 0; --j) {
            uint256 d = _out[j - 1];
            uint256 i = _linear % d;
            _linear /= d;
            if (j + _inLen > _oLen) {
                uint256 di = _in[j - 1 + _inLen - _oLen];
                if (di != 1) flat_ += i * stride;
                stride *= di;
            }
        }
    }

    /// @dev Whether two dims lists are equal.
    function _sameDims(uint64[] calldata _a, uint64[] calldata _b) internal pure returns (bool) {
        if (_a.length != _b.length) return false;
        for (uint256 i; i < _a.length; ++i) {
            if (_a[i] != _b[i]) return false;
        }
        return true;
    }

    /// @dev Byte i = element size of ONNX dtype i, 0 where it has no canonical encoding (the table of
    /// TensorMerkle / docs/commitments.md §1).
    bytes32 private constant _ITEM_SIZES = hex"0004010102020408000102080408081002010101010000000100000000000000";

    /// @dev Element size of input `index`'s dtype; reverts UnsupportedDtype for dtypes with no encoding.
    function _itemSize(uint256 _index, uint8 _dtype) internal pure returns (uint256 size_) {
        if (_dtype < 32) size_ = uint8(_ITEM_SIZES[_dtype]);
        if (size_ == 0) revert UnsupportedDtype(_index, _dtype);
    }
}
