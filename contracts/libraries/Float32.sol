// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Float32
/// @notice IEEE 754 binary32 values as raw bits: field decoding, classification, ulp, and reading
/// little-endian elements (ONNX raw data, docs/commitments.md) from calldata.
/// @dev A finite float32 with bits b is exactly (-1)^sign · m · 2^(e - 150) with
/// sign = b >> 31, exponent field x = (b >> 23) & 0xFF, m = (b & 0x7FFFFF) | (x != 0) << 23 and
/// e = max(x, 1): subnormals (x = 0) share the exponent of the smallest normal. Every function is
/// pure integer arithmetic; nothing rounds.
library Float32 {
    /// @notice Bits of +1.0 and -1.0.
    uint256 internal constant ONE = 0x3F800000;
    uint256 internal constant NEG_ONE = 0xBF800000;
    /// @notice Exponent field of Inf and NaN.
    uint256 internal constant EXP_SPECIAL = 0xFF;

    /// @notice Thrown when the ulp of an Inf or NaN is asked for.
    error NonFiniteValue(uint256 bits);

    /// @notice (sign, exponent field, integer mantissa, effective exponent) of `bits`:
    /// a finite value is (-1)^sign · mant · 2^(eff - 150).
    function fields(uint256 _bits) internal pure returns (uint256 sign_, uint256 expField_, uint256 mant_, uint256 eff_) {
        sign_ = (_bits >> 31) & 1;
        expField_ = (_bits >> 23) & 0xFF;
        mant_ = _bits & 0x7FFFFF;
        if (expField_ != 0) {
            mant_ |= 0x800000;
            eff_ = expField_;
        } else {
            eff_ = 1;
        }
    }

    /// @notice True for ±Inf and every NaN.
    function isNonFinite(uint256 _bits) internal pure returns (bool) {
        return (_bits >> 23) & 0xFF == EXP_SPECIAL;
    }

    /// @notice True for every NaN (exponent field 0xFF, mantissa non-zero).
    function isNaN(uint256 _bits) internal pure returns (bool) {
        return (_bits >> 23) & 0xFF == EXP_SPECIAL && _bits & 0x7FFFFF != 0;
    }

    /// @notice True for +0 and -0.
    function isZero(uint256 _bits) internal pure returns (bool) {
        return _bits & 0x7FFFFFFF == 0;
    }

    /// @notice True for zeros and subnormals (exponent field 0): the values a denormals-are-zero
    /// executor reads as zero.
    function isZeroOrSubnormal(uint256 _bits) internal pure returns (bool) {
        return (_bits >> 23) & 0xFF == 0;
    }

    /// @notice Order key of a non-NaN float as a denormals-are-zero comparison sees it: subnormals and
    /// ±0 share key 0; otherwise keys order as the values do.
    function dazKey(uint256 _bits) internal pure returns (int256) {
        if ((_bits >> 23) & 0xFF == 0) return 0;
        return _bits >> 31 == 0 ? int256(_bits) : -int256(_bits & 0x7FFFFFFF);
    }

    /// @notice ulp of a finite value as (1, exponent): 2^(eff - 150), the weight of the last
    /// mantissa bit (2^-149 for zeros and subnormals). Reverts for Inf/NaN.
    function ulpLog2(uint256 _bits) internal pure returns (int256) {
        // INVARIANT: only finite values have an ulp.
        if (isNonFinite(_bits)) revert NonFiniteValue(_bits);
        (,,, uint256 eff) = fields(_bits);
        return int256(eff) - 150;
    }

    /// @notice Byte-swaps each 32-bit lane of a word (8 little-endian float32s → 8 bit patterns).
    function bswapLanes(uint256 _w) internal pure returns (uint256 r_) {
        assembly ("memory-safe") {
            let m8 := 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF
            let m16 := 0x0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF
            r_ := or(shl(8, and(_w, m8)), and(shr(8, _w), m8))
            r_ := or(shl(16, and(r_, m16)), and(shr(16, r_), m16))
        }
    }

    /// @notice The float32 bits of the little-endian element at calldata address `ptr`.
    function loadLE(uint256 _ptr) internal pure returns (uint256 bits_) {
        assembly ("memory-safe") {
            let w := shr(224, calldataload(_ptr))
            bits_ := or(or(shl(24, and(w, 0xFF)), shl(8, and(w, 0xFF00))), or(and(shr(8, w), 0xFF00), shr(24, w)))
        }
    }

    /// @notice The `size`-byte little-endian element at calldata address `ptr`, as an unsigned integer.
    function loadLEn(uint256 _ptr, uint256 _size) internal pure returns (uint256 v_) {
        assembly ("memory-safe") {
            let w := calldataload(_ptr)
            for { let i := 0 } lt(i, _size) { i := add(i, 1) } { v_ := or(v_, shl(shl(3, i), byte(i, w))) }
        }
    }
}
