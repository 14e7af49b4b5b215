// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Float32} from "../libraries/Float32.sol";

/// @title ExpEnclosure
/// @notice Rigorous integer enclosures of e^-u and the tolerance decision of the transcendental
/// ops (Softmax, Sigmoid, Tanh): the on-chain twin of `exp_neg_enclosure`, `_to_fixed` and
/// `_tolerance_decision` in `assay.fraud.ops` (docs/fraud-bounds.md §4).
/// @dev e^-u for u ∈ [uLo, uHi]·2^-64: k = ⌊uLo / ln2⁺⌋, v ∈ [uLo - k·ln2⁺, uHi - k·ln2⁻] ⊂ [0, 0.7]
/// (ln2⁻ = ⌊ln2·2^64⌋, ln2⁺ = ln2⁻ + 1), exp(v) bracketed by its 16-term Taylor sum rounded down
/// (all terms positive) and rounded up plus twice the 17th term (the remainder for v < 1), then
/// e^-u ∈ [⌊2^128 / Σ⁺⌋, ⌈2^128 / Σ⁻⌉]·2^-(64+k). Relative width below 2^-55.
library ExpEnclosure {
    uint256 internal constant LN2_LO = 0xB17217F7D1CF79AB;
    uint256 internal constant LN2_HI = 0xB17217F7D1CF79AC;
    uint256 internal constant TERMS = 16;
    /// @notice u ≥ 128: e^-u < 2^-184, enclosed by [0, 2^-184].
    uint256 internal constant U_MAX = 128 << 64;
    uint256 internal constant TINY_K = 184;
    /// @notice Results are compared in fixed point with 2^-120 resolution.
    uint256 internal constant OUT_Q = 120;

    /// @notice (fLo, fHi, k) with fLo·2^-(64+k) ≤ e^-u ≤ fHi·2^-(64+k) for all u ∈ [uLo, uHi]·2^-64.
    function expNeg(uint256 _uLo, uint256 _uHi) internal pure returns (uint256 fLo_, uint256 fHi_, uint256 k_) {
        if (_uLo >= U_MAX) return (0, 1 << 64, TINY_K);
        // slither-disable-next-line divide-before-multiply -- range reduction: k = floor(uLo / ln2+) by design (see the @dev above)
        k_ = _uLo / LN2_HI;
        uint256 vLo = _uLo - k_ * LN2_HI;
        uint256 vHi = _uHi - k_ * LN2_LO;
        uint256 tLo = 1 << 64;
        uint256 tHi = 1 << 64;
        uint256 sLo = 1 << 64;
        uint256 sHi = 1 << 64;
        unchecked {
            // v < 1 and every term ≤ 2^64: products stay below 2^128
            for (uint256 i = 1; i <= TERMS; ++i) {
                uint256 d = i << 64;
                tLo = tLo * vLo / d;
                tHi = _divUp(tHi * vHi, d);
                sLo += tLo;
                sHi += tHi;
            }
            sHi += 2 * _divUp(tHi * vHi, (TERMS + 1) << 64);
        }
        fLo_ = (uint256(1) << 128) / sHi;
        fHi_ = _divUp(uint256(1) << 128, sLo);
    }

    function _divUp(uint256 _a, uint256 _b) private pure returns (uint256) {
        return _a == 0 ? 0 : (_a - 1) / _b + 1;
    }

    /// @notice ⌊v / 2^k⌋, or ⌈v / 2^k⌉ when `up`.
    function shiftDown(uint256 _v, uint256 _k, bool _up) internal pure returns (uint256) {
        if (_k >= 256) return _up && _v != 0 ? 1 : 0;
        uint256 r = _v >> _k;
        if (_up && (r << _k) != _v) ++r;
        return r;
    }

    /// @notice (⌊x·2^q⌋, ⌈x·2^q⌉) of a finite float32 (|x·2^q| must fit; q ≤ 120 here).
    function toFixed(uint256 _bits, uint256 _q) internal pure returns (int256 lo_, int256 hi_) {
        // slither-disable-next-line unused-return -- the raw exponent field is not needed: eff already encodes it
        (uint256 sign,, uint256 man, uint256 eff) = Float32.fields(_bits);
        int256 sh = int256(eff) - 150 + int256(_q);
        uint256 lo;
        uint256 hi;
        if (sh >= 0) {
            lo = man << uint256(sh);
            hi = lo;
        } else {
            lo = shiftDown(man, uint256(-sh), false);
            hi = shiftDown(man, uint256(-sh), true);
        }
        (lo_, hi_) = sign == 1 ? (-int256(hi), -int256(lo)) : (int256(lo), int256(hi));
    }

    /// @notice e^-u enclosed in Q120 (floor, ceil).
    function expNegQ120(uint256 _uLo, uint256 _uHi) internal pure returns (uint256 lo_, uint256 hi_) {
        (uint256 fLo, uint256 fHi, uint256 k) = expNeg(_uLo, _uHi);
        lo_ = shiftDown(fLo << (OUT_Q - 64), k, false);
        hi_ = shiftDown(fHi << (OUT_Q - 64), k, true);
    }

    /// @notice Accept y iff L ≤ y ≤ H (Q120): H = yHi + ⌈max(|yLo|, |yHi|)·rNum/2^24⌉ + aQ,
    /// L = yLo - (the same). Non-finite y and |y| ≥ 2 are rejected (|exact| ≤ 1 for these ops).
    function decide(int256 _yLo, int256 _yHi, uint256 _rNum, uint256 _aQ, uint256 _y) internal pure returns (bool) {
        if (Float32.isNonFinite(_y) || (_y >> 23) & 0xFF >= 128) return false;
        uint256 mLo = _yLo < 0 ? uint256(-_yLo) : uint256(_yLo);
        uint256 mHi = _yHi < 0 ? uint256(-_yHi) : uint256(_yHi);
        uint256 mag = mLo > mHi ? mLo : mHi;
        int256 slack = int256(_divUp(mag * _rNum, 1 << 24) + _aQ);
        (int256 fl, int256 ce) = toFixed(_y, OUT_Q);
        return fl <= _yHi + slack && ce >= _yLo - slack;
    }
}
