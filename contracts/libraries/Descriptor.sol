// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Descriptor
/// @notice Reads a canonical node descriptor (docs/commitments.md §4) in calldata:
/// `0x01 || str16 domain || str16 op_type || n_in u16 || ids u32... || n_out u16 || ids u32... ||
/// n_attr u16 || (str16 name || type u8 || value)...`, attributes sorted by name, integers big-endian.
/// @dev `parse` walks the whole descriptor once and reverts unless it is well formed (every length
/// inside the bytes, known attribute types, names strictly increasing, nothing trailing), so the
/// accessors can index it without further checks. Offsets are relative to the descriptor's start.
library Descriptor {
    /// @notice Value id written for an omitted optional input or output.
    uint32 internal constant ABSENT = 0xFFFFFFFF;

    /// @notice Attribute type codes (onnx AttributeProto.AttributeType).
    uint8 internal constant FLOAT = 1;
    uint8 internal constant INT = 2;
    uint8 internal constant STRING = 3;
    uint8 internal constant FLOATS = 6;
    uint8 internal constant INTS = 7;

    /// @notice Thrown when the bytes are not a well-formed node descriptor; `offset` is where reading failed.
    error MalformedDescriptor(uint256 offset);
    /// @notice Thrown when input or output `index` is asked of a node that has only `count`.
    error ValueIndexOutOfRange(uint256 index, uint256 count);
    /// @notice Thrown when attribute `name` has type `given` where the op expects `expected`.
    error AttributeTypeMismatch(string name, uint8 expected, uint8 given);

    /// @notice Where the parts of a descriptor start.
    struct Node {
        uint256 domainOff;
        uint256 domainLen;
        uint256 opOff;
        uint256 opLen;
        uint256 nIn;
        uint256 inOff; // first input id
        uint256 nOut;
        uint256 outOff;
        uint256 nAttr;
        uint256 attrOff; // first attribute
    }

    function _u(bytes calldata _d, uint256 _off, uint256 _n) private pure returns (uint256 v_) {
        // INVARIANT: every read lies inside the descriptor.
        if (_off + _n > _d.length) revert MalformedDescriptor(_off);
        assembly ("memory-safe") {
            v_ := shr(sub(256, shl(3, _n)), calldataload(add(_d.offset, _off)))
        }
    }

    /// @notice Checks the whole descriptor and returns the offsets of its parts.
    function parse(bytes calldata _d) internal pure returns (Node memory n_) {
        // INVARIANT: a node descriptor starts with kind byte 0x01.
        if (_u(_d, 0, 1) != 1) revert MalformedDescriptor(0);
        uint256 p = 1;
        n_.domainLen = _u(_d, p, 2);
        n_.domainOff = p + 2;
        p = n_.domainOff + n_.domainLen;
        n_.opLen = _u(_d, p, 2);
        n_.opOff = p + 2;
        p = n_.opOff + n_.opLen;
        n_.nIn = _u(_d, p, 2);
        n_.inOff = p + 2;
        p = n_.inOff + 4 * n_.nIn;
        n_.nOut = _u(_d, p, 2);
        n_.outOff = p + 2;
        p = n_.outOff + 4 * n_.nOut;
        n_.nAttr = _u(_d, p, 2);
        p += 2;
        n_.attrOff = p;
        uint256 prevOff;
        uint256 prevLen;
        for (uint256 i; i < n_.nAttr; ++i) {
            uint256 nameLen = _u(_d, p, 2);
            uint256 nameOff = p + 2;
            // INVARIANT: names strictly increasing (canonical order, no duplicates).
            if (i > 0 && !_less(_d, prevOff, prevLen, nameOff, nameLen)) revert MalformedDescriptor(p);
            prevOff = nameOff;
            prevLen = nameLen;
            p = nameOff + nameLen;
            uint256 t = _u(_d, p, 1);
            p = _skipValue(_d, p + 1, t);
        }
        // INVARIANT: nothing trails the last attribute.
        if (p != _d.length) revert MalformedDescriptor(p);
    }

    /// @dev Offset just past an attribute value of type `t` starting at `p`.
    function _skipValue(bytes calldata _d, uint256 _p, uint256 _t) private pure returns (uint256) {
        if (_t == 1) return _end(_d, _p, 4);
        if (_t == 2) return _end(_d, _p, 8);
        if (_t == 3) return _end(_d, _p + 4, _u(_d, _p, 4));
        if (_t == 4 || _t == 5 || _t == 11 || _t == 13) return _end(_d, _p, 32);
        if (_t == 6) return _end(_d, _p + 4, 4 * _u(_d, _p, 4));
        if (_t == 7) return _end(_d, _p + 4, 8 * _u(_d, _p, 4));
        if (_t == 8) {
            uint256 n = _u(_d, _p, 4);
            _p += 4;
            for (uint256 i; i < n; ++i) {
                _p = _end(_d, _p + 4, _u(_d, _p, 4));
            }
            return _p;
        }
        if (_t == 9 || _t == 10 || _t == 12 || _t == 14) return _end(_d, _p + 4, 32 * _u(_d, _p, 4));
        revert MalformedDescriptor(_p - 1); // unknown attribute type
    }

    function _end(bytes calldata _d, uint256 _p, uint256 _n) private pure returns (uint256 e_) {
        e_ = _p + _n;
        if (e_ > _d.length) revert MalformedDescriptor(_p);
    }

    /// @dev Bytewise lexicographic a < b.
    function _less(bytes calldata _d, uint256 _ao, uint256 _al, uint256 _bo, uint256 _bl)
        private
        pure
        returns (bool)
    {
        uint256 n = _al < _bl ? _al : _bl;
        for (uint256 i; i < n; ++i) {
            uint8 x = uint8(_d[_ao + i]);
            uint8 y = uint8(_d[_bo + i]);
            if (x != y) return x < y;
        }
        return _al < _bl;
    }

    /// @notice The op type bytes (UTF-8).
    function opType(bytes calldata _d, Node memory _n) internal pure returns (bytes calldata) {
        return _d[_n.opOff:_n.opOff + _n.opLen];
    }

    /// @notice The domain bytes ("" for the default ONNX domain).
    function domain(bytes calldata _d, Node memory _n) internal pure returns (bytes calldata) {
        return _d[_n.domainOff:_n.domainOff + _n.domainLen];
    }

    /// @notice Value id of input `i` (ABSENT for an omitted optional input).
    function inputId(bytes calldata _d, Node memory _n, uint256 _i) internal pure returns (uint32) {
        if (_i >= _n.nIn) revert ValueIndexOutOfRange(_i, _n.nIn);
        return uint32(_u(_d, _n.inOff + 4 * _i, 4));
    }

    /// @notice Value id of output `i`.
    function outputId(bytes calldata _d, Node memory _n, uint256 _i) internal pure returns (uint32) {
        if (_i >= _n.nOut) revert ValueIndexOutOfRange(_i, _n.nOut);
        return uint32(_u(_d, _n.outOff + 4 * _i, 4));
    }

    /// @notice Finds attribute `name`: its type and the offset of its value.
    function find(bytes calldata _d, Node memory _n, bytes memory _name)
        internal
        pure
        returns (bool found_, uint8 type_, uint256 valueOff_)
    {
        uint256 p = _n.attrOff;
        bytes32 h = keccak256(_name);
        for (uint256 i; i < _n.nAttr; ++i) {
            uint256 nameLen = _u(_d, p, 2);
            uint256 nameOff = p + 2;
            uint256 t = _u(_d, nameOff + nameLen, 1);
            uint256 v = nameOff + nameLen + 1;
            if (nameLen == _name.length && keccak256(_d[nameOff:nameOff + nameLen]) == h) {
                return (true, uint8(t), v);
            }
            p = _skipValue(_d, v, t);
        }
    }

    function _typed(bytes calldata _d, Node memory _n, string memory _name, uint8 _type)
        private
        pure
        returns (bool found_, uint256 off_)
    {
        uint8 t;
        (found_, t, off_) = find(_d, _n, bytes(_name));
        // INVARIANT: an attribute the op reads has the type ONNX gives it.
        if (found_ && t != _type) revert AttributeTypeMismatch(_name, _type, t);
    }

    /// @notice INT attribute `name`, or `default` when absent.
    function intAttr(bytes calldata _d, Node memory _n, string memory _name, int256 _default)
        internal
        pure
        returns (int256)
    {
        (bool found, uint256 off) = _typed(_d, _n, _name, INT);
        if (!found) return _default;
        return int256(int64(uint64(_u(_d, off, 8))));
    }

    /// @notice INT attribute `name` and whether it is present.
    function optIntAttr(bytes calldata _d, Node memory _n, string memory _name)
        internal
        pure
        returns (bool found_, int256 v_)
    {
        uint256 off;
        (found_, off) = _typed(_d, _n, _name, INT);
        if (found_) v_ = int256(int64(uint64(_u(_d, off, 8))));
    }

    /// @notice FLOAT attribute `name` as float32 bits, or `default` when absent.
    function floatAttr(bytes calldata _d, Node memory _n, string memory _name, uint256 _default)
        internal
        pure
        returns (uint256)
    {
        (bool found, uint256 off) = _typed(_d, _n, _name, FLOAT);
        if (!found) return _default;
        return _u(_d, off, 4);
    }

    /// @notice INTS attribute `name` (empty and found = false when absent).
    function intsAttr(bytes calldata _d, Node memory _n, string memory _name)
        internal
        pure
        returns (bool found_, int256[] memory v_)
    {
        uint256 off;
        (found_, off) = _typed(_d, _n, _name, INTS);
        if (!found_) return (false, v_);
        uint256 count = _u(_d, off, 4);
        v_ = new int256[](count);
        for (uint256 i; i < count; ++i) {
            v_[i] = int256(int64(uint64(_u(_d, off + 4 + 8 * i, 8))));
        }
    }

    /// @notice STRING attribute `name` (empty and found = false when absent).
    function stringAttr(bytes calldata _d, Node memory _n, string memory _name)
        internal
        pure
        returns (bool found_, bytes calldata v_)
    {
        uint256 off;
        (found_, off) = _typed(_d, _n, _name, STRING);
        if (!found_) return (false, _d[0:0]);
        uint256 len = _u(_d, off, 4);
        return (true, _d[off + 4:off + 4 + len]);
    }
}
