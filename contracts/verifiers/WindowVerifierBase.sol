// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Descriptor} from "../libraries/Descriptor.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";

/// @title WindowVerifierBase
/// @notice What the 2-D (NCHW) window ops share (Conv, MaxPool in ConvVerifier; AveragePool in
/// PoolVerifier): the window attributes (auto_pad NOTSET or VALID, dilations 1, strides, pads,
/// kernel_shape), output dims, and the kernel rows and columns of one output element that lie inside
/// the image. The Python twin is `assay.fraud.ops._WinGeo` / `_window_attrs`.
abstract contract WindowVerifierBase is OpVerifierBase {
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

    // -----------------------------------------------------------------------------------------
    // attributes and shapes
    // -----------------------------------------------------------------------------------------

    /// @dev auto_pad, dilations, kernel_shape, strides, pads, in the Python twin's order.
    function _windowAttrs(bytes calldata _d, Descriptor.Node memory _n, Win memory _w)
        internal
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
    function _outDim(uint256 _size, uint256 _k, uint256 _s, uint256 _p0, uint256 _p1) internal pure returns (uint256) {
        if (_size + _p0 + _p1 < _k) return type(uint256).max; // never equal to a committed dim
        return (_size + _p0 + _p1 - _k) / _s + 1;
    }

    function _dims4(uint64[] calldata _d) internal pure returns (uint256[4] memory r_) {
        (r_[0], r_[1], r_[2], r_[3]) = (_d[0], _d[1], _d[2], _d[3]);
    }

    /// @dev Kernel rows [i0, i1) and columns [j0, j1) whose input position lies inside the image.
    function _rowsCols(Win memory _w) internal pure returns (uint256 i0_, uint256 i1_, uint256 j0_, uint256 j1_) {
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
    function _xIndex(Win memory _w, uint256 _c, uint256 _i, uint256 _j) internal pure returns (uint256) {
        uint256 h = _w.oh * _w.sh + _i - _w.pads[0];
        uint256 col = _w.ow * _w.sw + _j - _w.pads[1];
        return ((_w.n * _w.x[1] + _c) * _w.x[2] + h) * _w.x[3] + col;
    }

    function _position(Win memory _w, uint256 _outIndex) internal pure {
        _w.ow = _outIndex % _w.o[3];
        uint256 r = _outIndex / _w.o[3];
        _w.oh = r % _w.o[2];
        r /= _w.o[2];
        _w.m = r % _w.o[1];
        _w.n = r / _w.o[1];
    }
}
