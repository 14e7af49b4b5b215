// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {WindowVerifierBase} from "./WindowVerifierBase.sol";
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
contract ConvVerifier is WindowVerifierBase {
    bytes32 private constant _CONV = keccak256("Conv");
    bytes32 private constant _MAXPOOL = keccak256("MaxPool");
    uint256 private constant _MAX_K = 1 << 20;

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
