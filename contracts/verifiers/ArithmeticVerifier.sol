// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";

/// @title ArithmeticVerifier
/// @notice One-step checks of float32 Div, Clip and BatchNormalization (inference form); the
/// Python twins are `assay.fraud.ops.div_rule`, `clip_rule` and `batchnorm_rule`, the bounds and
/// their justification in docs/fraud-bounds.md §4.3–4.4.
/// - Div (multidirectional broadcasting): one correctly rounded division:
///   |ŷ − a/b| ≤ γ₁·|a/b| + 2^-126, decided exactly with the mantissa quotient ⌊m_a·2^100/m_b⌋;
/// - Clip (min and max as optional scalar inputs, opset ≥ 11): exact, min(max(x, lo), hi) with
///   any NaN order and a denormals-are-zero comparison; an absent bound is ∓FLT_MAX or ∓Inf;
/// - BatchNormalization (training_mode 0, spatial 1): y = (x − μ)·γ/√(v + ε) + β enclosed with
///   integer square roots, accepted within 2^-19·(|x·s| + |μ·s| + |β|) + 2·D + A.
contract ArithmeticVerifier is OpVerifierBase {
    bytes32 private constant _DIV = keccak256("Div");
    bytes32 private constant _CLIP = keccak256("Clip");
    bytes32 private constant _BN = keccak256("BatchNormalization");
    uint256 private constant _POS_INF = 0x7F800000;
    uint256 private constant _NEG_INF = 0xFF800000;
    uint256 private constant _MAX = 0x7F7FFFFF;
    uint256 private constant _LOWEST = 0xFF7FFFFF;
    uint256 private constant _EPS_DEFAULT = 0x3727C5AC; // 1e-5
    uint256 private constant _BN_R_NUM = 32;

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0) _unsupported(_descriptor, n);
        if (op == _DIV) return _div(_descriptor, _inputs, _output, _outIndex);
        if (op == _CLIP) return _clip(_descriptor, _inputs, _output, _outIndex);
        if (op == _BN) return _batchNorm(_descriptor, _inputs, _output, _outIndex);
        _unsupported(_descriptor, n);
    }

    // -----------------------------------------------------------------------------------------
    // Div
    // -----------------------------------------------------------------------------------------

    function _div(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        _begin(_descriptor, _inputs, 2, 2);
        _requireDtype(_inputs, 0, FLOAT);
        _requireDtype(_inputs, 1, FLOAT);
        uint64[] calldata a = _inputs[0].dims;
        uint64[] calldata b = _inputs[1].dims;
        uint64[] calldata o = _output.dims;
        bool consistent = _output.dtype == FLOAT && _isBroadcast(o, 0, o.length, a, a.length, b, b.length);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 x = Float32.loadLE(_run(_inputs[0], 0, 0, _broadcastIndex(o, o.length, _outIndex, a, a.length), 1, 4));
        uint256 z = Float32.loadLE(_run(_inputs[1], 1, 0, _broadcastIndex(o, o.length, _outIndex, b, b.length), 1, 4));
        return _divRule(x, z, Float32.loadLE(_outputPtr(_output, 2, _outIndex, 4)));
    }

    /// @dev Accept ŷ as a / b (bits)? See `assay.fraud.ops.div_rule`.
    function _divRule(uint256 _a, uint256 _b, uint256 _y) private pure returns (bool) {
        bool aNf = Float32.isNonFinite(_a);
        bool bNf = Float32.isNonFinite(_b);
        bool yNf = Float32.isNonFinite(_y);
        if (Float32.isNaN(_a) || Float32.isNaN(_b) || (aNf && bNf)) return Float32.isNaN(_y);
        if (aNf) return _y & 0x7FFFFFFF == _POS_INF;
        if (bNf) return Float32.isZero(_y);
        if (Float32.isZero(_b)) return yNf;
        // a denormals-are-zero executor divides by 0, or divides 0
        if (yNf && Float32.isZeroOrSubnormal(_b)) return true;
        if (Float32.isZero(_y) && Float32.isZeroOrSubnormal(_a)) return true;
        (uint256 sa,, uint256 ma, uint256 ea) = Float32.fields(_a);
        (uint256 sb,, uint256 mb, uint256 eb) = Float32.fields(_b);
        int256 g = int256(ea) - int256(eb) - 100;
        uint256 q = (ma << 100) / mb; // |a/b| ∈ [q, q + 1) · 2^g
        if (yNf) {
            // an honest overflow needs |a/b| ≥ 2^128 − 2^103 > 2^127
            int256 need = 127 - g;
            return need <= 0 || (need < 256 && q + 1 >= uint256(1) << uint256(need));
        }
        (uint256 sy,, uint256 my, uint256 ey) = Float32.fields(_y);
        int256 sh = int256(ey) - 150 - g;
        uint256 yq;
        if (sh >= 0) {
            // INVARIANT: |ŷ| < 2^230 grid units, else it is provably outside the bound (< 2^229)
            if (my != 0 && (uint256(sh) >= 230 || my >> (230 - uint256(sh)) != 0)) return false;
            yq = my << uint256(sh);
        } else if (sh > -256) {
            yq = my >> uint256(-sh);
        }
        int256 diff = (sy == 1 ? -int256(yq) : int256(yq)) - (sa ^ sb == 1 ? -int256(q) : int256(q));
        uint256 absDiff = diff < 0 ? uint256(-diff) : uint256(diff);
        int256 ue = -126 - g;
        uint256 k = (1 << 24) - 1;
        return absDiff * k <= q + (3 + (uint256(1) << (ue > 0 ? uint256(ue) : 0))) * k;
    }

    // -----------------------------------------------------------------------------------------
    // Clip
    // -----------------------------------------------------------------------------------------

    function _clip(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_d, _inputs, 1, 3);
        (bool maxAttr,,) = Descriptor.find(_d, n, "max");
        if (maxAttr) revert UnsupportedAttribute("max");
        (bool minAttr,,) = Descriptor.find(_d, n, "min");
        if (minAttr) revert UnsupportedAttribute("min");
        bool hasLo = n.nIn > 1 && _inputs[1].dtype != 0;
        bool hasHi = n.nIn > 2 && _inputs[2].dtype != 0;
        _requireDtype(_inputs, 0, FLOAT);
        if (hasLo) _requireDtype(_inputs, 1, FLOAT);
        if (hasHi) _requireDtype(_inputs, 2, FLOAT);
        bool consistent = _output.dtype == FLOAT && _sameDims(_output.dims, _inputs[0].dims);
        if (hasLo) consistent = consistent && _isScalar(_inputs[1].dims);
        if (hasHi) consistent = consistent && _isScalar(_inputs[2].dims);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 x = Float32.loadLE(_run(_inputs[0], 0, 0, _outIndex, 1, 4));
        uint256 lo = hasLo ? Float32.loadLE(_run(_inputs[1], 1, 0, 0, 1, 4)) : 0;
        uint256 hi = hasHi ? Float32.loadLE(_run(_inputs[2], 2, 0, 0, 1, 4)) : 0;
        uint256 y = Float32.loadLE(_outputPtr(_output, _inputs.length, _outIndex, 4));
        for (uint256 i; i < (hasLo ? 1 : 2); ++i) {
            uint256 l = hasLo ? lo : (i == 0 ? _LOWEST : _NEG_INF);
            (uint256 r0, uint256 r1, bool two) = _pick(x, l, true);
            for (uint256 j; j < (hasHi ? 1 : 2); ++j) {
                uint256 h = hasHi ? hi : (j == 0 ? _MAX : _POS_INF);
                if (_minHits(r0, h, y) || (two && _minHits(r1, h, y))) return true;
            }
        }
        return false;
    }

    /// @dev Rank ≤ 1 and one element.
    function _isScalar(uint64[] calldata _dims) private pure returns (bool) {
        return _dims.length <= 1 && _numel(_dims) == 1;
    }

    /// @dev What max (`larger`) or min of a and b may return: either operand when one is NaN or the
    /// two are equal as a denormals-are-zero comparison sees them, else the larger (smaller) one.
    function _pick(uint256 _a, uint256 _b, bool _larger) private pure returns (uint256 first_, uint256 second_, bool two_) {
        if (Float32.isNaN(_a) || Float32.isNaN(_b)) return (_a, _b, true);
        int256 ka = Float32.dazKey(_a);
        int256 kb = Float32.dazKey(_b);
        if (ka == kb) return (_a, _b, true);
        return ((ka > kb) == _larger ? _a : _b, 0, false);
    }

    /// @dev Whether ŷ is a value min(r, h) may return.
    function _minHits(uint256 _r, uint256 _h, uint256 _y) private pure returns (bool) {
        (uint256 z0, uint256 z1, bool two) = _pick(_r, _h, false);
        return _sameValue(z0, _y) || (two && _sameValue(z1, _y));
    }

    /// @dev NaN matches NaN; other values match by their denormals-are-zero value.
    function _sameValue(uint256 _z, uint256 _y) private pure returns (bool) {
        if (Float32.isNaN(_y)) return Float32.isNaN(_z);
        return !Float32.isNaN(_z) && Float32.dazKey(_z) == Float32.dazKey(_y);
    }

    // -----------------------------------------------------------------------------------------
    // BatchNormalization
    // -----------------------------------------------------------------------------------------

    function _batchNorm(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_d, _inputs, 5, 5);
        if (Descriptor.intAttr(_d, n, "spatial", 1) != 1) revert UnsupportedAttribute("spatial");
        if (Descriptor.intAttr(_d, n, "training_mode", 0) != 0) revert UnsupportedAttribute("training_mode");
        uint256 eps = Descriptor.floatAttr(_d, n, "epsilon", _EPS_DEFAULT);
        if (Float32.isNonFinite(eps)) revert UnsupportedAttribute("epsilon");
        for (uint256 i; i < 5; ++i) {
            _requireDtype(_inputs, i, FLOAT);
        }
        uint64[] calldata x = _inputs[0].dims;
        bool consistent = _output.dtype == FLOAT && _sameDims(_output.dims, x) && x.length >= 2;
        for (uint256 i = 1; consistent && i < 5; ++i) {
            consistent = _inputs[i].dims.length == 1 && _inputs[i].dims[0] == x[1];
        }
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 c = _outIndex / _numelRange(x, 2, x.length) % x[1];
        uint256[7] memory v;
        v[0] = Float32.loadLE(_run(_inputs[0], 0, 0, _outIndex, 1, 4));
        for (uint256 i = 1; i < 5; ++i) {
            v[i] = Float32.loadLE(_run(_inputs[i], i, 0, c, 1, 4));
        }
        v[5] = eps;
        v[6] = Float32.loadLE(_outputPtr(_output, 5, _outIndex, 4));
        return _bnRule(v);
    }

    /// @dev (floor, ceil) of man·2^sh for the magnitudes used here (man·2^sh < 2^256 when sh ≥ 0).
    function _scaled(uint256 _man, int256 _sh) private pure returns (uint256 lo_, uint256 hi_) {
        if (_sh >= 0) {
            lo_ = _man << uint256(_sh);
            return (lo_, lo_);
        }
        if (_sh <= -256) return (0, _man != 0 ? 1 : 0);
        lo_ = _man >> uint256(-_sh);
        hi_ = lo_ << uint256(-_sh) != _man ? lo_ + 1 : lo_;
    }

    /// @dev The enclosure of 1/√(v + ε): r ∈ [rLo, rHi]·2^(−240 − half); `degenerate` when every ŷ
    /// is accepted (v + ε ≥ 2^127 possible, < 2^-100, or cancelling to fewer than 160 bits).
    function _invSqrt(uint256 _var, uint256 _eps)
        private
        pure
        returns (bool degenerate_, uint256 rLo_, uint256 rHi_, int256 half_)
    {
        (uint256 sv,, uint256 mv, uint256 ev) = Float32.fields(_var);
        (uint256 se,, uint256 me, uint256 ee) = Float32.fields(_eps);
        uint256 top = ev > ee ? ev : ee;
        if (top >= 253) return (true, 0, 0, 0);
        int256 kw = int256(top) - 350;
        int256 wLo;
        int256 wHi;
        (uint256 lo, uint256 hi) = _scaled(mv, int256(ev) - 150 - kw);
        (wLo, wHi) = sv == 1 ? (wLo - int256(hi), wHi - int256(lo)) : (wLo + int256(lo), wHi + int256(hi));
        (lo, hi) = _scaled(me, int256(ee) - 150 - kw);
        (wLo, wHi) = se == 1 ? (wLo - int256(hi), wHi - int256(lo)) : (wLo + int256(lo), wHi + int256(hi));
        if (wLo < int256(uint256(1) << 160)) return (true, 0, 0, 0);
        int256 need = -100 - kw; // v + ε ≥ 2^-100 ⇔ W ≥ 2^(−100 − kw)
        if (need > 0 && uint256(wLo) >> uint256(need) == 0) return (true, 0, 0, 0);
        if (kw & 1 != 0) {
            (wLo, wHi, kw) = (2 * wLo, 2 * wHi, kw - 1);
        }
        half_ = kw / 2;
        uint256 sqLo = Math.sqrt(uint256(wLo));
        uint256 sqHi = Math.sqrt(uint256(wHi));
        if (sqHi * sqHi < uint256(wHi)) ++sqHi;
        rLo_ = (uint256(1) << 240) / sqHi;
        rHi_ = ((uint256(1) << 240) + sqLo - 1) / sqLo;
    }

    /// @dev Accept ŷ as BatchNormalization of [x, γ, β, μ, v, ε, ŷ] (bits)? See
    /// `assay.fraud.ops.batchnorm_rule`.
    function _bnRule(uint256[7] memory _v) private pure returns (bool) {
        if (Float32.isNonFinite(_v[1]) || Float32.isNonFinite(_v[2]) || Float32.isNonFinite(_v[3]) || Float32.isNonFinite(_v[4])) {
            return true;
        }
        (bool degenerate, uint256 rLo, uint256 rHi, int256 half) = _invSqrt(_v[4], _v[5]);
        if (degenerate) return true;
        if (Float32.isNonFinite(_v[0])) return Float32.isNonFinite(_v[6]);
        if (Float32.isNonFinite(_v[6])) return _bnOverflow(_v, rHi, half);
        int256 eProd = -540 - half; // exponent of m·m_γ·R
        int256[4] memory e; // effective exponents of x, γ, β, μ
        uint256[4] memory m;
        for (uint256 i; i < 4; ++i) {
            uint256 ef;
            (,, m[i], ef) = Float32.fields(_v[i]);
            e[i] = int256(ef);
        }
        int256 g;
        {
            int256 t = e[0] + e[1] + eProd + 208;
            int256 tm = e[3] + e[1] + eProd + 208;
            if (tm > t) t = tm;
            if (e[2] - 126 > t) t = e[2] - 126;
            g = t - 220 > -224 ? t - 220 : int256(-224);
        }
        uint256[6] memory tr; // [lo, hi] of |x·s|, |μ·s|, |β| on the grid 2^g
        (tr[0],) = _scaled(m[0] * m[1] * rLo, e[0] + e[1] + eProd - g);
        (, tr[1]) = _scaled(m[0] * m[1] * rHi, e[0] + e[1] + eProd - g);
        (tr[2],) = _scaled(m[3] * m[1] * rLo, e[3] + e[1] + eProd - g);
        (, tr[3]) = _scaled(m[3] * m[1] * rHi, e[3] + e[1] + eProd - g);
        (tr[4], tr[5]) = _scaled(m[2], e[2] - 150 - g);
        return _bnDecide(_v, tr, m, e, g);
    }

    function _bnDecide(uint256[7] memory _v, uint256[6] memory _tr, uint256[4] memory _m, int256[4] memory _e, int256 _g)
        private
        pure
        returns (bool)
    {
        int256 yLo;
        int256 yHi;
        {
            bool negXs = (_v[0] ^ _v[1]) >> 31 & 1 == 1;
            bool negMs = (_v[3] ^ _v[1]) >> 31 & 1 == 0; // the term is −μ·s
            bool negB = _v[2] >> 31 == 1;
            (yLo, yHi) = negXs ? (-int256(_tr[1]), -int256(_tr[0])) : (int256(_tr[0]), int256(_tr[1]));
            (yLo, yHi) = negMs ? (yLo - int256(_tr[3]), yHi - int256(_tr[2])) : (yLo + int256(_tr[2]), yHi + int256(_tr[3]));
            (yLo, yHi) = negB ? (yLo - int256(_tr[5]), yHi - int256(_tr[4])) : (yLo + int256(_tr[4]), yHi + int256(_tr[5]));
        }
        uint256 tol;
        {
            bool gSub = Float32.isZeroOrSubnormal(_v[1]);
            uint256 d = (Float32.isZeroOrSubnormal(_v[0]) || gSub ? _tr[1] : 0)
                + (Float32.isZeroOrSubnormal(_v[3]) || gSub ? _tr[3] : 0) + (Float32.isZeroOrSubnormal(_v[2]) ? _tr[5] : 0);
            (, uint256 a) = _scaled(_m[0], _e[0] - 275 - _g);
            (, uint256 a1) = _scaled(_m[3], _e[3] - 275 - _g);
            (, uint256 a2) = _scaled(_m[1], _e[1] - 275 - _g);
            (, uint256 a3) = _scaled(16, -125 - _g);
            uint256 p = _tr[1] + _tr[3] + _tr[5];
            tol = ((p * _BN_R_NUM + (1 << 24) - 1) >> 24) + 2 * d + a + a1 + a2 + a3;
        }
        (uint256 sy,, uint256 my, uint256 ey) = Float32.fields(_v[6]);
        int256 sh = int256(ey) - 150 - _g;
        // INVARIANT: |ŷ| < 2^240 grid units, else it is provably outside (|y| + tol < 2^231)
        if (sh >= 0 && my != 0 && (uint256(sh) >= 240 || my >> (240 - uint256(sh)) != 0)) return false;
        (uint256 lo, uint256 hi) = _scaled(my, sh);
        (int256 ylo, int256 yhi) = sy == 1 ? (-int256(hi), -int256(lo)) : (int256(lo), int256(hi));
        return ylo <= yHi + int256(tol) && yhi >= yLo - int256(tol);
    }

    /// @dev ŷ non-finite from finite inputs: accepted iff some intermediate can reach 2^126
    /// (exponent bounds: |a| < 2^(e_a − 126), 1/√(v + ε) < 2^br).
    function _bnOverflow(uint256[7] memory _v, uint256 _rHi, int256 _half) private pure returns (bool) {
        int256 br = int256(Math.log2(_rHi) + 1) - 240 - _half;
        (,,, uint256 ex) = Float32.fields(_v[0]);
        (,,, uint256 eg) = Float32.fields(_v[1]);
        (,,, uint256 eb) = Float32.fields(_v[2]);
        (,,, uint256 em) = Float32.fields(_v[3]);
        int256 bg = int256(eg) - 126;
        int256 hx = (ex > em ? int256(ex) : int256(em)) - 126 + 1;
        return hx >= 126 || bg + br >= 126 || hx + bg + br + 1 >= 126 || int256(eb) - 126 + 1 >= 126 || hx + br >= 126
            || hx + bg >= 126;
    }
}
