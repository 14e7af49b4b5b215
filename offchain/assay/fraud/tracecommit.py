"""Trace commitments: every value of one execution in its two layouts, and the trace root over them.

docs/fraud-proofs.md ("Execution mode and trace"): value ``v`` (ids as in docs/commitments.md §4:
graph inputs, initializers, node outputs) is committed twice. Layout 0 is the value as it is
(row-major); layout 1 is the value with its last two axes swapped (``np.swapaxes(x, -1, -2)``, made
contiguous), which is the same tensor as layout 0 for rank < 2. The trace root is
``list_root(0x07, [r0(0), r1(0), r0(1), r1(1), ...])``: item ``2v + layout`` is the tensor root of
value ``v`` in that layout, ``2·n_values`` items in all. That is what the worker posts with
``DisputeGame.postTrace`` and what every opening of a fraud proof is checked against.

This module is pure: it computes roots and proofs from arrays, never touches the chain, the disk or
the network, and never modifies an array it is given. Proof material (the Merkle trees of a value's
data) is built lazily, one value at a time, so a large trace costs its roots, not its trees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..commitments import codec
from ..commitments.merkle import MerkleTree
from ..commitments.roots import TRACE_TAG, GraphLayout, TensorCommitment, list_root, tensor_root
from ..errors import AssayError

LAYOUTS = (0, 1)


class TraceError(AssayError, ValueError):
    """A trace cannot be committed (a value missing, an unsupported dtype, a bad value id or layout)."""


def _check_layout(layout: int) -> None:
    if layout not in LAYOUTS:
        raise TraceError(f"layout {layout!r} does not exist", "use 0 (row-major) or 1 (last two axes swapped)")


def layout_array(arr, layout: int) -> np.ndarray:
    """The value in ``layout``: itself (canonical, row-major) for 0; its last two axes swapped and
    made contiguous for 1 (itself for rank < 2)."""
    _check_layout(layout)
    try:
        a = codec.canonical_array(arr)
    except codec.UnsupportedDtype as e:
        raise TraceError(
            f"a value of dtype {np.asarray(arr).dtype} has no canonical encoding",
            "models with such values (strings, sub-byte types) are verification class NONE: disputes go to the arbiter",
        ) from e
    if layout == 0 or a.ndim < 2:
        return a
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def layout_shape(shape: Sequence[int], layout: int) -> tuple[int, ...]:
    """The dims of a value of logical dims ``shape`` in ``layout`` (the dims its tensor root's header holds)."""
    _check_layout(layout)
    s = tuple(int(d) for d in shape)
    if layout == 1 and len(s) >= 2:
        return s[:-2] + (s[-1], s[-2])
    return s


def value_roots(arr) -> tuple[bytes, bytes]:
    """(layout-0 root, layout-1 root) of one value; one hash pass only for rank < 2."""
    a0 = layout_array(arr, 0)
    r0 = tensor_root(a0)
    return r0, (r0 if a0.ndim < 2 else tensor_root(layout_array(a0, 1)))


def trace_items(values: Sequence) -> list[bytes]:
    """The ``2·n_values`` trace items of values listed by value id: [r0(0), r1(0), r0(1), r1(1), ...]."""
    items: list[bytes] = []
    for arr in values:
        items.extend(value_roots(arr))
    return items


def trace_root(values: Sequence) -> bytes:
    """list_root(0x07, trace_items(values))."""
    return list_root(TRACE_TAG, trace_items(values))


def initializer_array(t) -> np.ndarray:
    """An onnx.TensorProto initializer as the array the weights root commits (as roots.onnx_tensor_root does)."""
    from onnx import numpy_helper

    if t.data_type not in codec.DTYPES:
        raise TraceError(
            f"initializer {t.name!r} has ONNX dtype {t.data_type}, which has no canonical encoding",
            "models with such initializers are verification class NONE: disputes go to the arbiter",
        )
    arr = numpy_helper.to_array(t)
    want = codec.DTYPES[t.data_type].np
    return arr if arr.dtype == want.newbyteorder("=") else arr.astype(want)


def execution_values(
    layout: GraphLayout, inputs: Mapping[str, object], outputs: Mapping[str, object]
) -> list[np.ndarray]:
    """Every value of one execution by value id: graph inputs from ``inputs`` (the feed), initializers
    from the model, node outputs from ``outputs`` (``InferenceRunner.run(..., trace=True).trace``,
    which holds every node output, graph outputs included)."""
    out: list[np.ndarray] = []
    n_in = len(layout.inputs)
    n_init = len(layout.initializers)
    missing = []
    for vid, name in enumerate(layout.values):
        if vid < n_in:
            src = inputs
        elif vid < n_in + n_init:
            out.append(initializer_array(layout.initializers[vid - n_in]))
            continue
        else:
            src = outputs
        if name not in src:
            missing.append(name)
            continue
        out.append(np.asarray(src[name]))
    if missing:
        raise TraceError(
            f"the execution lacks {len(missing)} of the graph's values, e.g. {missing[:3]}",
            "pass the feed as `inputs` and InferenceRunner.run(..., trace=True).trace as `outputs`",
        )
    return out


@dataclass
class TraceCommitment:
    """The committed trace of one execution: values by id, the trace items and root, and (lazily)
    the Merkle trees that proofs are cut from."""

    values: list[np.ndarray]
    items: list[bytes]
    layout1: dict[int, np.ndarray] = field(default_factory=dict)  # explicit layout-1 arrays (else derived)
    _tensors: dict[tuple[int, int], TensorCommitment] = field(default_factory=dict, repr=False)
    _list: MerkleTree | None = field(default=None, repr=False)

    @classmethod
    def of(cls, values: Sequence) -> TraceCommitment:
        """Commit values listed by value id (arrays are not copied; do not modify them afterwards)."""
        vals = [layout_array(v, 0) for v in values]
        return cls(vals, trace_items(vals))

    @classmethod
    def of_layouts(cls, pairs: Sequence[tuple[object, object]]) -> TraceCommitment:
        """Commit explicit (layout 0, layout 1) arrays per value id, as a worker that computed layout 1
        itself committed them, right or wrong (layout 1 is taken as given: its dims are the header's)."""
        vals = [layout_array(a0, 0) for a0, _ in pairs]
        l1 = {v: layout_array(a1, 0) for v, (_, a1) in enumerate(pairs)}
        items: list[bytes] = []
        for a0, a1 in zip(vals, l1.values()):
            items += [tensor_root(a0), tensor_root(a1)]
        return cls(vals, items, l1)

    @classmethod
    def of_execution(
        cls, layout: GraphLayout, inputs: Mapping[str, object], outputs: Mapping[str, object]
    ) -> TraceCommitment:
        """Commit one execution of the graph ``layout`` (see :func:`execution_values`)."""
        return cls.of(execution_values(layout, inputs, outputs))

    @property
    def n_values(self) -> int:
        return len(self.values)

    @property
    def root(self) -> bytes:
        """The trace root to post."""
        return list_root(TRACE_TAG, self.items)

    def _check_value(self, value_id: int) -> None:
        if not 0 <= value_id < self.n_values:
            raise TraceError(
                f"value id {value_id} out of range: the trace has {self.n_values} values",
                "value ids are numbered as in docs/commitments.md §4",
            )

    def item_index(self, value_id: int, layout: int) -> int:
        """Trace item of a value in a layout: 2·value_id + layout."""
        self._check_value(value_id)
        _check_layout(layout)
        return 2 * value_id + layout

    def item(self, value_id: int, layout: int) -> bytes:
        """The tensor root of a value in a layout (as committed in the trace)."""
        return self.items[self.item_index(value_id, layout)]

    def item_proof(self, value_id: int, layout: int) -> list[bytes]:
        """Siblings proving ``item(value_id, layout)`` against :attr:`root`."""
        index = self.item_index(value_id, layout)
        if self._list is None:
            self._list = MerkleTree(self.items)
        return self._list.proof(index)

    def tensor(self, value_id: int, layout: int) -> TensorCommitment:
        """The value in a layout with its data tree (built on first use, then kept)."""
        key = (value_id, layout)
        if key not in self._tensors:
            self._check_value(value_id)
            if layout == 1 and value_id in self.layout1:
                arr = self.layout1[value_id]
            else:
                arr = layout_array(self.values[value_id], layout)
            tc = TensorCommitment.of(arr)
            if tc.root != self.item(value_id, layout):
                raise TraceError(
                    f"value {value_id} changed after it was committed (layout {layout} root differs)",
                    "do not modify the arrays given to TraceCommitment.of",
                )
            self._tensors[key] = tc
        return self._tensors[key]
