// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier, Operand} from "../interfaces/IOpVerifier.sol";
import {Descriptor} from "../libraries/Descriptor.sol";
import {Float32} from "../libraries/Float32.sol";
import {OpVerifierBase} from "./OpVerifierBase.sol";
import {ProductSumRule} from "./ProductSumRule.sol";

/// @title ElementwiseVerifier
/// @notice One-step checks of elementwise and data-movement ops:
/// - Add, Sub, Mul (float32, ONNX multidirectional broadcasting): one correctly rounded operation,
///   accepted by ProductSumRule as a sum of n = 2 products (a·1 ± b·1, B = |exact|) or one
///   product (a·b, B = |a·b|) with m = 1: |ŷ - y| ≤ γ_1·|y| + 2·D + (tiny), D the part a
///   denormals-are-zero executor may drop (docs/fraud-bounds.md);
/// - Relu (float32): exact: ŷ = x for x > 0, ±0 for x ≤ 0, NaN for NaN (a positive subnormal may
///   also give ±0);
/// - ArgMax over the last axis (float32 → int64): an index of the largest value (exact, DAZ ties);
/// - Identity, Reshape, Flatten, Cast to the same dtype (any dtype with an encoding): output
///   element o is input element o, bit for bit; Reshape's target shape is recomputed from its
///   shape input (read whole).
contract ElementwiseVerifier is OpVerifierBase {
    bytes32 private constant _ADD = keccak256("Add");
    bytes32 private constant _SUB = keccak256("Sub");
    bytes32 private constant _MUL = keccak256("Mul");
    bytes32 private constant _RELU = keccak256("Relu");
    bytes32 private constant _IDENTITY = keccak256("Identity");
    bytes32 private constant _RESHAPE = keccak256("Reshape");
    bytes32 private constant _FLATTEN = keccak256("Flatten");
    bytes32 private constant _CAST = keccak256("Cast");
    bytes32 private constant _ARGMAX = keccak256("ArgMax");
    uint256 private constant _MAX_ROW = 1 << 20;

    /// @inheritdoc IOpVerifier
    function check(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        external
        pure
        returns (bool ok_)
    {
        Descriptor.Node memory n = Descriptor.parse(_descriptor);
        bytes32 op = keccak256(Descriptor.opType(_descriptor, n));
        if (n.domainLen != 0) _unsupported(_descriptor, n);
        if (op == _ADD || op == _SUB || op == _MUL) return _binary(op, _descriptor, _inputs, _output, _outIndex);
        if (op == _RELU) return _relu(_descriptor, _inputs, _output, _outIndex);
        if (op == _IDENTITY || op == _FLATTEN) return _move(op, _descriptor, _inputs, _output, _outIndex);
        if (op == _RESHAPE) return _reshape(_descriptor, _inputs, _output, _outIndex);
        if (op == _CAST) return _cast(_descriptor, _inputs, _output, _outIndex);
        if (op == _ARGMAX) return _argMax(_descriptor, _inputs, _output, _outIndex);
        _unsupported(_descriptor, n);
    }

    function _binary(
        bytes32 _op,
        bytes calldata _descriptor,
        Operand[] calldata _inputs,
        Operand calldata _output,
        uint256 _outIndex
    ) private pure returns (bool) {
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
        uint256 y = Float32.loadLE(_outputPtr(_output, 2, _outIndex, 4));
        if (_op == _MUL) return _rule(x, z, 0, 0, 1, y);
        return _rule(x, Float32.ONE, z, _op == _SUB ? Float32.NEG_ONE : Float32.ONE, 2, y);
    }

    /// @dev ProductSumRule over (x0·z0) or (x0·z0 + x1·z1), m = 1.
    function _rule(uint256 _x0, uint256 _z0, uint256 _x1, uint256 _z1, uint256 _n, uint256 _y)
        private
        pure
        returns (bool)
    {
        (uint256 t, bool nf) = ProductSumRule.scanPair(_x0, _z0);
        if (_n == 2) {
            (uint256 t1, bool nf1) = ProductSumRule.scanPair(_x1, _z1);
            if (t1 > t) t = t1;
            nf = nf || nf1;
        }
        if (nf) return Float32.isNonFinite(_y);
        int256 g = ProductSumRule.grid(t);
        ProductSumRule.Sums memory acc;
        ProductSumRule.addPair(acc, _x0, _z0, g);
        if (_n == 2) ProductSumRule.addPair(acc, _x1, _z1, g);
        return ProductSumRule.decide(acc, _n, 1, g, _y, _n == 2);
    }

    function _relu(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        _begin(_descriptor, _inputs, 1, 1);
        _requireDtype(_inputs, 0, FLOAT);
        bool consistent = _output.dtype == FLOAT && _sameDims(_output.dims, _inputs[0].dims);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 x = Float32.loadLE(_run(_inputs[0], 0, 0, _outIndex, 1, 4));
        uint256 y = Float32.loadLE(_outputPtr(_output, 1, _outIndex, 4));
        if (Float32.isNaN(x)) return Float32.isNaN(y);
        if (x >> 31 == 0 && !Float32.isZero(x)) {
            // positive: exact copy; a denormals-are-zero executor may give ±0 for a subnormal
            return y == x || (Float32.isZeroOrSubnormal(x) && Float32.isZero(y));
        }
        return Float32.isZero(y); // x ≤ 0 (±0, negative, -Inf)
    }

    function _move(
        bytes32 _op,
        bytes calldata _descriptor,
        Operand[] calldata _inputs,
        Operand calldata _output,
        uint256 _outIndex
    ) private pure returns (bool) {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, 1);
        uint256 size = _itemSize(0, _inputs[0].dtype);
        uint64[] calldata x = _inputs[0].dims;
        uint64[] calldata o = _output.dims;
        bool consistent = _output.dtype == _inputs[0].dtype;
        if (_op == _FLATTEN) {
            int256 axis = Descriptor.intAttr(_descriptor, n, "axis", 1);
            int256 r = int256(x.length);
            if (consistent && axis >= -r && axis <= r) {
                uint256 ax = uint256(axis < 0 ? axis + r : axis);
                consistent = o.length == 2 && o[0] == _numelRange(x, 0, ax) && o[1] == _numelRange(x, ax, x.length);
            } else {
                consistent = false;
            }
        } else {
            consistent = consistent && _sameDims(o, x);
        }
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        return _sameElement(_inputs, _output, _outIndex, size);
    }

    /// @dev Whether output element `outIndex` has the bytes of input 0's element `outIndex`.
    function _sameElement(Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex, uint256 _size)
        private
        pure
        returns (bool)
    {
        uint256 px = _run(_inputs[0], 0, 0, _outIndex, 1, _size);
        uint256 py = _outputPtr(_output, _inputs.length, _outIndex, _size);
        return Float32.loadLEn(px, _size) == Float32.loadLEn(py, _size);
    }

    /// @dev ArgMax over the last axis: the int64 output must index an element with the row's largest
    /// value as a denormals-are-zero comparison sees it (any of tied maxima); any index when the row
    /// holds a NaN (the order of comparisons decides).
    function _argMax(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, 1);
        _requireDtype(_inputs, 0, FLOAT);
        int256 axis = Descriptor.intAttr(_descriptor, n, "axis", 0);
        int256 keep = Descriptor.intAttr(_descriptor, n, "keepdims", 1);
        int256 last = Descriptor.intAttr(_descriptor, n, "select_last_index", 0);
        if (keep != 0 && keep != 1) revert UnsupportedAttribute("keepdims");
        if (last != 0 && last != 1) revert UnsupportedAttribute("select_last_index");
        uint64[] calldata x = _inputs[0].dims;
        int256 r = int256(x.length);
        // INVARIANT: the reduced axis is the last one (a contiguous row).
        if (r == 0 || axis < -r || axis >= r || (axis < 0 ? axis + r : axis) != r - 1) revert UnsupportedAttribute("axis");
        uint256 len = x[x.length - 1];
        uint64[] calldata o = _output.dims;
        bool consistent = _output.dtype == INT64 && len > 0 && o.length == x.length - 1 + uint256(keep);
        for (uint256 i; consistent && i + 1 < x.length; ++i) {
            consistent = o[i] == x[i];
        }
        if (consistent && keep == 1) consistent = o[o.length - 1] == 1;
        if (consistent && len > _MAX_ROW) revert UnsupportedSize(len);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 p = _run(_inputs[0], 0, 0, _outIndex * len, len, 4);
        int256 y = int256(int64(uint64(Float32.loadLEn(_outputPtr(_output, 1, _outIndex, 8), 8))));
        if (y < 0 || uint256(y) >= len) return false;
        bool nan;
        int256 best = type(int256).min;
        for (uint256 i; i < len; ++i) {
            uint256 v = Float32.loadLE(p + 4 * i);
            if (Float32.isNaN(v)) {
                nan = true;
                break;
            }
            int256 k = Float32.dazKey(v);
            if (k > best) best = k;
        }
        if (nan) return true;
        return Float32.dazKey(Float32.loadLE(p + 4 * uint256(y))) == best;
    }

    /// @dev Cast to the input's own dtype: a bit-exact copy (other casts are not checked).
    function _cast(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 1, 1);
        (bool found, int256 to) = Descriptor.optIntAttr(_descriptor, n, "to");
        uint256 size = _itemSize(0, _inputs[0].dtype);
        if (!found || to != int256(uint256(_inputs[0].dtype))) revert UnsupportedAttribute("to");
        bool consistent = _output.dtype == _inputs[0].dtype && _sameDims(_output.dims, _inputs[0].dims);
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        return _sameElement(_inputs, _output, _outIndex, size);
    }

    function _reshape(bytes calldata _descriptor, Operand[] calldata _inputs, Operand calldata _output, uint256 _outIndex)
        private
        pure
        returns (bool)
    {
        Descriptor.Node memory n = _begin(_descriptor, _inputs, 2, 2);
        uint256 size = _itemSize(0, _inputs[0].dtype);
        _requireDtype(_inputs, 1, INT64);
        int256 allowZero = Descriptor.intAttr(_descriptor, n, "allowzero", 0);
        if (allowZero != 0 && allowZero != 1) revert UnsupportedAttribute("allowzero");
        uint64[] calldata x = _inputs[0].dims;
        uint64[] calldata o = _output.dims;
        bool consistent = _output.dtype == _inputs[0].dtype && _inputs[1].dims.length == 1;
        _requireIndex(_output, _outIndex);
        if (!consistent) return false;
        uint256 rank = _inputs[1].dims[0];
        if (rank != o.length) {
            // the target has one dim per shape entry: a different output rank is inconsistent,
            // but the shape input must still be opened (the Python twin reads it first)
            if (rank > 0) _run(_inputs[1], 1, 0, 0, rank, 8);
            return false;
        }
        if (!_reshapeMatches(_inputs[1], rank, x, o, allowZero == 1)) return false;
        return _sameElement(_inputs, _output, _outIndex, size);
    }

    /// @dev Whether the ONNX Reshape of dims `x` by the shape values in `shapeOp` gives `o`
    /// (same length as the shape values): -1 once infers, 0 copies x's dim unless allowzero.
    function _reshapeMatches(Operand calldata _shapeOp, uint256 _rank, uint64[] calldata _x, uint64[] calldata _o, bool _allowZero)
        private
        pure
        returns (bool)
    {
        uint256 p = _rank > 0 ? _run(_shapeOp, 1, 0, 0, _rank, 8) : 0;
        uint256 infer = type(uint256).max;
        uint256 known = 1; // product of the non-inferred target dims (saturating)
        for (uint256 i; i < _rank; ++i) {
            int256 s = int256(int64(uint64(Float32.loadLEn(p + 8 * i, 8))));
            uint256 d;
            if (s == -1) {
                if (infer != type(uint256).max) return false;
                infer = i;
                continue;
            } else if (s == 0 && !_allowZero) {
                if (i >= _x.length) return false;
                d = _x[i];
            } else if (s < 0) {
                return false;
            } else {
                d = uint256(s);
            }
            if (_o[i] != d) return false;
            known = _mulSat(known, d);
        }
        uint256 total = _numel(_x);
        if (total == type(uint256).max || known == type(uint256).max) return false;
        if (infer != type(uint256).max) {
            if (known == 0 || total % known != 0) return false;
            return _o[infer] == total / known;
        }
        return known == total;
    }
}
