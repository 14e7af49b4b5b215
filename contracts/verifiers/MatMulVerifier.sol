// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";
import {ProductSumRule} from "./ProductSumRule.sol";

/// @title MatMulVerifier
/// @notice One-step checks of float32 MatMul (numpy semantics: 1-D operands, broadcast batch
/// dims) and Gemm (transA/transB, alpha = 1, any normal beta, bias C broadcast to [M, N]).
/// An output element is a dot product of K pairs: a row of A, read from layout 0 (layout 1 for
/// Gemm with transA), and a column of B, read from layout 1 (layout 0 for Gemm with transB or a
/// 1-D B), so each is one contiguous run (docs/fraud-proofs.md). Gemm adds one pair, (beta, c).
/// The value is accepted by ProductSumRule with B = Σ|products| and m = K (+ 1 with a bias):
/// |ŷ - y| ≤ γ_m·Σ|aᵢbᵢ| + 2·Σ_subnormal|aᵢbᵢ| + tiny (docs/fraud-bounds.md).
contract MatMulVerifier is OpVerifierBase {
    bytes32 private constant _MATMUL = keccak256("MatMul");
    bytes32 private constant _GEMM = keccak256("Gemm");
    uint256 private constant _MAX_K = 1 << 20;

    /// @dev One output element's dot product: where its runs are and what it adds.
    struct Dot {
        uint256 k;
        uint256 pa; // calldata address of a_0
        uint256 pb; // calldata address of b_0
        bool hasC;
        uint256 beta;
        uint256 c; // bits of the bias element
    }

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        view
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0 || (op != _MATMUL && op != _GEMM)) _unsupported(_descriptor, n);
        Dot memory dot;
        bool consistent;
        if (op == _MATMUL) {
            (consistent, dot) = _matmul(_descriptor, _inputs, _output, _outIndex);
        } else {
            (consistent, dot) = _gemm(_descriptor, _inputs, _output, _outIndex);
        }
        if (!consistent) return false;
        uint256 y = Float32.loadLE(_outputPtr(_output, _inputs.length, _outIndex, 4));
        return _decide(dot, y);
    }

    function _decide(Dot memory _dot, uint256 _y) private view returns (bool) {
        (uint256 t, bool nonFinite, bool subnormal) = ProductSumRule.scanRuns(_dot.pa, _dot.pb, _dot.k);
        if (_dot.hasC) {
            (uint256 tc, bool nfc) = ProductSumRule.scanPair(_dot.beta, _dot.c);
            if (tc > t) t = tc;
            nonFinite = nonFinite || nfc;
        }
        // IEEE: a NaN or Inf factor makes every evaluation order non-finite
        if (nonFinite) return Float32.isNonFinite(_y);
        int256 g = ProductSumRule.grid(t);
        ProductSumRule.Sums memory acc;
        ProductSumRule.addRuns(acc, _dot.pa, _dot.pb, _dot.k, g, subnormal);
        uint256 terms = _dot.k;
        if (_dot.hasC) {
            ProductSumRule.addPair(acc, _dot.beta, _dot.c, g);
            ++terms;
        }
        return ProductSumRule.decide(acc, terms, terms, g, _y, false);
    }

    function _matmul(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool consistent_, Dot memory dot_)
    {
        _begin(_descriptor, _inputs, 2, 2);
        _requireDtype(_inputs, 0, FLOAT);
        _requireDtype(_inputs, 1, FLOAT);
        uint64[] calldata a = _inputs[0].dims;
        uint64[] calldata b = _inputs[1].dims;
        uint64[] calldata o = _output.dims;
        uint256 ra = a.length;
        uint256 rb = b.length;
        uint256 mRows;
        uint256 nCols;
        uint256 nb; // batch rank of the output
        if (_output.dtype == FLOAT && ra >= 1 && rb >= 1) {
            dot_.k = a[ra - 1];
            mRows = ra >= 2 ? a[ra - 2] : 1;
            nCols = rb >= 2 ? b[rb - 1] : 1;
            uint256 abl = ra >= 2 ? ra - 2 : 0;
            uint256 bbl = rb >= 2 ? rb - 2 : 0;
            nb = abl > bbl ? abl : bbl;
            uint256 rank = nb + (ra >= 2 ? 1 : 0) + (rb >= 2 ? 1 : 0);
            consistent_ = (rb == 1 ? b[0] : b[rb - 2]) == dot_.k && o.length == rank
                && _isBroadcast(o, 0, nb, a, abl, b, bbl) && (ra < 2 || o[nb] == mRows) && (rb < 2 || o[rank - 1] == nCols);
        }
        // INVARIANT: 1 ≤ K ≤ 2^20 (the rule's magnitude bounds).
        if (consistent_ && (dot_.k == 0 || dot_.k > _MAX_K)) revert UnsupportedSize(dot_.k);
        _requireIndex(_output, _outIndex);
        if (!consistent_) return (false, dot_);
        uint256 c = rb >= 2 ? _outIndex % nCols : 0;
        uint256 rest = rb >= 2 ? _outIndex / nCols : _outIndex;
        uint256 r = ra >= 2 ? rest % mRows : 0;
        uint256 bl = ra >= 2 ? rest / mRows : rest; // linear batch index
        uint256 ab = _broadcastIndex(o, nb, bl, a, ra >= 2 ? ra - 2 : 0);
        dot_.pa = _run(_inputs[0], 0, 0, (ab * mRows + r) * dot_.k, dot_.k, 4);
        if (rb == 1) {
            dot_.pb = _run(_inputs[1], 1, 0, 0, dot_.k, 4);
        } else {
            uint256 bb = _broadcastIndex(o, nb, bl, b, rb - 2);
            dot_.pb = _run(_inputs[1], 1, 1, (bb * nCols + c) * dot_.k, dot_.k, 4);
        }
    }

    function _gemm(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool consistent_, Dot memory dot_)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 2, 3);
        int256 ta = Descriptor.intAttr(_descriptor, n, "transA", 0);
        int256 tb = Descriptor.intAttr(_descriptor, n, "transB", 0);
        // INVARIANT: transA, transB ∈ {0, 1}; alpha = 1 (docs/fraud-bounds.md: a general alpha
        // adds flush-to-zero cases the bound does not cover).
        if (ta != 0 && ta != 1) revert UnsupportedAttribute("transA");
        if (tb != 0 && tb != 1) revert UnsupportedAttribute("transB");
        if (Descriptor.floatAttr(_descriptor, n, "alpha", Float32.ONE) != Float32.ONE) revert UnsupportedAttribute("alpha");
        dot_.beta = Descriptor.floatAttr(_descriptor, n, "beta", Float32.ONE);
        dot_.hasC = n.nIn > 2 && _inputs[2].dtype != 0;
        if (dot_.hasC) {
            uint256 bx = (dot_.beta >> 23) & 0xFF;
            // INVARIANT: beta normal (not zero, subnormal, Inf or NaN).
            if (bx == 0 || bx == 0xFF) revert UnsupportedAttribute("beta");
        }
        _requireDtype(_inputs, 0, FLOAT);
        _requireDtype(_inputs, 1, FLOAT);
        if (dot_.hasC) _requireDtype(_inputs, 2, FLOAT);
        uint64[] calldata a = _inputs[0].dims;
        uint64[] calldata b = _inputs[1].dims;
        uint64[] calldata o = _output.dims;
        uint256 mRows;
        uint256 nCols;
        if (_output.dtype == FLOAT && a.length == 2 && b.length == 2) {
            (mRows, dot_.k) = ta == 1 ? (uint256(a[1]), uint256(a[0])) : (uint256(a[0]), uint256(a[1]));
            uint256 kb;
            (kb, nCols) = tb == 1 ? (uint256(b[1]), uint256(b[0])) : (uint256(b[0]), uint256(b[1]));
            consistent_ = kb == dot_.k && o.length == 2 && o[0] == mRows && o[1] == nCols;
            if (consistent_ && dot_.hasC) {
                uint64[] calldata cd = _inputs[2].dims;
                consistent_ = cd.length <= 2 && _isBroadcast(o, 0, 2, cd, cd.length, o, 2);
            }
        }
        if (consistent_ && (dot_.k == 0 || dot_.k > _MAX_K)) revert UnsupportedSize(dot_.k);
        _requireIndex(_output, _outIndex);
        if (!consistent_) return (false, dot_);
        // slither-disable-next-line divide-before-multiply -- index arithmetic: r is the row of the flat output index (a floor by design)
        uint256 r = _outIndex / nCols;
        uint256 col = _outIndex % nCols;
        dot_.pa = _run(_inputs[0], 0, uint8(uint256(ta)), r * dot_.k, dot_.k, 4);
        dot_.pb = _run(_inputs[1], 1, uint8(1 - uint256(tb)), col * dot_.k, dot_.k, 4);
        if (dot_.hasC) {
            uint64[] calldata cd = _inputs[2].dims;
            uint256 ci = _broadcastIndex(o, 2, _outIndex, cd, cd.length);
            dot_.c = Float32.loadLE(_run(_inputs[2], 2, 0, ci, 1, 4));
        }
    }
}
