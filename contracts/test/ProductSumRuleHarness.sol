// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProductSumRule} from "../verifiers/ProductSumRule.sol";

/// @title ProductSumRuleHarness
/// @notice Test-only: exposes ProductSumRule on raw little-endian runs, with gas probes, so the
/// rule can be compared with `assay.fraud.ops.product_sum_rule` directly. Never deployed outside tests.
contract ProductSumRuleHarness {
    function _ptr(bytes calldata _data) private pure returns (uint256 p_) {
        assembly ("memory-safe") {
            p_ := _data.offset
        }
    }

    /// @notice The rule over the pairs (xs[i], zs[i]) (little-endian float32 runs of equal length)
    /// with the run passes; `m` the rounding count, `relativeToValue` B = |E|.
    function ruleRuns(bytes calldata _xs, bytes calldata _zs, uint256 _y, uint256 _m, bool _relativeToValue)
        external
        view
        returns (bool)
    {
        require(_xs.length == _zs.length && _xs.length % 4 == 0 && _xs.length > 0, "runs");
        (, bool nf,, int256 g, ProductSumRule.Sums memory acc,) = _runs(_xs, _zs, false);
        if (nf) return (_y >> 23) & 0xFF == 0xFF;
        return ProductSumRule.decide(acc, _xs.length / 4, _m, g, _y, _relativeToValue);
    }

    /// @notice The same rule with the scalar helpers (scanPair/addPair), pair by pair.
    function rulePairs(uint256[] calldata _xs, uint256[] calldata _zs, uint256 _y, uint256 _m, bool _relativeToValue)
        external
        pure
        returns (bool)
    {
        require(_xs.length == _zs.length && _xs.length > 0, "pairs");
        uint256 t;
        bool nf;
        for (uint256 i; i < _xs.length; ++i) {
            (uint256 ti, bool nfi) = ProductSumRule.scanPair(_xs[i], _zs[i]);
            if (ti > t) t = ti;
            nf = nf || nfi;
        }
        if (nf) return (_y >> 23) & 0xFF == 0xFF;
        int256 g = ProductSumRule.grid(t);
        ProductSumRule.Sums memory acc;
        for (uint256 i; i < _xs.length; ++i) {
            ProductSumRule.addPair(acc, _xs[i], _zs[i], g);
        }
        return ProductSumRule.decide(acc, _xs.length, _m, g, _y, _relativeToValue);
    }

    /// @notice The exact sums of the run passes: (T, non-finite, subnormal, G, E, S, D); `forceD`
    /// sums D even when pass 1 saw no subnormal.
    function sumsRuns(bytes calldata _xs, bytes calldata _zs, bool _forceD)
        external
        view
        returns (uint256 t_, bool nonFinite_, bool subnormal_, int256 g_, int256 e_, uint256 s_, uint256 d_)
    {
        ProductSumRule.Sums memory acc;
        (t_, nonFinite_, subnormal_, g_, acc,) = _runs(_xs, _zs, _forceD);
        return (t_, nonFinite_, subnormal_, g_, acc.e, acc.s, acc.d);
    }

    /// @dev Both passes (the one call site of the unrolled loops) and the gas of pass 2.
    function _runs(bytes calldata _xs, bytes calldata _zs, bool _forceD)
        private
        view
        returns (uint256 t_, bool nonFinite_, bool subnormal_, int256 g_, ProductSumRule.Sums memory acc_, uint256 gas_)
    {
        uint256 k = _xs.length / 4;
        (t_, nonFinite_, subnormal_) = ProductSumRule.scanRuns(_ptr(_xs), _ptr(_zs), k);
        g_ = ProductSumRule.grid(t_);
        gas_ = gasleft();
        ProductSumRule.addRuns(acc_, _ptr(_xs), _ptr(_zs), k, g_, subnormal_ || _forceD);
        gas_ -= gasleft();
    }

    /// @notice Execution gas of pass 1 and of pass 2 over the runs.
    function gasRuns(bytes calldata _xs, bytes calldata _zs) external view returns (uint256 scan_, uint256 add_) {
        uint256 g0 = gasleft();
        ProductSumRule.scanRuns(_ptr(_xs), _ptr(_zs), _xs.length / 4);
        scan_ = g0 - gasleft();
        (,,,,, add_) = _runs(_xs, _zs, false);
    }
}
