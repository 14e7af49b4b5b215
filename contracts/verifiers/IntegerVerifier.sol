// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";

/// @title IntegerVerifier
/// @notice One-step check of MatMulInteger: uint8/int8 A and B, optional zero points (A: one
/// value; B: one value, or one per column of a 2-D B, as onnxruntime accepts them), int32 output,
/// numpy matmul shapes (1-D operands, broadcast batch dims). Exact: the output element must equal
/// Σ (a_k - a_zp)(b_k - b_zp) over a row of A (layout 0) and a column of B (layout 1; layout 0 for
/// a 1-D B), wrapped to 32 bits (two's complement), which is what onnxruntime's int32 accumulators
/// give (measured: docs/fraud-bounds.md §4.6). The off-chain twin is `assay.fraud.ops._MatMulInteger`.
contract IntegerVerifier is OpVerifierBase {
    bytes32 private constant _MATMUL_INTEGER = keccak256("MatMulInteger");
    uint8 private constant _UINT8 = 2;
    uint8 private constant _INT8 = 3;
    uint8 private constant _INT32 = 6;
    uint256 private constant _MAX_K = 1 << 20;

    /// @notice Thrown when zero point input `index` has a shape the check does not handle (A: one
    /// value; B: one value or one per column of a 2-D B).
    error UnsupportedZeroPoint(uint256 index);

    /// @dev Shapes of one MatMulInteger and where the checked element's operands lie.
    struct Geo {
        bool consistent;
        uint256 k;
        uint256 mRows;
        uint256 nCols;
        uint256 nb; // batch rank of the output
        bool hasZa;
        uint256 zb; // 0 absent, 1 one value, 2 one per column
    }

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        if (n.domainLen != 0 || keccak256(Descriptor.opType(_descriptor, n)) != _MATMUL_INTEGER) {
            _unsupported(_descriptor, n);
        }
        _begin(_descriptor, _inputs, 2, 4);
        Geo memory g = _geometry(_inputs, _output);
        // INVARIANT: 1 ≤ K ≤ 2^20 (the same bound as MatMul).
        if (g.consistent && (g.k == 0 || g.k > _MAX_K)) revert UnsupportedSize(g.k);
        _requireIndex(_output, _outIndex);
        if (!g.consistent) return false;
        return _decide(_inputs, _output, _outIndex, g);
    }

    function _geometry(Operand[] calldata _inputs, Operand calldata _output) private pure returns (Geo memory g_) {
        for (uint256 i; i < 2; ++i) {
            uint8 dt = _inputs[i].dtype;
            if (dt != _UINT8 && dt != _INT8) revert UnsupportedDtype(i, dt);
        }
        uint64[] calldata a = _inputs[0].dims;
        uint64[] calldata b = _inputs[1].dims;
        g_.hasZa = _inputs.length > 2 && _inputs[2].dtype != 0;
        if (g_.hasZa) {
            // INVARIANT: a zero point has its tensor's dtype; A's is one value.
            if (_inputs[2].dtype != _inputs[0].dtype) revert UnsupportedDtype(2, _inputs[2].dtype);
            if (_inputs[2].dims.length > 1 || _numel(_inputs[2].dims) != 1) revert UnsupportedZeroPoint(2);
        }
        if (_inputs.length > 3 && _inputs[3].dtype != 0) {
            if (_inputs[3].dtype != _inputs[1].dtype) revert UnsupportedDtype(3, _inputs[3].dtype);
            uint64[] calldata zs = _inputs[3].dims;
            if (zs.length <= 1 && _numel(zs) == 1) {
                g_.zb = 1;
            } else if (b.length == 2 && ((zs.length == 1 && zs[0] == b[1]) || (zs.length == 2 && zs[0] == 1 && zs[1] == b[1]))) {
                g_.zb = 2;
            } else {
                revert UnsupportedZeroPoint(3);
            }
        }
        uint64[] calldata o = _output.dims;
        uint256 ra = a.length;
        uint256 rb = b.length;
        if (_output.dtype != _INT32 || ra == 0 || rb == 0) return g_;
        g_.k = a[ra - 1];
        g_.mRows = ra >= 2 ? a[ra - 2] : 1;
        g_.nCols = rb >= 2 ? b[rb - 1] : 1;
        uint256 abl = ra >= 2 ? ra - 2 : 0;
        uint256 bbl = rb >= 2 ? rb - 2 : 0;
        g_.nb = abl > bbl ? abl : bbl;
        uint256 rank = g_.nb + (ra >= 2 ? 1 : 0) + (rb >= 2 ? 1 : 0);
        g_.consistent = (rb == 1 ? b[0] : b[rb - 2]) == g_.k && o.length == rank && _isBroadcast(o, 0, g_.nb, a, abl, b, bbl)
            && (ra < 2 || o[g_.nb] == g_.mRows) && (rb < 2 || o[rank - 1] == g_.nCols);
    }

    function _decide(Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex, Geo memory _g)
        private
        pure
        returns (bool)
    {
        uint64[] calldata a = _inputs[0].dims;
        uint64[] calldata b = _inputs[1].dims;
        uint64[] calldata o = _output.dims;
        uint256 c = b.length >= 2 ? _outIndex % _g.nCols : 0;
        uint256 rest = b.length >= 2 ? _outIndex / _g.nCols : _outIndex;
        uint256 r = a.length >= 2 ? rest % _g.mRows : 0;
        uint256 bl = a.length >= 2 ? rest / _g.mRows : rest; // linear batch index
        uint256 ab = _broadcastIndex(o, _g.nb, bl, a, a.length >= 2 ? a.length - 2 : 0);
        uint256 pa = _run(_inputs[0], 0, 0, (ab * _g.mRows + r) * _g.k, _g.k, 1);
        uint256 pb;
        if (b.length == 1) {
            pb = _run(_inputs[1], 1, 0, 0, _g.k, 1);
        } else {
            uint256 bb = _broadcastIndex(o, _g.nb, bl, b, b.length - 2);
            pb = _run(_inputs[1], 1, 1, (bb * _g.nCols + c) * _g.k, _g.k, 1);
        }
        bool sa = _inputs[0].dtype == _INT8;
        bool sb = _inputs[1].dtype == _INT8;
        int256 za = _g.hasZa ? _byte(_run(_inputs[2], 2, 0, 0, 1, 1), sa) : int256(0);
        int256 zb = _g.zb == 0 ? int256(0) : _byte(_run(_inputs[3], 3, 0, _g.zb == 2 ? c : 0, 1, 1), sb);
        // two call sites on purpose: via-IR inlines a function called once into this deep frame and
        // then spills the loop's variables to memory (~3x the gas per byte)
        uint256 acc = sa ? _dot(pa, pb, _g.k, true, sb, za, zb) : _dot(pa, pb, _g.k, false, sb, za, zb);
        uint256 y = Float32.loadLEn(_outputPtr(_output, _inputs.length, _outIndex, 4), 4);
        // int32 accumulation wraps: compare the low 32 bits (two's complement)
        return uint32(acc) == y;
    }

    /// @dev Σ (a_i - za)(b_i - zb) over `k` bytes at calldata `pa`, `pb` (int8 where `sa`/`sb`), as a
    /// two's complement word: every term and partial sum is below 2^37 in magnitude (k ≤ 2^20), so
    /// wrapping 256-bit arithmetic is exact and its low 32 bits are the int32 result. An int8 byte u
    /// is read as (u ^ 0x80) - 128, so the loop works on unsigned bytes (one xor per 32-byte word)
    /// against zero points raised by 128.
    function _dot(uint256 _pa, uint256 _pb, uint256 _k, bool _sa, bool _sb, int256 _za, int256 _zb)
        private
        pure
        returns (uint256 acc_)
    {
        uint256 flip = 0x8080808080808080808080808080808080808080808080808080808080808080;
        uint256 ma = _sa ? flip : 0;
        uint256 mb = _sb ? flip : 0;
        int256 za = _sa ? _za + 128 : _za;
        int256 zb = _sb ? _zb + 128 : _zb;
        assembly ("memory-safe") {
            let full := sub(_k, mod(_k, 32))
            for { let i := 0 } lt(i, full) { i := add(i, 32) } {
                let wa := xor(calldataload(add(_pa, i)), ma)
                let wb := xor(calldataload(add(_pb, i)), mb)
                for { let j := 0 } lt(j, 32) { j := add(j, 4) } {
                    acc_ := add(acc_, mul(sub(byte(j, wa), za), sub(byte(j, wb), zb)))
                    acc_ := add(acc_, mul(sub(byte(add(j, 1), wa), za), sub(byte(add(j, 1), wb), zb)))
                    acc_ := add(acc_, mul(sub(byte(add(j, 2), wa), za), sub(byte(add(j, 2), wb), zb)))
                    acc_ := add(acc_, mul(sub(byte(add(j, 3), wa), za), sub(byte(add(j, 3), wb), zb)))
                }
            }
            // the last k mod 32 bytes
            let wa := xor(calldataload(add(_pa, full)), ma)
            let wb := xor(calldataload(add(_pb, full)), mb)
            for { let j := 0 } lt(j, sub(_k, full)) { j := add(j, 1) } {
                acc_ := add(acc_, mul(sub(byte(j, wa), za), sub(byte(j, wb), zb)))
            }
        }
    }

    /// @dev The byte at calldata address `p`, as int8 (`signed`) or uint8.
    function _byte(uint256 _p, bool _signed) private pure returns (int256 v_) {
        uint256 u;
        assembly ("memory-safe") {
            u := byte(0, calldataload(_p))
        }
        v_ = _signed ? int256(int8(uint8(u))) : int256(u);
    }
}
