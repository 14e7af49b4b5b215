// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {ExpEnclosure} from "./ExpEnclosure.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";

/// @title ActivationVerifier
/// @notice One-step checks of the float32 transcendental activations Softmax (last axis),
/// Sigmoid and Tanh. The exact value is enclosed with integer arithmetic (ExpEnclosure) and the
/// claimed value is accepted within a tolerance measured against onnxruntime with a wide margin
/// (docs/fraud-bounds.md §4): |ŷ - y| ≤ A + R·|y| with
/// - Softmax: R = 2^-15 + n·2^-24 (n = row length), A = 2^-120;
/// - Sigmoid: R = 2^-16, A = 2^-20 (onnxruntime's logistic has an absolute error of ~1.6e-7);
/// - Tanh: R = 2^-16, A = 2^-120.
contract ActivationVerifier is OpVerifierBase {
    bytes32 private constant _SOFTMAX = keccak256("Softmax");
    bytes32 private constant _SIGMOID = keccak256("Sigmoid");
    bytes32 private constant _TANH = keccak256("Tanh");
    uint256 private constant _MAX_ROW = 1 << 20;
    uint256 private constant _ONE = 1 << 120;
    uint256 private constant _SOFTMAX_R_BASE = 1 << 9;
    uint256 private constant _SOFTMAX_A = 1; // 2^-120
    uint256 private constant _SIGMOID_R = 1 << 8;
    uint256 private constant _SIGMOID_A = 1 << 100; // 2^-20
    uint256 private constant _TANH_R = 1 << 8;
    uint256 private constant _TANH_A = 1; // 2^-120
    uint256 private constant _TANH_SMALL = 1 << 44; // |x| < 2^-20 (Q64)
    uint256 private constant _NEG_INF = 0xFF800000;

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0 || (op != _SOFTMAX && op != _SIGMOID && op != _TANH)) _unsupported(_descriptor, n);
        _begin(_descriptor, _inputs, 1, 1);
        _requireDtype(_inputs, 0, FLOAT);
        if (op == _SOFTMAX) return _softmax(_descriptor, n, _inputs[0], _output, _outIndex);
        bool consistent = _output.dtype == FLOAT && _sameDims(_output.dims, _inputs[0].dims);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 x = Float32.loadLE(_run(_inputs[0], 0, 0, _outIndex, 1, 4));
        uint256 y = Float32.loadLE(_outputPtr(_output, 1, _outIndex, 4));
        return op == _SIGMOID ? _sigmoid(x, y) : _tanh(x, y);
    }

    function _softmax(
        bytes calldata _descriptor,
        Descriptor.Node memory _n,
        Operand calldata _in,
        Operand calldata _output,
        uint256 _outIndex
    ) private pure returns (bool) {
        uint256 r = _in.dims.length;
        (bool found, int256 axis) = Descriptor.optIntAttr(_descriptor, _n, "axis");
        // INVARIANT: the axis is the last one, the only case where opset ≤ 12 (flatten from the
        // axis, default 1) and ≥ 13 (one axis, default -1) agree; the descriptor has no opset.
        if (found) {
            if (axis < -int256(r) || axis >= int256(r) || (axis < 0 ? axis + int256(r) : axis) != int256(r) - 1) {
                revert UnsupportedAttribute("axis");
            }
        } else if (r != 2) {
            revert UnsupportedAttribute("axis");
        }
        bool consistent = _output.dtype == FLOAT && _sameDims(_output.dims, _in.dims);
        uint256 len = r > 0 ? _in.dims[r - 1] : 1;
        if (consistent && len > _MAX_ROW) revert UnsupportedSize(len);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 j = _outIndex % len;
        uint256 p = _run(_in, 0, 0, _outIndex - j, len, 4);
        uint256 y = Float32.loadLE(_outputPtr(_output, 1, _outIndex, 4));
        return _softmaxRow(p, len, j, y);
    }

    /// @dev The Softmax rule for element j of the row of `len` floats at calldata address `p`.
    function _softmaxRow(uint256 _p, uint256 _len, uint256 _j, uint256 _y) private pure returns (bool) {
        // NaN or +Inf anywhere, or only -Inf: x - max is NaN, so is every output
        int256 mLo = type(int256).min;
        int256 mHi = type(int256).min;
        for (uint256 i; i < _len; ++i) {
            uint256 x = Float32.loadLE(_p + 4 * i);
            if (x == _NEG_INF) continue;
            if (Float32.isNonFinite(x)) return Float32.isNaN(_y);
            (int256 lo, int256 hi) = ExpEnclosure.toFixed(x, 64);
            if (lo > mLo) mLo = lo;
            if (hi > mHi) mHi = hi;
        }
        if (mLo == type(int256).min) return Float32.isNaN(_y);
        uint256 sLo;
        uint256 sHi;
        uint256 fjLo;
        uint256 fjHi;
        uint256 kj;
        for (uint256 i; i < _len; ++i) {
            uint256 x = Float32.loadLE(_p + 4 * i);
            if (x == _NEG_INF) continue; // e^-inf = 0 exactly
            (int256 lo, int256 hi) = ExpEnclosure.toFixed(x, 64);
            int256 uLo = mLo - hi;
            (uint256 fLo, uint256 fHi, uint256 k) = ExpEnclosure.expNeg(uLo > 0 ? uint256(uLo) : 0, uint256(mHi - lo));
            sLo += ExpEnclosure.shiftDown(fLo, k, false);
            sHi += ExpEnclosure.shiftDown(fHi, k, true);
            if (i == _j) (fjLo, fjHi, kj) = (fLo, fHi, k);
        }
        // (x_j = -Inf leaves f_j = 0: the enclosure is [0, 0])
        uint256 yLo = ExpEnclosure.shiftDown((fjLo << 120) / sHi, kj, false);
        uint256 yHi = ExpEnclosure.shiftDown(_divUp(fjHi << 120, sLo), kj, true);
        return ExpEnclosure.decide(int256(yLo), int256(yHi), _SOFTMAX_R_BASE + _len, _SOFTMAX_A, _y);
    }

    function _sigmoid(uint256 _x, uint256 _y) private pure returns (bool) {
        if (Float32.isNaN(_x)) return Float32.isNaN(_y);
        uint256 eLo;
        uint256 eHi;
        if (!Float32.isNonFinite(_x)) {
            (int256 lo, int256 hi) = ExpEnclosure.toFixed(_x & 0x7FFFFFFF, 64);
            (eLo, eHi) = ExpEnclosure.expNegQ120(uint256(lo), uint256(hi));
        } // ±Inf: e^-|x| = 0
        uint256 big = 1 << 240;
        int256 yLo;
        int256 yHi;
        if (_x >> 31 == 0) {
            yLo = int256(big / (_ONE + eHi));
            yHi = int256(_divUp(big, _ONE + eLo));
        } else {
            yLo = int256(_ONE - _divUp(big, _ONE + eLo));
            yHi = int256(_ONE - big / (_ONE + eHi));
        }
        return ExpEnclosure.decide(yLo, yHi, _SIGMOID_R, _SIGMOID_A, _y);
    }

    function _tanh(uint256 _x, uint256 _y) private pure returns (bool) {
        if (Float32.isNaN(_x)) return Float32.isNaN(_y);
        int256 yLo;
        int256 yHi;
        if (Float32.isNonFinite(_x)) {
            yLo = int256(_ONE);
            yHi = int256(_ONE);
        } else {
            (int256 lo, int256 hi) = ExpEnclosure.toFixed(_x & 0x7FFFFFFF, 64);
            if (uint256(hi) <= _TANH_SMALL) {
                // |x| < 2^-20: tanh|x| ∈ [|x| - |x|^3/3, |x|] ⊂ [|x|(1 - 2^-40), |x|]
                (int256 xLo, int256 xHi) = ExpEnclosure.toFixed(_x & 0x7FFFFFFF, 120);
                yLo = xLo - int256(ExpEnclosure.shiftDown(uint256(xHi), 40, true));
                yHi = xHi;
            } else {
                (uint256 eLo, uint256 eHi) = ExpEnclosure.expNegQ120(2 * uint256(lo), 2 * uint256(hi));
                yLo = int256(((_ONE - eHi) << 120) / (_ONE + eHi));
                yHi = int256(_divUp((_ONE - eLo) << 120, _ONE + eLo));
            }
        }
        if (_x >> 31 == 1) (yLo, yHi) = (-yHi, -yLo);
        return ExpEnclosure.decide(yLo, yHi, _TANH_R, _TANH_A, _y);
    }

    function _divUp(uint256 _a, uint256 _b) private pure returns (uint256) {
        return _a == 0 ? 0 : (_a - 1) / _b + 1;
    }
}
