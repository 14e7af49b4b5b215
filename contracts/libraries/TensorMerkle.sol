// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title TensorMerkle
/// @notice sha256 Merkle commitments to tensors, io lists and lists of roots: the on-chain twin,
/// byte for byte, of `offchain/assay/commitments` (spec: docs/commitments.md; shared vectors:
/// tests/vectors/). Every hash goes through the sha256 precompile (address 0x02).
/// - data is cut into 128-byte chunks, the last one unpadded; empty data is one empty chunk;
/// - leaf = sha256(0x00 || chunk), inner node = sha256(0x01 || left || right);
/// - a level with an odd count promotes its last node unchanged;
/// - tensor root = sha256(0x02 || dtype u8 || rank u8 || dims u64 BE... || data root);
/// - io root = sha256(0x03 || count u32 BE || (name_len u16 BE || name || tensor root)...);
/// - list root (graph 0x05, weights 0x06, trace 0x07) = sha256(tag || count u64 BE || tree root),
///   tree root 0 for an empty list; graph leaves are sha256(0x04 || descriptor).
/// @dev Malformed proofs (wrong index, length or sibling count) revert with a custom error; a
/// well-formed proof that leads to another root returns false.
library TensorMerkle {
    /// @notice Bytes of tensor data per leaf; a multiple of every element size.
    uint256 internal constant LEAF_SIZE = 128;

    uint8 internal constant LEAF_TAG = 0x00;
    uint8 internal constant NODE_TAG = 0x01;
    uint8 internal constant TENSOR_TAG = 0x02;
    uint8 internal constant IO_TAG = 0x03;
    uint8 internal constant GRAPH_LEAF_TAG = 0x04;
    uint8 internal constant GRAPH_TAG = 0x05;
    uint8 internal constant WEIGHTS_TAG = 0x06;
    uint8 internal constant TRACE_TAG = 0x07;

    /// @dev Byte i = element size of ONNX dtype i (0: no canonical encoding). FLOAT=1:4, UINT8=2:1,
    /// INT8=3:1, UINT16=4:2, INT16=5:2, INT32=6:4, INT64=7:8, BOOL=9:1, FLOAT16=10:2, DOUBLE=11:8,
    /// UINT32=12:4, UINT64=13:8, COMPLEX64=14:8, COMPLEX128=15:16, BFLOAT16=16:2, FLOAT8*=17..20:1,
    /// FLOAT8E8M0=24:1.
    bytes32 private constant _ITEM_SIZES = hex"0004010102020408000102080408081002010101010000000100000000000000";

    /// @notice Thrown when a dtype code has no canonical encoding.
    error UnsupportedDtype(uint8 dtype);
    /// @notice Thrown when a tensor has more than 255 dimensions.
    error RankTooLarge(uint256 rank);
    /// @notice Thrown when a leaf run [first, end) is empty or not inside a `count`-leaf tree.
    error LeafOutOfRange(uint256 first, uint256 end, uint256 count);
    /// @notice Thrown when a proof has `given` siblings where the tree shape needs `expected`.
    error ProofLengthMismatch(uint256 expected, uint256 given);
    /// @notice Thrown when the data proven from leaf `first` on is not exactly `expected` bytes long.
    error ChunkLengthMismatch(uint256 first, uint256 expected, uint256 given);
    /// @notice Thrown when an element index is not below the tensor's element count.
    error ElementOutOfRange(uint256 index, uint256 numel);
    /// @notice Thrown when an io list has a different number of names and roots.
    error IoLengthMismatch(uint256 names, uint256 roots);
    /// @notice Thrown when an io name is longer than 65535 bytes.
    error NameTooLong(uint256 length);
    /// @notice Thrown when a call to the sha256 precompile fails (out of gas).
    error Sha256Failed();

    // ---------------------------------------------------------------------------------------
    // Hashing
    // ---------------------------------------------------------------------------------------

    /// @notice sha256(0x01 || left || right).
    function hashNode(bytes32 _left, bytes32 _right) internal view returns (bytes32 h_) {
        bool ok;
        assembly ("memory-safe") {
            let p := mload(0x40) // scratch past the free pointer, never allocated
            mstore(p, shl(248, 0x01))
            mstore(add(p, 1), _left)
            mstore(add(p, 33), _right)
            ok := staticcall(gas(), 0x02, p, 65, 0x00, 0x20)
            h_ := mload(0x00)
        }
        if (!ok) revert Sha256Failed();
    }

    /// @notice sha256(tag || data) for calldata bytes.
    function hashTagged(uint8 _tag, bytes calldata _data) internal view returns (bytes32 h_) {
        bool ok;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, _tag)
            calldatacopy(add(p, 1), _data.offset, _data.length)
            ok := staticcall(gas(), 0x02, p, add(_data.length, 1), 0x00, 0x20)
            h_ := mload(0x00)
        }
        if (!ok) revert Sha256Failed();
    }

    /// @notice Leaf hash of one data chunk: sha256(0x00 || chunk).
    function hashLeaf(bytes calldata _chunk) internal view returns (bytes32) {
        return hashTagged(LEAF_TAG, _chunk);
    }

    /// @notice Graph tree leaf of one canonical descriptor: sha256(0x04 || descriptor).
    function hashDescriptor(bytes calldata _descriptor) internal view returns (bytes32) {
        return hashTagged(GRAPH_LEAF_TAG, _descriptor);
    }

    // ---------------------------------------------------------------------------------------
    // Merkle proofs
    // ---------------------------------------------------------------------------------------

    /// @notice Siblings a proof of leaves [first, end) of a `count`-leaf tree must hold.
    function proofLength(uint256 _first, uint256 _end, uint256 _count) internal pure returns (uint256 n_) {
        if (_first >= _end || _end > _count) revert LeafOutOfRange(_first, _end, _count);
        unchecked {
            while (_count > 1) {
                if (_first & 1 == 1) {
                    ++n_;
                    --_first;
                }
                if (_end & 1 == 1 && _end < _count) {
                    ++n_;
                    ++_end;
                }
                _first >>= 1;
                _end = (_end + 1) >> 1;
                _count = (_count + 1) >> 1;
            }
        }
    }

    /// @notice Root implied by leaf hash `leaf` at `index` of a `count`-leaf tree and its siblings.
    function processProof(bytes32 _leaf, uint256 _index, uint256 _count, bytes32[] calldata _proof)
        internal
        view
        returns (bytes32 root_)
    {
        // INVARIANT: the leaf lies inside the tree.
        if (_index >= _count) revert LeafOutOfRange(_index, _index + 1, _count);
        bool ok = true;
        bool short;
        uint256 k;
        assembly ("memory-safe") {
            let p := mload(0x40) // 65 bytes of scratch past the free pointer: 0x01 || left || right
            mstore8(p, 0x01)
            let h := _leaf
            let i := _index
            let c := _count
            let n := _proof.length
            for {} gt(c, 1) {} {
                let odd := and(i, 1)
                if or(odd, lt(add(i, 1), c)) {
                    // a sibling exists at this level (else the node is promoted unchanged)
                    if eq(k, n) {
                        short := 1
                        break
                    }
                    let sib := calldataload(add(_proof.offset, shl(5, k)))
                    switch odd
                    case 1 {
                        mstore(add(p, 1), sib)
                        mstore(add(p, 33), h)
                    }
                    default {
                        mstore(add(p, 1), h)
                        mstore(add(p, 33), sib)
                    }
                    ok := and(ok, staticcall(gas(), 0x02, p, 65, 0x00, 0x20))
                    h := mload(0x00)
                    k := add(k, 1)
                }
                i := shr(1, i)
                c := shr(1, add(c, 1))
            }
            root_ := h
        }
        if (!ok) revert Sha256Failed();
        // INVARIANT: exactly one sibling per level that has one (one tree shape, one proof).
        if (short) revert ProofLengthMismatch(proofLength(_index, _index + 1, _count), _proof.length);
        if (k != _proof.length) revert ProofLengthMismatch(k, _proof.length);
    }

    /// @notice Root implied by the leaf hashes `run` at [first, first + run.length) of a
    /// `count`-leaf tree; siblings level by level, the left one before the right one.
    function processRangeProof(bytes32[] memory _run, uint256 _first, uint256 _count, bytes32[] calldata _proof)
        internal
        view
        returns (bytes32)
    {
        uint256 len = _run.length;
        // INVARIANT: a non-empty run inside the tree.
        if (len == 0 || _first + len > _count) revert LeafOutOfRange(_first, _first + len, _count);
        bytes32[] memory buf = new bytes32[](len + 2);
        for (uint256 i; i < len; ++i) {
            buf[i + 1] = _run[i];
        }
        return _climb(buf, len, _first, _count, _proof);
    }

    /// @dev Climbs from a run of `len` node hashes held in `buf[1 .. 1 + len)` (`buf` has len + 2
    /// slots: one free before the run for a left sibling, one after it for a right sibling) to the
    /// root, pairing in place: slot 1 + t is written only after slots s + 2t and s + 2t + 1 are read.
    function _climb(bytes32[] memory _buf, uint256 _len, uint256 _first, uint256 _count, bytes32[] calldata _proof)
        private
        view
        returns (bytes32 root_)
    {
        bool ok = true;
        bool short;
        uint256 k;
        assembly ("memory-safe") {
            let base := add(_buf, 0x20)
            let p := mload(0x40)
            mstore8(p, 0x01)
            let s := 1
            let len := _len
            let lo := _first
            let c := _count
            let n := _proof.length
            for {} gt(c, 1) {} {
                if and(lo, 1) {
                    if eq(k, n) {
                        short := 1
                        break
                    }
                    s := sub(s, 1)
                    mstore(add(base, shl(5, s)), calldataload(add(_proof.offset, shl(5, k))))
                    k := add(k, 1)
                    lo := sub(lo, 1)
                    len := add(len, 1)
                }
                let hi := add(lo, len)
                if and(and(hi, 1), lt(hi, c)) {
                    if eq(k, n) {
                        short := 1
                        break
                    }
                    mstore(add(base, shl(5, add(s, len))), calldataload(add(_proof.offset, shl(5, k))))
                    k := add(k, 1)
                    len := add(len, 1)
                }
                let m := shr(1, add(len, 1))
                for { let t := 0 } lt(t, m) { t := add(t, 1) } {
                    let a := add(base, shl(5, add(s, shl(1, t))))
                    let dst := add(base, shl(5, add(1, t)))
                    switch lt(add(shl(1, t), 1), len)
                    case 1 {
                        mstore(add(p, 1), mload(a))
                        mstore(add(p, 33), mload(add(a, 0x20)))
                        ok := and(ok, staticcall(gas(), 0x02, p, 65, dst, 0x20))
                    }
                    default { mstore(dst, mload(a)) } // odd count: promote the last node
                }
                s := 1
                len := m
                lo := shr(1, lo)
                c := shr(1, add(c, 1))
            }
            root_ := mload(add(base, shl(5, s)))
        }
        if (!ok) revert Sha256Failed();
        // INVARIANT: exactly the siblings the tree shape needs.
        if (short) revert ProofLengthMismatch(proofLength(_first, _first + _len, _count), _proof.length);
        if (k != _proof.length) revert ProofLengthMismatch(k, _proof.length);
    }

    // ---------------------------------------------------------------------------------------
    // Tensors
    // ---------------------------------------------------------------------------------------

    /// @notice Element size in bytes of an ONNX dtype; reverts for dtypes with no encoding.
    function itemSize(uint8 _dtype) internal pure returns (uint256 size_) {
        if (_dtype < 32) size_ = uint8(_ITEM_SIZES[_dtype]);
        if (size_ == 0) revert UnsupportedDtype(_dtype);
    }

    /// @notice Number of elements of a shape (1 for a scalar).
    function numel(uint64[] memory _dims) internal pure returns (uint256 n_) {
        n_ = 1;
        for (uint256 i; i < _dims.length; ++i) {
            n_ *= _dims[i];
        }
    }

    /// @notice Bytes of data of a tensor of this dtype and shape.
    function dataSize(uint8 _dtype, uint64[] memory _dims) internal pure returns (uint256) {
        return itemSize(_dtype) * numel(_dims);
    }

    /// @notice Leaves of the data tree over `nbytes` bytes: max(1, ceil(nbytes / 128)).
    function leafCount(uint256 _nbytes) internal pure returns (uint256) {
        return _nbytes == 0 ? 1 : (_nbytes - 1) / LEAF_SIZE + 1;
    }

    /// @notice sha256(0x02 || dtype u8 || rank u8 || dims u64 BE... || dataRoot).
    function tensorRoot(uint8 _dtype, uint64[] memory _dims, bytes32 _dataRoot) internal view returns (bytes32 h_) {
        itemSize(_dtype);
        uint256 rank = _dims.length;
        // INVARIANT: the rank fits its u8 header field.
        if (rank > 255) revert RankTooLarge(rank);
        bool ok;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x02)
            mstore8(add(p, 1), _dtype)
            mstore8(add(p, 2), rank)
            let q := add(p, 3)
            let d := add(_dims, 0x20)
            for { let i := 0 } lt(i, rank) { i := add(i, 1) } {
                mstore(q, shl(192, mload(add(d, shl(5, i)))))
                q := add(q, 8)
            }
            mstore(q, _dataRoot)
            ok := staticcall(gas(), 0x02, p, add(sub(q, p), 32), 0x00, 0x20)
            h_ := mload(0x00)
        }
        if (!ok) revert Sha256Failed();
    }

    /// @notice Whether `chunk` is leaf `leafIndex` of the tensor committed as `root` with this
    /// dtype and shape. Reverts when the index or the chunk's length cannot fit the shape.
    function verifyChunk(
        bytes32 _root,
        uint8 _dtype,
        uint64[] memory _dims,
        uint256 _leafIndex,
        bytes calldata _chunk,
        bytes32[] calldata _proof
    ) internal view returns (bool) {
        uint256 nbytes = dataSize(_dtype, _dims);
        uint256 count = leafCount(nbytes);
        // INVARIANT: the leaf lies inside the tensor's tree.
        if (_leafIndex >= count) revert LeafOutOfRange(_leafIndex, _leafIndex + 1, count);
        uint256 expected = nbytes - _leafIndex * LEAF_SIZE;
        if (expected > LEAF_SIZE) expected = LEAF_SIZE;
        // INVARIANT: full chunks except the last, which holds exactly the remaining bytes.
        if (_chunk.length != expected) revert ChunkLengthMismatch(_leafIndex, expected, _chunk.length);
        bytes32 dataRoot = processProof(hashLeaf(_chunk), _leafIndex, count, _proof);
        return tensorRoot(_dtype, _dims, dataRoot) == _root;
    }

    /// @notice Whether `data` is exactly the bytes of the leaves [first, first + ceil(len / 128))
    /// of the tensor committed as `root` (e.g. one row proven as an aligned subtree).
    function verifyChunkRange(
        bytes32 _root,
        uint8 _dtype,
        uint64[] memory _dims,
        uint256 _first,
        bytes calldata _data,
        bytes32[] calldata _proof
    ) internal view returns (bool) {
        uint256 nbytes = dataSize(_dtype, _dims);
        uint256 count = leafCount(nbytes);
        uint256 n = leafCount(_data.length);
        // INVARIANT: the run of leaves lies inside the tensor's tree.
        if (_first + n > count) revert LeafOutOfRange(_first, _first + n, count);
        uint256 end = (_first + n) * LEAF_SIZE;
        uint256 expected = (end < nbytes ? end : nbytes) - _first * LEAF_SIZE;
        // INVARIANT: the data ends on a leaf boundary or at the end of the tensor.
        if (_data.length != expected) revert ChunkLengthMismatch(_first, expected, _data.length);
        // Leaf hashes straight into the climbing buffer (slots 1 .. n; see _climb).
        bytes32[] memory buf = new bytes32[](n + 2);
        bool ok = true;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x00)
            let dst := add(buf, 0x40)
            let len := _data.length
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let off := mul(i, LEAF_SIZE)
                let size := sub(len, off)
                if gt(size, LEAF_SIZE) { size := LEAF_SIZE }
                calldatacopy(add(p, 1), add(_data.offset, off), size)
                ok := and(ok, staticcall(gas(), 0x02, p, add(size, 1), add(dst, shl(5, i)), 0x20))
            }
        }
        if (!ok) revert Sha256Failed();
        bytes32 dataRoot = _climb(buf, n, _first, count, _proof);
        return tensorRoot(_dtype, _dims, dataRoot) == _root;
    }

    /// @notice (leaf index, byte offset in that leaf) of element `flatIndex` (row-major).
    function elementLocation(uint8 _dtype, uint64[] memory _dims, uint256 _flatIndex)
        internal
        pure
        returns (uint256 leaf_, uint256 offset_)
    {
        uint256 n = numel(_dims);
        // INVARIANT: the element exists.
        if (_flatIndex >= n) revert ElementOutOfRange(_flatIndex, n);
        uint256 pos = _flatIndex * itemSize(_dtype);
        leaf_ = pos / LEAF_SIZE;
        offset_ = pos % LEAF_SIZE;
    }

    /// @notice Proves element `flatIndex` of the tensor `root` with the chunk that holds it and
    /// returns its raw bits (the little-endian bytes read as an unsigned integer).
    function verifyElement(
        bytes32 _root,
        uint8 _dtype,
        uint64[] memory _dims,
        uint256 _flatIndex,
        bytes calldata _chunk,
        bytes32[] calldata _proof
    ) internal view returns (bool ok_, uint256 bits_) {
        (uint256 leaf, uint256 offset) = elementLocation(_dtype, _dims, _flatIndex);
        ok_ = verifyChunk(_root, _dtype, _dims, leaf, _chunk, _proof);
        bits_ = readLE(_chunk, offset, itemSize(_dtype));
    }

    /// @notice The `size` little-endian bytes at `offset` of `data`, as an unsigned integer.
    function readLE(bytes calldata _data, uint256 _offset, uint256 _size) internal pure returns (uint256 v_) {
        bytes calldata b = _data[_offset:_offset + _size];
        for (uint256 i = _size; i > 0; --i) {
            v_ = (v_ << 8) | uint8(b[i - 1]);
        }
    }

    // ---------------------------------------------------------------------------------------
    // io roots and list roots
    // ---------------------------------------------------------------------------------------

    /// @notice sha256(0x03 || count u32 BE || (name_len u16 BE || name || root)...), in order.
    function ioRoot(string[] memory _names, bytes32[] memory _roots) internal pure returns (bytes32) {
        // INVARIANT: one root per name.
        if (_names.length != _roots.length) revert IoLengthMismatch(_names.length, _roots.length);
        bytes memory b = abi.encodePacked(bytes1(IO_TAG), uint32(_names.length));
        for (uint256 i; i < _names.length; ++i) {
            bytes memory n = bytes(_names[i]);
            // INVARIANT: the name length fits its u16 field.
            if (n.length > type(uint16).max) revert NameTooLong(n.length);
            b = bytes.concat(b, bytes2(uint16(n.length)), n, _roots[i]);
        }
        return sha256(b);
    }

    /// @notice sha256(tag || count u64 BE || treeRoot): a graph, weights or trace root.
    function listRoot(uint8 _tag, uint64 _count, bytes32 _treeRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(_tag, _count, _treeRoot));
    }

    /// @notice Whether `item` is entry `index` of the `count`-item list committed as `root`.
    function verifyListItem(
        bytes32 _root,
        uint8 _tag,
        uint64 _count,
        uint256 _index,
        bytes32 _item,
        bytes32[] calldata _proof
    ) internal view returns (bool) {
        return listRoot(_tag, _count, processProof(_item, _index, _count, _proof)) == _root;
    }
}
