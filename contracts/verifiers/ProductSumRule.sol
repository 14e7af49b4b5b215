// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Float32} from "../libraries/Float32.sol";

/// @title ProductSumRule
/// @notice The exact acceptance rule for float32 values that are sums of products (a MatMul/Gemm
/// element, a Conv element, an Add, Sub or Mul): the on-chain twin of
/// `assay.fraud.ops.product_sum_rule`; docs/fraud-bounds.md gives the bound and its proof.
/// @dev For pairs (xᵢ, zᵢ), i < n, and a claimed y: E = Σ xᵢzᵢ, S = Σ|xᵢzᵢ|, D = Σ|xᵢzᵢ| over
/// pairs with a zero or subnormal factor, all computed exactly in integer fixed point on the grid
/// 2^G, G = max(T - 448, -300), T = max(expField(xᵢ) + expField(zᵢ)). Each product is truncated to
/// the grid (an error below one grid unit, paid by the 4n + 1 slack). With B = S (dot products) or
/// |E| (additions), u = 2^-24 and γ_m = m·u/(1 - m·u), y is accepted iff
///     |y - E| · (2^24 - m) ≤ m·B + (2·D + 4n + 1 + (m + 1)·2^(-123 - G)) · (2^24 - m)   (grid units)
/// with Inf/NaN handled first: a non-finite factor → accept iff y is non-finite; a non-finite y
/// from finite factors → accept iff (S + n)·2^G ≥ 2^126 (only then can an honest sum overflow).
/// Magnitudes (n, m ≤ 2^20 + 1): every product < 2^198 grid units, S < 2^219, each side < 2^251.
/// Two passes over a pair of runs: pass 1 finds T (8 exponent fields per word, SWAR), pass 2
/// accumulates the products (fields of 8 lanes split at once, then lane by lane).
library ProductSumRule {
    /// @notice Grid width below the top product exponent, finest grid, and the |y| limit (log2, grid units).
    int256 internal constant GRID_WIDTH = 150;
    int256 internal constant GRID_MIN = -300;
    uint256 internal constant Y_LIMIT_LOG2 = 224;
    /// @notice Largest number of products of one evaluation (and the largest m).
    uint256 internal constant MAX_TERMS = (1 << 20) + 1;

    /// @notice Running exact sums, in grid units: E (signed), S and D.
    struct Sums {
        int256 e;
        uint256 s;
        uint256 d;
    }

    /// @notice Grid exponent G for the largest exponent-field sum `t`.
    function grid(uint256 _t) internal pure returns (int256 g_) {
        g_ = int256(_t) - 298 - GRID_WIDTH;
        if (g_ < GRID_MIN) g_ = GRID_MIN;
    }

    /// @notice Exponent-field sum of one pair and whether a factor is Inf/NaN.
    function scanPair(uint256 _x, uint256 _z) internal pure returns (uint256 t_, bool nonFinite_) {
        uint256 ex = (_x >> 23) & 0xFF;
        uint256 ez = (_z >> 23) & 0xFF;
        t_ = ex + ez;
        nonFinite_ = ex == 0xFF || ez == 0xFF;
    }

    /// @notice Adds the exact product of one pair, truncated to the grid 2^g.
    function addPair(Sums memory _acc, uint256 _x, uint256 _z, int256 _g) internal pure {
        (uint256 sx, uint256 ex, uint256 mx, uint256 bx) = Float32.fields(_x);
        (uint256 sz, uint256 ez, uint256 mz, uint256 bz) = Float32.fields(_z);
        int256 sh = int256(bx + bz) - 300 - _g;
        uint256 p = mx * mz;
        uint256 q;
        if (sh >= 0) q = p << uint256(sh);
        else if (sh > -256) q = p >> uint256(-sh);
        _acc.s += q;
        _acc.e = sx ^ sz == 1 ? _acc.e - int256(q) : _acc.e + int256(q);
        if (ex == 0 || ez == 0) _acc.d += q;
    }

    /// @notice Pass 1 over `k` pairs whose factors lie at calldata addresses `pa + 4i`, `pb + 4i`
    /// (little-endian float32): the largest exponent-field sum, whether any factor is Inf/NaN and
    /// whether any factor is subnormal (only then can D be non-zero: a zero factor adds nothing).
    /// `view` only for gas(), used as an opaque zero (see below); nothing is read.
    function scanRuns(uint256 _pa, uint256 _pb, uint256 _k)
        internal
        view
        returns (uint256 t_, bool nonFinite_, bool subnormal_)
    {
        assembly ("memory-safe") {
            // 8 lanes of 32 bits per word. As loaded, a lane holds the bytes [b0 b1 b2 b3] of a
            // little-endian float, so its exponent field is ((lane & 0x7F) << 1) | ((lane >> 15) & 1)
            // and its mantissa bits are lane & 0xFFFF7F00.
            function scanWord(wa, wb, mx, nf, subn, l1) -> mx2, nf2, subn2 {
                let xa := or(shl(1, and(wa, mul(l1, 0x7F))), and(shr(15, wa), l1))
                let xb := or(shl(1, and(wb, mul(l1, 0x7F))), and(shr(15, wb), l1))
                // bit 8 of a lane of x + 1 is set iff x = 0xFF
                nf2 := or(nf, or(add(xa, l1), add(xb, l1)))
                // 1 in the lanes with exponent field 0, then their mantissa bits
                let lff := mul(l1, 0xFF)
                let za := xor(and(shr(8, add(xa, lff)), l1), l1)
                let zb := xor(and(shr(8, add(xb, lff)), l1), l1)
                subn2 := or(subn, or(and(wa, mul(za, 0xFFFF7F00)), and(wb, mul(zb, 0xFFFF7F00))))
                // lane-wise max: bit 10 of (1024 + max - t) is set iff max >= t
                let t := add(xa, xb)
                let mk := mul(and(shr(10, sub(or(mx, mul(l1, 0x400)), t)), l1), 0x3FF)
                mx2 := or(and(mx, mk), and(t, xor(mk, mul(l1, 0x3FF))))
            }
            // Lane constants are built from l1 = 0x00000001 repeated 8 times: the compiler loads a
            // 32-byte literal with CODECOPY (~20 gas a use) and recomputes cheap values inside
            // loops; `or(…, lt(gas(), 1))` (gas() ≥ 1 here: it adds 0) makes l1 opaque to both.
            let l1 := or(div(not(0), 0xFFFFFFFF), lt(gas(), 1))
            let mx := 0 // lane-wise running max of the exponent-field sums (< 1024)
            let nf := 0
            let subn := 0
            let endA := add(_pa, shl(5, shr(3, _k)))
            for {} lt(_pa, endA) {} {
                mx, nf, subn := scanWord(calldataload(_pa), calldataload(_pb), mx, nf, subn, l1)
                _pa := add(_pa, 32)
                _pb := add(_pb, 32)
            }
            if and(_k, 7) {
                let keep := not(shr(shl(5, and(_k, 7)), not(0)))
                mx, nf, subn := scanWord(and(calldataload(_pa), keep), and(calldataload(_pb), keep), mx, nf, subn, l1)
            }
            for { let sh := 0 } lt(sh, 256) { sh := add(sh, 32) } {
                let v := and(shr(sh, mx), 0x3FF)
                if gt(v, t_) { t_ := v }
            }
            nonFinite_ := iszero(iszero(and(nf, mul(l1, 0x100))))
            subnormal_ := iszero(iszero(subn))
        }
    }

    /// @notice Pass 2: adds the exact products of the `k` pairs at `pa`, `pb` on the grid 2^g;
    /// `withD` also sums D (needed only when pass 1 saw a subnormal).
    /// @dev Per pair: q = floor(ma·mb·2^sh), sh = ea' + eb' - 300 - g ≤ 150, computed as
    /// shr(58, shl(sh + 58, ma·mb)): ma·mb < 2^48 so the left shift stays below 2^256, and a
    /// negative sh + 58 wraps to a shift ≥ 256, giving 0 = floor(ma·mb·2^sh). Positive products
    /// are summed apart (ep) and E = 2·ep - S. Exponents, mantissas, signs and the zero/subnormal
    /// flags of a word's 8 lanes are split at once (SWAR), then the 8 products are taken lane by lane.
    /// `view` only for gas(), which pins values on the stack (see scanRuns); nothing is read.
    function addRuns(Sums memory _acc, uint256 _pa, uint256 _pb, uint256 _k, int256 _g, bool _withD) internal view {
        assembly ("memory-safe") {
            // byte-swap each 32-bit lane (little-endian elements -> float32 bits), then split the
            // lanes of a word: integer mantissas, effective exponent sums ea' + eb' (< 1024),
            // 1 where the product is positive, 1 where a factor has exponent field 0
            function split(wa, wb, l1) -> ma, mb, ex, pos, zf {
                let m8 := mul(l1, 0x00FF00FF)
                let m16 := mul(l1, 0xFFFF)
                // (each `or(…, lt(gas(), 1))` adds 0 but keeps the optimizer from recomputing a
                // value at every use: see scanRuns)
                let a := or(shl(8, and(wa, m8)), and(shr(8, wa), m8))
                a := or(or(shl(16, and(a, m16)), and(shr(16, a), m16)), lt(gas(), 1))
                let b := or(shl(8, and(wb, m8)), and(shr(8, wb), m8))
                b := or(or(shl(16, and(b, m16)), and(shr(16, b), m16)), lt(gas(), 1))
                let lff := mul(l1, 0xFF)
                let ea := or(and(shr(23, a), lff), lt(gas(), 1))
                let eb := or(and(shr(23, b), lff), lt(gas(), 1))
                let na := or(and(shr(8, add(ea, lff)), l1), lt(gas(), 1))
                let nb := or(and(shr(8, add(eb, lff)), l1), lt(gas(), 1))
                let m23 := mul(l1, 0x7FFFFF)
                // `or(…, lt(gas(), 1))` (gas() ≥ 1 here, so it adds 0) pins each value on the
                // stack: the optimizer would otherwise recompute it inside the lane loop
                ma := or(or(and(a, m23), shl(23, na)), lt(gas(), 1))
                mb := or(or(and(b, m23), shl(23, nb)), lt(gas(), 1))
                ex := or(sub(add(add(ea, eb), shl(1, l1)), add(na, nb)), lt(gas(), 1))
                pos := or(xor(and(shr(31, xor(a, b)), l1), l1), lt(gas(), 1))
                zf := or(xor(and(na, nb), l1), lt(gas(), 1))
            }
            // the 8 products of a word, lane by lane (sh = 224, 192, ..., 0)
            function products(ma, mb, ex, pos, c, s, ep) -> s2, ep2 {
                s2 := s
                ep2 := ep
                for { let sh := 256 } sh {} {
                    sh := sub(sh, 32)
                    let q := shr(58, shl(add(and(shr(sh, ex), 0x3FF), c), mul(and(shr(sh, ma), 0xFFFFFF), and(shr(sh, mb), 0xFFFFFF))))
                    s2 := add(s2, q)
                    ep2 := add(ep2, mul(q, and(shr(sh, pos), 1)))
                }
            }
            function productsD(ma, mb, ex, pos, zf, c, s, ep, d) -> s2, ep2, d2 {
                s2 := s
                ep2 := ep
                d2 := d
                for { let sh := 256 } sh {} {
                    sh := sub(sh, 32)
                    let q := shr(58, shl(add(and(shr(sh, ex), 0x3FF), c), mul(and(shr(sh, ma), 0xFFFFFF), and(shr(sh, mb), 0xFFFFFF))))
                    s2 := add(s2, q)
                    ep2 := add(ep2, mul(q, and(shr(sh, pos), 1)))
                    d2 := add(d2, mul(q, and(shr(sh, zf), 1)))
                }
            }
            let l1 := or(div(not(0), 0xFFFFFFFF), lt(gas(), 1)) // see scanRuns
            let c := sub(sub(58, 300), _g)
            let s := 0
            let ep := 0
            let d := 0
            let endA := add(_pa, shl(5, shr(3, add(_k, 7))))
            let tail := not(0)
            if and(_k, 7) { tail := not(shr(shl(5, and(_k, 7)), not(0))) }
            for {} lt(_pa, endA) {} {
                let keep := not(0)
                if eq(add(_pa, 32), endA) { keep := tail }
                let ma, mb, ex, pos, zf := split(and(calldataload(_pa), keep), and(calldataload(_pb), keep), l1)
                switch _withD
                case 0 { s, ep := products(ma, mb, ex, pos, c, s, ep) }
                default { s, ep, d := productsD(ma, mb, ex, pos, zf, c, s, ep, d) }
                _pa := add(_pa, 32)
                _pb := add(_pb, 32)
            }
            // E += 2·ep - S (two's complement)
            mstore(_acc, add(mload(_acc), sub(shl(1, ep), s)))
            mstore(add(_acc, 0x20), add(mload(add(_acc, 0x20)), s))
            mstore(add(_acc, 0x40), add(mload(add(_acc, 0x40)), d))
        }
    }

    /// @notice The decision for claimed bits `y` given the sums of `n` products on the grid 2^g;
    /// `m` is the rounding count of γ_m and `relativeToValue` selects B = |E| (else B = S).
    /// Non-finite factors must have been handled by the caller.
    function decide(Sums memory _acc, uint256 _n, uint256 _m, int256 _g, uint256 _y, bool _relativeToValue)
        internal
        pure
        returns (bool)
    {
        if (Float32.isNonFinite(_y)) {
            // honest overflow needs Σ|products| ≥ 2^126; S + n bounds it from above (grid units)
            int256 need = 126 - _g;
            if (need <= 0) return true;
            if (need >= 256) return false;
            return _acc.s + _n >= (uint256(1) << uint256(need));
        }
        // slither-disable-next-line unused-return -- the raw exponent field is not needed: by already encodes it
        (uint256 sy,, uint256 my, uint256 by) = Float32.fields(_y);
        int256 sh = int256(by) - 150 - _g;
        uint256 yq;
        if (sh >= 0) {
            // INVARIANT: |y| < 2^224 grid units, else it is provably outside (docs/fraud-bounds.md)
            if (my != 0 && (uint256(sh) >= Y_LIMIT_LOG2 || my >> (Y_LIMIT_LOG2 - uint256(sh)) != 0)) return false;
            yq = my << uint256(sh);
        } else if (sh > -256) {
            yq = my >> uint256(-sh);
        }
        int256 diff = (sy == 1 ? -int256(yq) : int256(yq)) - _acc.e;
        uint256 absDiff = diff < 0 ? uint256(-diff) : uint256(diff);
        uint256 b = _relativeToValue ? (_acc.e < 0 ? uint256(-_acc.e) : uint256(_acc.e)) : _acc.s;
        int256 ue = -123 - _g;
        uint256 c0 = 4 * _n + 1 + ((_m + 1) << (ue > 0 ? uint256(ue) : 0));
        uint256 k = (1 << 24) - _m;
        return absDiff * k <= _m * b + (2 * _acc.d + c0) * k;
    }
}
