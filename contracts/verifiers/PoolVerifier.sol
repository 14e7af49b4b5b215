// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {ProductSumRule} from "./ProductSumRule.sol";
import {WindowVerifierBase} from "./WindowVerifierBase.sol";

/// @title PoolVerifier
/// @notice One-step checks of float32 AveragePool (2-D, NCHW; auto_pad NOTSET or VALID,
/// dilations 1, ceil_mode 0, count_include_pad 0 or 1) and GlobalAveragePool (rank ≥ 3).
/// An output element is the mean Σxᵢ / n of its window's k real elements (n = k, or the kernel
/// size with count_include_pad 1). It is decided as ProductSumRule over the pairs (xᵢ, 1) with the
/// claimed value n·ŷ and m = kernel size + 1 roundings (k − 1 additions, the division, and 1/n
/// rounded for a reciprocal-multiply): |n·ŷ − Σxᵢ| ≤ γ_m·Σ|xᵢ| + 2·D + n·(m + 1)·2^-123, exact
/// on a grid (docs/fraud-bounds.md §4.5). The Python twin is `assay.fraud.ops.mean_rule`.
/// The AveragePool window is read from MaxPool's span (one channel, from the window's first to its
/// last element), row by row; a GlobalAveragePool window is one contiguous run of H·W·… elements.
contract PoolVerifier is WindowVerifierBase {
    bytes32 private constant _AVERAGEPOOL = keccak256("AveragePool");
    bytes32 private constant _GLOBALAVERAGEPOOL = keccak256("GlobalAveragePool");
    uint256 private constant _MAX_TERMS = 1 << 20;

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0 || (op != _AVERAGEPOOL && op != _GLOBALAVERAGEPOOL)) _unsupported(_descriptor, n);
        return op == _AVERAGEPOOL
            ? _averagePool(_descriptor, _inputs, _output, _outIndex)
            : _globalAveragePool(_descriptor, _inputs, _output, _outIndex);
    }

    function _averagePool(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_d, _inputs, 1, 1);
        Win memory w;
        if (!_windowAttrs(_d, n, w)) revert UnsupportedAttribute("kernel_shape");
        if (Descriptor.intAttr(_d, n, "ceil_mode", 0) != 0) revert UnsupportedAttribute("ceil_mode");
        int256 cip = Descriptor.intAttr(_d, n, "count_include_pad", 0);
        if (cip != 0 && cip != 1) revert UnsupportedAttribute("count_include_pad");
        _requireDtype(_inputs, 0, FLOAT);
        if (_inputs[0].dims.length != 4) revert UnsupportedSize(_inputs[0].dims.length);
        uint256 size = w.kh * w.kw;
        // INVARIANT: 1 ≤ kernel positions ≤ 2^20 (the rule's magnitude bounds).
        if (size == 0 || size > _MAX_TERMS) revert UnsupportedSize(size);
        w.x = _dims4(_inputs[0].dims);
        w.group = 1;
        uint64[] calldata o = _output.dims;
        // onnxruntime refuses a pad as large as the kernel: every window holds a real element
        bool consistent = _output.dtype == FLOAT && o.length == 4 && o[0] == w.x[0] && o[1] == w.x[1]
            && o[2] == _outDim(w.x[2], w.kh, w.sh, w.pads[0], w.pads[2])
            && o[3] == _outDim(w.x[3], w.kw, w.sw, w.pads[1], w.pads[3]) && w.pads[0] < w.kh && w.pads[2] < w.kh
            && w.pads[1] < w.kw && w.pads[3] < w.kw;
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        w.o = _dims4(o);
        _position(w, _outIndex);
        (uint256 i0, uint256 i1, uint256 j0, uint256 j1) = _rowsCols(w);
        uint256 first = _xIndex(w, w.m, i0, j0);
        uint256 px = _run(_inputs[0], 0, 0, first, _xIndex(w, w.m, i1 - 1, j1 - 1) - first + 1, 4);
        uint256 y = Float32.loadLE(_outputPtr(_output, 1, _outIndex, 4));
        // pass 1: the largest exponent field and any Inf/NaN, row by row
        uint256 cols = j1 - j0;
        uint256 mx;
        for (uint256 i = i0; i < i1; ++i) {
            mx = _scan(px + 4 * (_xIndex(w, w.m, i, j0) - first), cols, mx);
        }
        (uint256 top, bool nf) = _top(mx);
        if (nf) return Float32.isNonFinite(y);
        int256 g = ProductSumRule.grid(top + 127);
        ProductSumRule.Sums memory acc;
        for (uint256 i = i0; i < i1; ++i) {
            _add(acc, px + 4 * (_xIndex(w, w.m, i, j0) - first), cols, g);
        }
        uint256 k = (i1 - i0) * cols;
        return _meanRule(acc, k, cip == 1 ? size : k, size + 1, g, y);
    }

    function _globalAveragePool(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        _begin(_d, _inputs, 1, 1);
        _requireDtype(_inputs, 0, FLOAT);
        uint64[] calldata x = _inputs[0].dims;
        if (x.length < 3) revert UnsupportedSize(x.length);
        uint256 k = _numelRange(x, 2, x.length);
        // INVARIANT: 1 ≤ spatial positions ≤ 2^20.
        if (k == 0 || k > _MAX_TERMS) revert UnsupportedSize(k);
        uint64[] calldata o = _output.dims;
        bool consistent = _output.dtype == FLOAT && o.length == x.length && o[0] == x[0] && o[1] == x[1];
        for (uint256 i = 2; consistent && i < o.length; ++i) {
            consistent = o[i] == 1;
        }
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 px = _run(_inputs[0], 0, 0, _outIndex * k, k, 4);
        uint256 y = Float32.loadLE(_outputPtr(_output, 1, _outIndex, 4));
        (uint256 top, bool nf) = _top(_scan(px, k, 0));
        if (nf) return Float32.isNonFinite(y);
        int256 g = ProductSumRule.grid(top + 127);
        ProductSumRule.Sums memory acc;
        _add(acc, px, k, g);
        return _meanRule(acc, k, k, k + 1, g, y);
    }

    /// @dev Folds the exponent fields of `count` little-endian floats at `ptr` into `mx`, a lane-wise
    /// running maximum (8 lanes of 32 bits, as ProductSumRule.scanRuns); `_top` reduces it.
    function _scan(uint256 _ptr, uint256 _count, uint256 _mx) private pure returns (uint256 mx_) {
        assembly ("memory-safe") {
            // a lane holds the bytes [b0 b1 b2 b3] of a little-endian float: its exponent field is
            // ((lane & 0x7F) << 1) | ((lane >> 15) & 1); lane-wise max via bit 8 of (256 + max - e)
            function scanWord(w, mx, l1) -> mx2 {
                let e := or(shl(1, and(w, mul(l1, 0x7F))), and(shr(15, w), l1))
                let mk := mul(and(shr(8, sub(or(mx, mul(l1, 0x100)), e)), l1), 0xFF)
                mx2 := or(and(mx, mk), and(e, xor(mk, mul(l1, 0xFF))))
            }
            let l1 := div(not(0), 0xFFFFFFFF) // 0x00000001 in each of the 8 lanes
            mx_ := _mx
            let end := add(_ptr, shl(5, shr(3, _count)))
            for {} lt(_ptr, end) { _ptr := add(_ptr, 32) } { mx_ := scanWord(calldataload(_ptr), mx_, l1) }
            if and(_count, 7) {
                mx_ := scanWord(and(calldataload(_ptr), not(shr(shl(5, and(_count, 7)), not(0)))), mx_, l1)
            }
        }
    }

    /// @dev The largest lane of `mx` (the largest exponent field) and whether it is 0xFF (Inf/NaN).
    function _top(uint256 _mx) private pure returns (uint256 top_, bool nonFinite_) {
        for (uint256 sh; sh < 256; sh += 32) {
            uint256 v = (_mx >> sh) & 0xFF;
            if (v > top_) top_ = v;
        }
        nonFinite_ = top_ == 0xFF;
    }

    /// @dev Adds the `count` floats at `ptr` as the pairs (x, 1) of ProductSumRule on the grid 2^g:
    /// q = ⌊m·2^(e − 150 − g)⌋ (m the integer mantissa, e the effective exponent), computed as
    /// shr(58, shl(c + 58, m)) with c = e − 150 − g ≤ 171: m < 2^24 keeps the left shift below 2^256,
    /// and c < −58 wraps to a shift ≥ 256, giving 0 = ⌊m·2^c⌋. 8 floats per word: one byte swap of
    /// all lanes, then the lanes one by one (in the last word only those holding the run's floats).
    function _add(ProductSumRule.Sums memory _acc, uint256 _ptr, uint256 _count, int256 _g) private pure {
        uint256 s;
        uint256 ep;
        uint256 d;
        assembly ("memory-safe") {
            let m8 := mul(div(not(0), 0xFFFFFFFF), 0x00FF00FF)
            let m16 := mul(div(not(0), 0xFFFFFFFF), 0xFFFF)
            let c0 := sub(sub(58, 150), _g) // c + 58 = e + c0
            let end := add(_ptr, shl(5, shr(3, add(_count, 7))))
            // the last word holds count mod 8 floats (8 when 0): its lanes below them are not read
            let tailStop := 0
            if and(_count, 7) { tailStop := sub(256, shl(5, and(_count, 7))) }
            for {} lt(_ptr, end) { _ptr := add(_ptr, 32) } {
                let w := calldataload(_ptr)
                let last := 0
                if eq(add(_ptr, 32), end) { last := tailStop }
                w := or(shl(8, and(w, m8)), and(shr(8, w), m8))
                w := or(shl(16, and(w, m16)), and(shr(16, w), m16))
                for { let sh := 256 } gt(sh, last) {} {
                    sh := sub(sh, 32)
                    let bits := and(shr(sh, w), 0xFFFFFFFF)
                    let ex := and(shr(23, bits), 0xFF)
                    let z := iszero(ex)
                    let q := shr(58, shl(add(add(ex, z), c0), or(and(bits, 0x7FFFFF), shl(23, iszero(z)))))
                    s := add(s, q)
                    ep := add(ep, mul(q, iszero(shr(31, bits))))
                    d := add(d, mul(q, z))
                }
            }
        }
        _acc.e += 2 * int256(ep) - int256(s);
        _acc.s += s;
        _acc.d += d;
    }

    /// @dev The decision of `mean_rule` for claimed bits `y` (finite inputs): ProductSumRule.decide
    /// with the claimed value n·ŷ (truncated to the grid once, after the exact product) and the
    /// underflow slack n·(m + 1)·2^-123.
    function _meanRule(ProductSumRule.Sums memory _acc, uint256 _k, uint256 _n, uint256 _m, int256 _g, uint256 _y)
        private
        pure
        returns (bool)
    {
        if (Float32.isNonFinite(_y)) {
            int256 need = 126 - _g;
            if (need <= 0) return true;
            if (need >= 256) return false;
            return _acc.s + _k >= (uint256(1) << uint256(need));
        }
        (uint256 sy,, uint256 my, uint256 by) = Float32.fields(_y);
        int256 sh = int256(by) - 150 - _g;
        uint256 ny = _n * my;
        uint256 yq;
        if (sh >= 0) {
            // INVARIANT: |n·ŷ| < 2^224 grid units, else it is provably outside (docs/fraud-bounds.md)
            if (ny != 0 && (uint256(sh) >= ProductSumRule.Y_LIMIT_LOG2 || ny >> (ProductSumRule.Y_LIMIT_LOG2 - uint256(sh)) != 0)) {
                return false;
            }
            yq = ny << uint256(sh);
        } else if (sh > -256) {
            yq = ny >> uint256(-sh);
        }
        int256 diff = (sy == 1 ? -int256(yq) : int256(yq)) - _acc.e;
        uint256 absDiff = diff < 0 ? uint256(-diff) : uint256(diff);
        int256 ue = -123 - _g;
        uint256 c0 = 4 * _k + 1 + ((_n * (_m + 1)) << (ue > 0 ? uint256(ue) : 0));
        uint256 kk = (1 << 24) - _m;
        return absDiff * kk <= _m * _acc.s + (2 * _acc.d + c0) * kk;
    }
}
