// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";

/// @title MoveVerifier
/// @notice One-step checks of the data-movement ops Transpose, Concat, Squeeze, Unsqueeze, Gather
/// and Slice (ONNX opset 13 semantics; any dtype with a canonical encoding). Each is exact: output
/// element o must have the bytes of exactly one input element, whose position follows from the
/// committed dims, the attributes and, for Gather and Slice, the values of small integer inputs
/// (indices; starts, ends, axes, steps) that are themselves proven operands. Squeeze/Unsqueeze
/// keep the flat index; their axes (input 1, or the attribute before opset 13) only decide whether
/// the output shape is the op's. Values that make the ONNX op fail (an axis out of range or
/// repeated, a zero step, an index outside [-d, d)) mean no execution produced the output: the
/// check answers false without reading data. The off-chain twin is `assay.fraud.ops` (_Transpose,
/// _Concat, _Squeeze, _GatherOp, _Slice); rules in docs/fraud-bounds.md §4.6.
contract MoveVerifier is OpVerifierBase {
    bytes32 private constant _TRANSPOSE = keccak256("Transpose");
    bytes32 private constant _CONCAT = keccak256("Concat");
    bytes32 private constant _SQUEEZE = keccak256("Squeeze");
    bytes32 private constant _UNSQUEEZE = keccak256("Unsqueeze");
    bytes32 private constant _GATHER = keccak256("Gather");
    bytes32 private constant _SLICE = keccak256("Slice");
    uint8 private constant _INT32 = 6;
    /// @dev Largest rank handled (axes sets are 256-bit masks).
    uint256 private constant _MAX_RANK = 256;

    /// @dev Where the checked output element comes from.
    struct Source {
        bool ok; // false: shapes, attributes or integer inputs inconsistent with the op
        uint256 input; // which input holds the element
        uint256 flat; // its flat row-major index there
    }

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0) _unsupported(_descriptor, n);
        Source memory s;
        if (op == _TRANSPOSE) s = _transpose(_descriptor, _inputs, _output, _outIndex);
        else if (op == _CONCAT) s = _concat(_descriptor, _inputs, _output, _outIndex);
        else if (op == _SQUEEZE || op == _UNSQUEEZE) s = _squeeze(op == _UNSQUEEZE, _descriptor, _inputs, _output, _outIndex);
        else if (op == _GATHER) s = _gather(_descriptor, _inputs, _output, _outIndex);
        else if (op == _SLICE) s = _slice(_descriptor, _inputs, _output, _outIndex);
        else _unsupported(_descriptor, n);
        if (!s.ok) return false;
        uint256 size = _itemSize(0, _inputs[0].dtype);
        uint256 px = _run(_inputs[s.input], s.input, 0, s.flat, 1, size);
        uint256 py = _outputPtr(_output, _inputs.length, _outIndex, size);
        return Float32.loadLEn(px, size) == Float32.loadLEn(py, size);
    }

    // ------------------------------------------------------------------------------- Transpose

    function _transpose(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (Source memory s_)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, 1);
        _itemSize(0, _inputs[0].dtype);
        uint64[] calldata x = _inputs[0].dims;
        uint64[] calldata o = _output.dims;
        uint256 r = x.length;
        // INVARIANT: rank within the 256-bit axis masks.
        if (r > _MAX_RANK) revert UnsupportedSize(r);
        (bool found, int256[] memory perm) = Descriptor.intsAttr(_descriptor, n, "perm");
        if (!found) {
            perm = new int256[](r);
            for (uint256 i; i < r; ++i) {
                perm[i] = int256(r - 1 - i);
            }
        }
        s_.ok = _output.dtype == _inputs[0].dtype && perm.length == r && o.length == r;
        uint256 seen;
        for (uint256 i; s_.ok && i < r; ++i) {
            int256 p = perm[i];
            s_.ok = p >= 0 && uint256(p) < r && (seen >> uint256(p)) & 1 == 0 && o[i] == x[uint256(p)];
            if (s_.ok) seen |= 1 << uint256(p);
        }
        _requireIndex(_output, _outIndex);
        if (!s_.ok) return s_;
        uint256[] memory stride = _strides(x);
        uint256 rest = _outIndex;
        for (uint256 i = r; i > 0; --i) {
            uint256 d = o[i - 1];
            s_.flat += (rest % d) * stride[uint256(perm[i - 1])];
            rest /= d;
        }
    }

    /// @dev Row-major strides of dims `x` (in elements).
    function _strides(uint64[] calldata _x) private pure returns (uint256[] memory st_) {
        st_ = new uint256[](_x.length);
        uint256 acc = 1;
        for (uint256 i = _x.length; i > 0; --i) {
            st_[i - 1] = acc;
            acc = _mulSat(acc, _x[i - 1]);
        }
    }

    // ------------------------------------------------------------------------------- Concat

    function _concat(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (Source memory s_)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, type(uint16).max);
        uint8 dt = _inputs[0].dtype;
        for (uint256 i; i < n.nIn; ++i) {
            _itemSize(i, _inputs[i].dtype);
            // INVARIANT: every input has input 0's dtype.
            if (_inputs[i].dtype != dt) revert UnsupportedDtype(i, _inputs[i].dtype);
        }
        (bool found, int256 axis) = Descriptor.optIntAttr(_descriptor, n, "axis");
        // INVARIANT: Concat names its axis (ONNX requires it).
        if (!found) revert UnsupportedAttribute("axis");
        uint64[] calldata x0 = _inputs[0].dims;
        uint64[] calldata o = _output.dims;
        int256 r = int256(x0.length);
        s_.ok = _output.dtype == dt && axis >= -r && axis < r && o.length == x0.length;
        uint256 ax = s_.ok ? uint256(axis < 0 ? axis + r : axis) : 0;
        uint256 total;
        for (uint256 i; s_.ok && i < n.nIn; ++i) {
            uint64[] calldata xi = _inputs[i].dims;
            s_.ok = xi.length == x0.length;
            for (uint256 j; s_.ok && j < xi.length; ++j) {
                s_.ok = j == ax || xi[j] == x0[j];
            }
            if (s_.ok) total += xi[ax];
        }
        for (uint256 j; s_.ok && j < o.length; ++j) {
            s_.ok = o[j] == (j == ax ? total : x0[j]);
        }
        _requireIndex(_output, _outIndex);
        if (!s_.ok) return s_;
        uint256 inner = _numelRange(o, ax + 1, o.length);
        uint256 block = o[ax] * inner;
        uint256 outer = _outIndex / block;
        uint256 p = (_outIndex % block) / inner;
        uint256 q = _outIndex % inner;
        uint256 off;
        for (uint256 i; i < n.nIn; ++i) {
            uint256 d = _inputs[i].dims[ax];
            if (p < off + d) {
                s_.input = i;
                s_.flat = (outer * d + p - off) * inner + q;
                break;
            }
            off += d;
        }
    }

    // ------------------------------------------------------------------------------- Squeeze, Unsqueeze

    function _squeeze(
        bool _unsq,
        bytes calldata _descriptor,
        Operand[] calldata _inputs,
        Operand calldata _output,
        uint256 _outIndex
    ) private pure returns (Source memory s_) {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, 2);
        _itemSize(0, _inputs[0].dtype);
        bool hasInput = n.nIn > 1 && _inputs[1].dtype != 0;
        (bool found, int256[] memory axes) = Descriptor.intsAttr(_descriptor, n, "axes");
        // INVARIANT: axes come from exactly one place (input 1 from opset 13, the attribute before);
        // Unsqueeze needs them.
        if ((hasInput && found) || (_unsq && !hasInput && !found)) revert UnsupportedAttribute("axes");
        if (hasInput) _requireDtype(_inputs, 1, INT64);
        uint64[] calldata x = _inputs[0].dims;
        uint256 k;
        if (hasInput) k = _inputs[1].dims.length == 1 ? _inputs[1].dims[0] : 0;
        else k = axes.length;
        uint256 big = x.length + (_unsq ? k : 0);
        if (big > _MAX_RANK) revert UnsupportedSize(big);
        s_.ok = _output.dtype == _inputs[0].dtype && (!hasInput || _inputs[1].dims.length == 1);
        _requireIndex(_output, _outIndex);
        if (!s_.ok) return s_;
        if (hasInput) axes = _readInts(_inputs[1], 1, k);
        s_.ok = _unsq ? _unsqueezes(x, _output.dims, axes) : _squeezes(x, _output.dims, axes);
        s_.flat = _outIndex;
    }

    /// @dev Whether `o` is Squeeze of `x` by `axes`: every size-1 dim when `axes` is empty; a
    /// repeated axis is removed once (onnxruntime accepts it); a listed dim must be 1.
    function _squeezes(uint64[] calldata _x, uint64[] calldata _o, int256[] memory _axes) private pure returns (bool) {
        int256 r = int256(_x.length);
        uint256 drop;
        for (uint256 i; i < _axes.length; ++i) {
            int256 a = _axes[i] < 0 ? _axes[i] + r : _axes[i];
            if (a < 0 || a >= r || _x[uint256(a)] != 1) return false;
            drop |= 1 << uint256(a);
        }
        uint256 j;
        for (uint256 i; i < _x.length; ++i) {
            bool gone = _axes.length > 0 ? (drop >> i) & 1 == 1 : _x[i] == 1;
            if (gone) continue;
            if (j >= _o.length || _o[j] != _x[i]) return false;
            ++j;
        }
        return j == _o.length;
    }

    /// @dev Whether `o` is Unsqueeze of `x` by `axes` (axes index the output's dims).
    function _unsqueezes(uint64[] calldata _x, uint64[] calldata _o, int256[] memory _axes) private pure returns (bool) {
        uint256 big = _x.length + _axes.length;
        if (_o.length != big) return false;
        uint256 ins;
        for (uint256 i; i < _axes.length; ++i) {
            int256 a = _axes[i] < 0 ? _axes[i] + int256(big) : _axes[i];
            if (a < 0 || a >= int256(big) || (ins >> uint256(a)) & 1 == 1) return false;
            ins |= 1 << uint256(a);
        }
        uint256 next;
        for (uint256 j; j < big; ++j) {
            uint256 want = (ins >> j) & 1 == 1 ? 1 : _x[next++];
            if (_o[j] != want) return false;
        }
        return true;
    }

    // ------------------------------------------------------------------------------- Gather

    function _gather(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (Source memory s_)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 2, 2);
        _itemSize(0, _inputs[0].dtype);
        _indexSize(_inputs, 1);
        int256 axis = Descriptor.intAttr(_descriptor, n, "axis", 0);
        uint64[] calldata x = _inputs[0].dims;
        uint64[] calldata q = _inputs[1].dims;
        uint64[] calldata o = _output.dims;
        int256 r = int256(x.length);
        s_.ok = _output.dtype == _inputs[0].dtype && axis >= -r && axis < r;
        uint256 ax = s_.ok ? uint256(axis < 0 ? axis + r : axis) : 0;
        s_.ok = s_.ok && o.length == x.length - 1 + q.length;
        for (uint256 j; s_.ok && j < o.length; ++j) {
            uint256 want = j < ax ? x[j] : j < ax + q.length ? q[j - ax] : x[j - q.length + 1];
            s_.ok = o[j] == want;
        }
        _requireIndex(_output, _outIndex);
        if (!s_.ok) return s_;
        uint256 inner = _numelRange(x, ax + 1, x.length);
        uint256 block = _numel(q) * inner;
        int256 v = _readInt(_inputs[1], 1, (_outIndex % block) / inner);
        int256 d = int256(uint256(x[ax]));
        if (v < 0) v += d;
        // INVARIANT: an index outside [-d, d) makes Gather fail: no execution gives this output.
        if (v < 0 || v >= d) {
            s_.ok = false;
            return s_;
        }
        s_.flat = ((_outIndex / block) * uint256(d) + uint256(v)) * inner + _outIndex % inner;
    }

    // ------------------------------------------------------------------------------- Slice

    /// @dev Per-axis plan of a Slice: first input index and step of each axis of the input.
    struct Plan {
        int256[] begin;
        int256[] step;
        uint256 seen; // mask of the sliced axes
    }

    function _slice(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (Source memory s_)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 3, 5);
        _noAttr(_descriptor, n, "starts");
        _noAttr(_descriptor, n, "ends");
        _noAttr(_descriptor, n, "axes");
        _itemSize(0, _inputs[0].dtype);
        for (uint256 i = 1; i < n.nIn; ++i) {
            if (_inputs[i].dtype != 0) _indexSize(_inputs, i);
        }
        uint64[] calldata x = _inputs[0].dims;
        if (x.length > _MAX_RANK) revert UnsupportedSize(x.length);
        s_.ok = _output.dtype == _inputs[0].dtype && _inputs[1].dims.length == 1;
        uint256 k = s_.ok ? _inputs[1].dims[0] : 0;
        for (uint256 i = 1; s_.ok && i < n.nIn; ++i) {
            uint64[] calldata di = _inputs[i].dims;
            s_.ok = _inputs[i].dtype == 0 || (di.length == 1 && di[0] == k);
        }
        _requireIndex(_output, _outIndex);
        if (!s_.ok) return s_;
        int256[] memory starts = _readInts(_inputs[1], 1, k);
        int256[] memory ends = _readInts(_inputs[2], 2, k);
        int256[] memory axes = n.nIn > 3 && _inputs[3].dtype != 0 ? _readInts(_inputs[3], 3, k) : _iota(k);
        int256[] memory steps = n.nIn > 4 && _inputs[4].dtype != 0 ? _readInts(_inputs[4], 4, k) : _ones(k);
        uint64[] calldata o = _output.dims;
        (bool valid, Plan memory p) = _plan(x, o, starts, ends, axes, steps);
        s_.ok = valid;
        if (!valid) return s_;
        uint256 rest = _outIndex;
        uint256 stride = 1;
        for (uint256 j = x.length; j > 0; --j) {
            uint256 i = rest % o[j - 1];
            rest /= o[j - 1];
            s_.flat += uint256(p.begin[j - 1] + int256(i) * p.step[j - 1]) * stride;
            stride *= x[j - 1];
        }
    }

    /// @dev The ONNX Slice plan; valid only if every axis is in range and sliced once, every step
    /// is non-zero and the output dims are the slice's (starts/ends clamped as the spec says).
    function _plan(
        uint64[] calldata _x,
        uint64[] calldata _o,
        int256[] memory _starts,
        int256[] memory _ends,
        int256[] memory _axes,
        int256[] memory _steps
    ) private pure returns (bool valid_, Plan memory p_) {
        uint256 r = _x.length;
        if (_o.length != r) return (false, p_);
        p_.begin = new int256[](r);
        p_.step = new int256[](r);
        for (uint256 j; j < r; ++j) {
            p_.step[j] = 1;
        }
        for (uint256 i; i < _starts.length; ++i) {
            int256 a = _axes[i] < 0 ? _axes[i] + int256(r) : _axes[i];
            int256 s = _steps[i];
            if (a < 0 || a >= int256(r) || (p_.seen >> uint256(a)) & 1 == 1 || s == 0) return (false, p_);
            uint256 ua = uint256(a);
            p_.seen |= 1 << ua;
            int256 d = int256(uint256(_x[ua]));
            (int256 st, uint256 cnt) = _bounds(_starts[i], _ends[i], s, d);
            if (_o[ua] != cnt) return (false, p_);
            p_.begin[ua] = st;
            p_.step[ua] = s;
        }
        for (uint256 j; j < r; ++j) {
            if ((p_.seen >> j) & 1 == 0 && _o[j] != _x[j]) return (false, p_);
        }
        valid_ = true;
    }

    /// @dev (first index, element count) of one sliced axis of size `d`: starts/ends plus d when
    /// negative, then clamped to [0, d] (step > 0) or [0, d - 1] / [-1, d - 1] (step < 0).
    function _bounds(int256 _start, int256 _end, int256 _s, int256 _d) private pure returns (int256 st_, uint256 n_) {
        if (_d == 0) return (0, 0);
        st_ = _start < 0 ? _start + _d : _start;
        int256 en = _end < 0 ? _end + _d : _end;
        // onnxruntime (measured): an end of INT32_MAX or INT64_MAX means "to the end" in the step's
        // direction, so a negative step reaches element 0 (the spec would give an empty slice)
        if (_end == type(int32).max || _end == type(int64).max) en = _s > 0 ? _d : int256(-1);
        if (_s > 0) {
            st_ = _clamp(st_, 0, _d);
            en = _clamp(en, 0, _d);
            if (en > st_) n_ = uint256((en - st_ + _s - 1) / _s);
        } else {
            st_ = _clamp(st_, 0, _d - 1);
            en = _clamp(en, -1, _d - 1);
            if (st_ > en) n_ = uint256((st_ - en - _s - 1) / -_s);
        }
    }

    function _clamp(int256 _v, int256 _lo, int256 _hi) private pure returns (int256) {
        return _v < _lo ? _lo : _v > _hi ? _hi : _v;
    }

    function _iota(uint256 _k) private pure returns (int256[] memory v_) {
        v_ = new int256[](_k);
        for (uint256 i; i < _k; ++i) {
            v_[i] = int256(i);
        }
    }

    function _ones(uint256 _k) private pure returns (int256[] memory v_) {
        v_ = new int256[](_k);
        for (uint256 i; i < _k; ++i) {
            v_[i] = 1;
        }
    }

    /// @dev Reverts UnsupportedAttribute when the descriptor has attribute `name` (of any type).
    function _noAttr(bytes calldata _descriptor, Descriptor.Node memory _n, string memory _name) private pure {
        (bool found,,) = Descriptor.find(_descriptor, _n, bytes(_name));
        // INVARIANT: Slice before opset 10 (starts/ends/axes attributes) is not checked.
        if (found) revert UnsupportedAttribute(_name);
    }

    // ------------------------------------------------------------------------------- integer inputs

    /// @dev Element size of an index-like input: int32 (4) or int64 (8); reverts for other dtypes.
    function _indexSize(Operand[] calldata _inputs, uint256 _index) private pure returns (uint256) {
        uint8 dt = _inputs[_index].dtype;
        if (dt == INT64) return 8;
        if (dt == _INT32) return 4;
        revert UnsupportedDtype(_index, dt);
    }

    /// @dev Elements [0, k) of an int32/int64 operand (input `index`), sign-extended.
    function _readInts(Operand calldata _op, uint256 _index, uint256 _k) private pure returns (int256[] memory v_) {
        v_ = new int256[](_k);
        if (_k == 0) return v_;
        uint256 size = _op.dtype == INT64 ? 8 : 4;
        uint256 p = _run(_op, _index, 0, 0, _k, size);
        for (uint256 i; i < _k; ++i) {
            v_[i] = _signed(Float32.loadLEn(p + size * i, size), size);
        }
    }

    /// @dev Element `i` of an int32/int64 operand (input `index`), sign-extended.
    function _readInt(Operand calldata _op, uint256 _index, uint256 _i) private pure returns (int256) {
        uint256 size = _op.dtype == INT64 ? 8 : 4;
        return _signed(Float32.loadLEn(_run(_op, _index, 0, _i, 1, size), size), size);
    }

    function _signed(uint256 _v, uint256 _size) private pure returns (int256) {
        return _size == 8 ? int256(int64(uint64(_v))) : int256(int32(uint32(_v)));
    }
}
