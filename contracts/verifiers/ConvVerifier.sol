// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";
import {ProductSumRule} from "./ProductSumRule.sol";

/// @title ConvVerifier
/// @notice One-step checks of 2-D (NCHW) float32 Conv and MaxPool: auto_pad NOTSET or VALID,
/// dilations 1, any strides and pads (and groups for Conv); MaxPool with ceil_mode 0.
/// The window of one output element is read from one contiguous span of the input (from its
/// first to its last element, all channels of the group), the Conv weights of the output channel
/// from one run. A Conv element is a dot product: ProductSumRule over the window's (x, w) pairs,
/// run by run (channel, kernel row), plus (bias, 1), with m = C/group·kh·kw (+ 1 with a bias).
/// A MaxPool element is exact: the window's largest value as a denormals-are-zero comparison sees
/// it (±0 alike); with a NaN in the window, NaN, any element or -FLT_MAX/-Inf (docs/fraud-bounds.md §4).
contract ConvVerifier is OpVerifierBase {
    bytes32 private constant _CONV = keccak256("Conv");
    bytes32 private constant _MAXPOOL = keccak256("MaxPool");
    uint256 private constant _MAX_K = 1 << 20;

    /// @dev A 2-D window op's geometry and the output element's position.
    struct Win {
        uint256[4] x; // N, C, H, W
        uint256[4] o; // N, M, OH, OW
        uint256 kh;
        uint256 kw;
        uint256 sh;
        uint256 sw;
        uint256[4] pads; // top, left, bottom, right
        uint256 group;
        bool hasB;
        // the element
        uint256 n;
        uint256 m;
        uint256 oh;
        uint256 ow;
    }

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        view
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0 || (op != _CONV && op != _MAXPOOL)) _unsupported(_descriptor, n);
        return op == _CONV ? _conv(_descriptor, _inputs, _output, _outIndex) : _maxPool(_descriptor, _inputs, _output, _outIndex);
    }

    // -----------------------------------------------------------------------------------------
    // attributes and shapes
    // -----------------------------------------------------------------------------------------

    /// @dev auto_pad, dilations, kernel_shape, strides, pads, in the Python twin's order.
    function _windowAttrs(bytes calldata _d, Descriptor.Node memory _n, Win memory _w)
        private
        pure
        returns (bool hasKs_)
    {
        (bool apFound, bytes calldata ap) = Descriptor.stringAttr(_d, _n, "auto_pad");
        bool valid = apFound && keccak256(ap) == keccak256("VALID");
        if (apFound && !valid && keccak256(ap) != keccak256("NOTSET")) revert UnsupportedAttribute("auto_pad");
        (bool dFound, int256[] memory dil) = Descriptor.intsAttr(_d, _n, "dilations");
        if (dFound && (dil.length != 2 || dil[0] != 1 || dil[1] != 1)) revert UnsupportedAttribute("dilations");
        int256[] memory ks;
        (hasKs_, ks) = Descriptor.intsAttr(_d, _n, "kernel_shape");
        (bool sFound, int256[] memory st) = Descriptor.intsAttr(_d, _n, "strides");
        (bool pFound, int256[] memory pd) = Descriptor.intsAttr(_d, _n, "pads");
        if (valid && pFound) {
            for (uint256 i; i < pd.length; ++i) {
                if (pd[i] != 0) revert UnsupportedAttribute("pads");
            }
        }
        if (sFound) {
            if (st.length != 2 || st[0] < 1 || st[1] < 1) revert UnsupportedAttribute("strides");
            (_w.sh, _w.sw) = (uint256(st[0]), uint256(st[1]));
        } else {
            (_w.sh, _w.sw) = (1, 1);
        }
        if (pFound) {
            if (pd.length != 4) revert UnsupportedAttribute("pads");
            for (uint256 i; i < 4; ++i) {
                if (pd[i] < 0) revert UnsupportedAttribute("pads");
                _w.pads[i] = uint256(pd[i]);
            }
        }
        if (hasKs_) {
            if (ks.length != 2 || ks[0] < 0 || ks[1] < 0) revert UnsupportedAttribute("kernel_shape");
            (_w.kh, _w.kw) = (uint256(ks[0]), uint256(ks[1]));
        }
    }

    /// @dev floor((size + p0 + p1 - k) / s) + 1, or 0 (no valid output) when the kernel does not fit.
    function _outDim(uint256 _size, uint256 _k, uint256 _s, uint256 _p0, uint256 _p1) private pure returns (uint256) {
        if (_size + _p0 + _p1 < _k) return type(uint256).max; // never equal to a committed dim
        return (_size + _p0 + _p1 - _k) / _s + 1;
    }

    function _dims4(uint64[] calldata _d) private pure returns (uint256[4] memory r_) {
        (r_[0], r_[1], r_[2], r_[3]) = (_d[0], _d[1], _d[2], _d[3]);
    }

    /// @dev Kernel rows [i0, i1) and columns [j0, j1) whose input position lies inside the image.
    function _rowsCols(Win memory _w) private pure returns (uint256 i0_, uint256 i1_, uint256 j0_, uint256 j1_) {
        int256 h0 = int256(_w.oh * _w.sh) - int256(_w.pads[0]);
        int256 w0 = int256(_w.ow * _w.sw) - int256(_w.pads[1]);
        i0_ = h0 < 0 ? uint256(-h0) : 0;
        j0_ = w0 < 0 ? uint256(-w0) : 0;
        int256 ih = int256(_w.x[2]) - h0;
        int256 jw = int256(_w.x[3]) - w0;
        i1_ = ih <= 0 ? 0 : (uint256(ih) < _w.kh ? uint256(ih) : _w.kh);
        j1_ = jw <= 0 ? 0 : (uint256(jw) < _w.kw ? uint256(jw) : _w.kw);
        if (i1_ < i0_) i1_ = i0_;
        if (j1_ < j0_) j1_ = j0_;
    }

    /// @dev Row-major input index of (n, c, h0 + i, w0 + j).
    function _xIndex(Win memory _w, uint256 _c, uint256 _i, uint256 _j) private pure returns (uint256) {
        uint256 h = _w.oh * _w.sh + _i - _w.pads[0];
        uint256 col = _w.ow * _w.sw + _j - _w.pads[1];
        return ((_w.n * _w.x[1] + _c) * _w.x[2] + h) * _w.x[3] + col;
    }

    function _position(Win memory _w, uint256 _outIndex) private pure {
        _w.ow = _outIndex % _w.o[3];
        uint256 r = _outIndex / _w.o[3];
        _w.oh = r % _w.o[2];
        r /= _w.o[2];
        _w.m = r % _w.o[1];
        _w.n = r / _w.o[1];
    }

    // -----------------------------------------------------------------------------------------
    // Conv
    // -----------------------------------------------------------------------------------------

    function _conv(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        view
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_d, _inputs, 2, 3);
        Win memory w;
        bool hasKs = _windowAttrs(_d, n, w);
        int256 group = Descriptor.intAttr(_d, n, "group", 1);
        if (group < 1) revert UnsupportedAttribute("group");
        w.group = uint256(group);
        w.hasB = n.nIn > 2 && _inputs[2].dtype != 0;
        _requireDtype(_inputs, 0, FLOAT);
        _requireDtype(_inputs, 1, FLOAT);
        if (w.hasB) _requireDtype(_inputs, 2, FLOAT);
        if (_inputs[0].dims.length != 4) revert UnsupportedSize(_inputs[0].dims.length);
        if (_inputs[1].dims.length != 4) revert UnsupportedSize(_inputs[1].dims.length);
        w.x = _dims4(_inputs[0].dims);
        uint256[4] memory wd = _dims4(_inputs[1].dims);
        bool consistent = _output.dtype == FLOAT && (!hasKs || (w.kh == wd[2] && w.kw == wd[3]));
        (w.kh, w.kw) = (wd[2], wd[3]);
        consistent = consistent && w.x[1] % w.group == 0 && wd[0] % w.group == 0 && w.x[1] / w.group == wd[1];
        if (consistent && w.hasB) {
            consistent = _inputs[2].dims.length == 1 && _inputs[2].dims[0] == wd[0];
        }
        if (consistent) {
            uint64[] calldata o = _output.dims;
            consistent = o.length == 4 && o[0] == w.x[0] && o[1] == wd[0]
                && o[2] == _outDim(w.x[2], w.kh, w.sh, w.pads[0], w.pads[2])
                && o[3] == _outDim(w.x[3], w.kw, w.sw, w.pads[1], w.pads[3]);
        }
        uint256 k = wd[1] * w.kh * w.kw;
        // INVARIANT: 1 ≤ K ≤ 2^20 (the rule's magnitude bounds).
        if (consistent && (k == 0 || k > _MAX_K)) revert UnsupportedSize(k);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        w.o = _dims4(_output.dims);
        _position(w, _outIndex);
        return _convDecide(w, _inputs, k, Float32.loadLE(_outputPtr(_output, _inputs.length, _outIndex, 4)));
    }

    function _convDecide(Win memory _w, Operand[] calldata _inputs, uint256 _k, uint256 _y) private view returns (bool) {
        (uint256 i0, uint256 i1, uint256 j0, uint256 j1) = _rowsCols(_w);
        // slither-disable-next-line divide-before-multiply -- index arithmetic: channels per group (divisibility checked in _conv) and the group of channel m are floors by design
        uint256 cg = _w.x[1] / _w.group;
        uint256 c0 = _w.m / (_w.o[1] / _w.group) * cg;
        bool any = i1 > i0 && j1 > j0;
        uint256 first;
        uint256 px;
        if (any) {
            first = _xIndex(_w, c0, i0, j0);
            px = _run(_inputs[0], 0, 0, first, _xIndex(_w, c0 + cg - 1, i1 - 1, j1 - 1) - first + 1, 4);
        }
        uint256 pw = _run(_inputs[1], 1, 0, _w.m * _k, _k, 4);
        uint256 b = _w.hasB ? Float32.loadLE(_run(_inputs[2], 2, 0, _w.m, 1, 4)) : 0;
        // pass 1 over every run (channel, kernel row), then the bias pair
        uint256 t;
        bool nf;
        bool sub;
        for (uint256 c; any && c < cg; ++c) {
            for (uint256 i = i0; i < i1; ++i) {
                (uint256 tr, bool nfr, bool sr) = ProductSumRule.scanRuns(
                    px + 4 * (_xIndex(_w, c0 + c, i, j0) - first), pw + 4 * ((c * _w.kh + i) * _w.kw + j0), j1 - j0
                );
                if (tr > t) t = tr;
                nf = nf || nfr;
                sub = sub || sr;
            }
        }
        uint256 pairs = any ? cg * (i1 - i0) * (j1 - j0) : 0;
        uint256 bx = _w.hasB ? b : 0; // no pair at all: the rule over (0, 1), i.e. y ≈ 0
        if (_w.hasB || pairs == 0) {
            (uint256 tb, bool nfb) = ProductSumRule.scanPair(bx, Float32.ONE);
            if (tb > t) t = tb;
            nf = nf || nfb;
            ++pairs;
        }
        if (nf) return Float32.isNonFinite(_y);
        int256 g = ProductSumRule.grid(t);
        ProductSumRule.Sums memory acc;
        for (uint256 c; any && c < cg; ++c) {
            for (uint256 i = i0; i < i1; ++i) {
                ProductSumRule.addRuns(
                    acc,
                    px + 4 * (_xIndex(_w, c0 + c, i, j0) - first),
                    pw + 4 * ((c * _w.kh + i) * _w.kw + j0),
                    j1 - j0,
                    g,
                    sub
                );
            }
        }
        if (_w.hasB || !any) ProductSumRule.addPair(acc, bx, Float32.ONE, g);
        return ProductSumRule.decide(acc, pairs, _k + (_w.hasB ? 1 : 0), g, _y, false);
    }

    // -----------------------------------------------------------------------------------------
    // MaxPool
    // -----------------------------------------------------------------------------------------

    function _maxPool(bytes calldata _d, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_d, _inputs, 1, 1);
        Win memory w;
        if (!_windowAttrs(_d, n, w)) revert UnsupportedAttribute("kernel_shape");
        if (Descriptor.intAttr(_d, n, "ceil_mode", 0) != 0) revert UnsupportedAttribute("ceil_mode");
        _requireDtype(_inputs, 0, FLOAT);
        if (_inputs[0].dims.length != 4) revert UnsupportedSize(_inputs[0].dims.length);
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
        return _maxRule(w, px, first, i0, i1, j0, j1, y);
    }

    /// @dev Order key of a float as a denormals-are-zero comparison sees it (NaN excluded).
    function _key(uint256 _bits) private pure returns (int256) {
        if ((_bits >> 23) & 0xFF == 0) return 0;
        return _bits >> 31 == 0 ? int256(_bits) : -int256(_bits & 0x7FFFFFFF);
    }

    function _maxRule(Win memory _w, uint256 _px, uint256 _first, uint256 _i0, uint256 _i1, uint256 _j0, uint256 _j1, uint256 _y)
        private
        pure
        returns (bool)
    {
        bool yNaN = Float32.isNaN(_y);
        int256 yk = yNaN ? int256(0) : _key(_y);
        bool hasNaN;
        bool hit; // some non-NaN element has ŷ's key
        bool seen;
        int256 best;
        for (uint256 i = _i0; i < _i1; ++i) {
            for (uint256 j = _j0; j < _j1; ++j) {
                uint256 v = Float32.loadLE(_px + 4 * (_xIndex(_w, _w.m, i, j) - _first));
                if (Float32.isNaN(v)) {
                    hasNaN = true;
                    continue;
                }
                int256 kv = _key(v);
                if (!seen || kv > best) best = kv;
                seen = true;
                if (!yNaN && kv == yk) hit = true;
            }
        }
        // a NaN in the window: the order of comparisons decides, so NaN, any element, or the
        // running max's start value (-FLT_MAX, as onnxruntime; or -Inf)
        if (hasNaN) return yNaN || hit || _y == 0xFF7FFFFF || _y == 0xFF800000;
        return !yNaN && yk == best;
    }
}
