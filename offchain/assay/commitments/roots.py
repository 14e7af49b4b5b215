"""Roots that Assay commits to: tensor, input/output (io), graph, weights and trace roots.

Every root is a sha256 with its own one-byte domain tag, so no root of one kind can be passed off as
another (docs/commitments.md lists the byte layouts):

* tensor root  = sha256(0x02 || dtype u8 || rank u8 || dims u64 BE... || data Merkle root)
* io root      = sha256(0x03 || count u32 BE || (name_len u16 BE || name || tensor root)...)
* graph root   = sha256(0x05 || count u64 BE || Merkle root of sha256(0x04 || descriptor)...)
  over [graph header descriptor, node 0 descriptor, node 1 descriptor, ...]
* weights root = sha256(0x06 || count u64 BE || Merkle root of the initializers' tensor roots)
* trace root   = sha256(0x07 || count u64 BE || Merkle root of every value's tensor root, by value id)

Value ids number the values of a graph: graph inputs (those without an initializer), then the
initializers, then each node's non-empty outputs, in graph order. Node descriptors name their
inputs and outputs by value id, so a trace leaf, a weights leaf and a descriptor line up by index.

Pure functions only: this module reads an ONNX model already in memory and never runs it, never
touches the network, the chain or the disk.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import AssayError
from . import codec
from .merkle import LEAF_SIZE, MerkleTree, ProofError, chunk_span, data_root, leaf_count, merkle_root
from .merkle import hash_leaf, root_from_range_proof

TENSOR_TAG = b"\x02"
IO_TAG = b"\x03"
GRAPH_LEAF_TAG = b"\x04"
GRAPH_TAG = b"\x05"
WEIGHTS_TAG = b"\x06"
TRACE_TAG = b"\x07"
OPAQUE_TAG = b"\x08"

EMPTY_LIST_TREE = b"\x00" * 32
"""Tree root used for a list of zero items (the count, 0, is hashed in next to it)."""

ABSENT = 0xFFFFFFFF
"""Value id written for an omitted optional node input or output (empty name in ONNX)."""

HEADER_KIND = 0x00
NODE_KIND = 0x01


def _sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


# ---------------------------------------------------------------------------------------------
# Tensors
# ---------------------------------------------------------------------------------------------


def header_root(code: int, shape: Sequence[int], data_root_: bytes) -> bytes:
    """Tensor root from its parts: sha256(0x02 || header || data root)."""
    return _sha(TENSOR_TAG, codec.encode_header(code, shape), data_root_)


def tensor_root(arr) -> bytes:
    """Tensor root of an array (dtype and shape bound in, data little-endian row-major)."""
    a = codec.canonical_array(arr)
    return header_root(codec.dtype_code(a.dtype), a.shape, data_root(a.reshape(-1).view(np.uint8)))


def tensor_root_of_encoding(buf: bytes) -> bytes:
    """Tensor root of one canonical tensor encoding (header || data)."""
    return tensor_root(codec.decode_tensor(buf))


def _nbytes(code: int, shape: Sequence[int]) -> int:
    n = codec.dtype_of(code).itemsize
    for d in shape:
        n *= int(d)
    return n


def element_location(code: int, shape: Sequence[int], flat_index: int) -> tuple[int, int]:
    """(leaf index, byte offset in the leaf) of element ``flat_index`` (row-major) of a tensor."""
    size = codec.dtype_of(code).itemsize
    numel = _nbytes(code, shape) // size
    if not 0 <= flat_index < numel:
        raise ProofError(f"element {flat_index} out of range: the tensor has {numel} elements", "index the flat data")
    return divmod(flat_index * size, LEAF_SIZE)


@dataclass
class TensorCommitment:
    """One tensor with its tree, for roots and proofs (chunks, leaf proofs, range proofs)."""

    code: int
    shape: tuple[int, ...]
    data: bytes
    tree: MerkleTree = field(repr=False)

    @classmethod
    def of(cls, arr) -> TensorCommitment:
        a = codec.canonical_array(arr)
        data = a.tobytes()
        return cls(codec.dtype_code(a.dtype), tuple(a.shape), data, MerkleTree.of_data(data))

    @property
    def root(self) -> bytes:
        return header_root(self.code, self.shape, self.tree.root)

    @property
    def leaf_count(self) -> int:
        return self.tree.count

    def chunk(self, leaf: int) -> bytes:
        s, e = chunk_span(leaf, len(self.data))
        return self.data[s:e]

    def chunks(self, first: int, end: int) -> bytes:
        """Concatenated chunks of leaves [first, end)."""
        s, _ = chunk_span(first, len(self.data))
        _, e = chunk_span(end - 1, len(self.data))
        return self.data[s:e]

    def proof(self, leaf: int) -> list[bytes]:
        return self.tree.proof(leaf)

    def range_proof(self, first: int, end: int) -> list[bytes]:
        return self.tree.range_proof(first, end)

    def element_location(self, flat_index: int) -> tuple[int, int]:
        return element_location(self.code, self.shape, flat_index)


def verify_chunk_range(
    root: bytes, code: int, shape: Sequence[int], first: int, data: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``data`` is exactly the bytes of leaves [first, ...) of the tensor with this root,
    dtype and shape. The run's end is implied by ``len(data)`` (the twin of the Solidity
    ``verifyChunkRange``)."""
    try:
        nbytes = _nbytes(code, shape)
    except codec.UnsupportedDtype:
        return False
    count = leaf_count(nbytes)
    end = first + max(1, -(-len(data) // LEAF_SIZE))
    if not 0 <= first < end <= count:
        return False
    if len(data) != min(end * LEAF_SIZE, nbytes) - first * LEAF_SIZE:
        return False
    run = [hash_leaf(data[i : i + LEAF_SIZE]) for i in range(0, max(len(data), 1), LEAF_SIZE)]
    try:
        return header_root(code, shape, root_from_range_proof(run, first, count, proof)) == root
    except ProofError:
        return False


def verify_chunk(root: bytes, code: int, shape: Sequence[int], leaf: int, chunk: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``chunk`` is leaf ``leaf`` of the tensor with this root, dtype and shape."""
    try:
        nbytes = _nbytes(code, shape)
    except codec.UnsupportedDtype:
        return False
    if not 0 <= leaf < leaf_count(nbytes):
        return False
    s, e = chunk_span(leaf, nbytes)
    if len(chunk) != e - s:
        return False
    return verify_chunk_range(root, code, shape, leaf, chunk, proof)


# ---------------------------------------------------------------------------------------------
# Input / output roots
# ---------------------------------------------------------------------------------------------


def _str16(s: str | bytes, what: str) -> bytes:
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if len(b) > 0xFFFF:
        raise codec.CodecError(f"{what} of {len(b)} bytes is longer than 65535", "use a shorter name")
    return struct.pack(">H", len(b)) + b


def io_root(pairs: Iterable[tuple[str, bytes]]) -> bytes:
    """sha256(0x03 || count u32 BE || (name_len u16 BE || name UTF-8 || tensor root)...) in the given
    order (the graph's input or output order)."""
    pairs = list(pairs)
    parts = [IO_TAG, struct.pack(">I", len(pairs))]
    seen: set[str] = set()
    for name, root in pairs:
        if not name or name in seen:
            raise codec.CodecError(f"io name {name!r} is empty or repeated", "name each graph input/output once")
        seen.add(name)
        if len(root) != 32:
            raise codec.CodecError(
                f"tensor root of {name!r} has {len(root)} bytes, not 32", "pass the bytes of tensor_root(...)"
            )
        parts += [_str16(name, "io name"), bytes(root)]
    return _sha(*parts)


def io_root_of(tensors: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """io root of named arrays (in order)."""
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    return io_root((name, tensor_root(arr)) for name, arr in items)


def io_root_of_container(buf: bytes) -> bytes:
    """io root of a canonical tensor container (the inline input / output bytes of a job)."""
    return io_root_of(codec.decode_tensors(buf))


# ---------------------------------------------------------------------------------------------
# Lists: graph, weights, trace
# ---------------------------------------------------------------------------------------------


def list_root(tag: bytes, items: Sequence[bytes]) -> bytes:
    """sha256(tag || count u64 BE || Merkle root of the 32-byte items), zero tree root when empty."""
    tree = merkle_root(list(items)) if items else EMPTY_LIST_TREE
    return _sha(tag, struct.pack(">Q", len(items)), tree)


def list_proof(items: Sequence[bytes], index: int) -> list[bytes]:
    """Siblings proving ``items[index]`` in a list root."""
    return MerkleTree(list(items)).proof(index)


def verify_list_item(root: bytes, tag: bytes, count: int, index: int, item: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``item`` is entry ``index`` of the ``count``-item list with this root and tag."""
    try:
        tree = root_from_range_proof([item], index, count, proof)
    except ProofError:
        return False
    return _sha(tag, struct.pack(">Q", count), tree) == root


def weights_root_of(initializer_roots: Sequence[bytes]) -> bytes:
    return list_root(WEIGHTS_TAG, initializer_roots)


def trace_root(value_roots: Sequence[bytes]) -> bytes:
    """Trace root over the tensor roots of every value of one execution, in value-id order."""
    return list_root(TRACE_TAG, value_roots)


# ---------------------------------------------------------------------------------------------
# ONNX graphs
# ---------------------------------------------------------------------------------------------


def _invalid(msg: str, hint: str):
    from ..models import InvalidModel

    return InvalidModel(msg, hint)


def opaque_root(proto) -> bytes:
    """sha256(0x08 || deterministic protobuf bytes): a commitment no verifier can look inside, used
    for subgraphs, sparse tensors, type protos and tensors with no canonical dtype (strings)."""
    return _sha(OPAQUE_TAG, proto.SerializeToString(deterministic=True))


def onnx_tensor_root(t) -> bytes:
    """Tensor root of an ONNX TensorProto (opaque root when its dtype has no canonical encoding)."""
    from onnx import TensorProto, numpy_helper

    if t.data_location == TensorProto.EXTERNAL:
        raise _invalid(
            f"tensor {t.name!r} keeps its data in an external file",
            "embed the data in the model (onnx.save with save_as_external_data=False)",
        )
    if t.data_type not in codec.DTYPES:
        return opaque_root(t)
    arr = numpy_helper.to_array(t)
    if arr.dtype != codec.DTYPES[t.data_type].np.newbyteorder("="):
        arr = arr.astype(codec.DTYPES[t.data_type].np)
    return tensor_root(arr)


def _normalise_domain(d: str) -> str:
    return "" if d == "ai.onnx" else d


def _attr_value(a) -> bytes:
    from onnx import AttributeProto as A

    t = a.type
    if t == A.FLOAT:
        return struct.pack(">f", a.f)
    if t == A.INT:
        return struct.pack(">q", a.i)
    if t == A.STRING:
        return struct.pack(">I", len(a.s)) + a.s
    if t == A.TENSOR:
        return onnx_tensor_root(a.t)
    if t == A.GRAPH:
        return opaque_root(a.g)
    if t == A.SPARSE_TENSOR:
        return opaque_root(a.sparse_tensor)
    if t == A.TYPE_PROTO:
        return opaque_root(a.tp)
    if t == A.FLOATS:
        return struct.pack(f">I{len(a.floats)}f", len(a.floats), *a.floats)
    if t == A.INTS:
        return struct.pack(f">I{len(a.ints)}q", len(a.ints), *a.ints)
    if t == A.STRINGS:
        return struct.pack(">I", len(a.strings)) + b"".join(struct.pack(">I", len(s)) + s for s in a.strings)
    many = {A.TENSORS: (a.tensors, onnx_tensor_root), A.GRAPHS: (a.graphs, opaque_root),
            A.SPARSE_TENSORS: (a.sparse_tensors, opaque_root), A.TYPE_PROTOS: (a.type_protos, opaque_root)}
    if t in many:
        seq, fn = many[t]
        return struct.pack(">I", len(seq)) + b"".join(fn(x) for x in seq)
    raise _invalid(
        f"attribute {a.name!r} has no type (type code {t})", "re-export the model with a current ONNX version"
    )


def attribute_bytes(a) -> bytes:
    """Canonical attribute: name (u16 len || UTF-8) || type u8 (AttributeProto.AttributeType) || value."""
    if a.ref_attr_name:
        raise _invalid(f"attribute {a.name!r} refers to a function attribute", "inline functions before registering")
    return _str16(a.name, "attribute name") + bytes([a.type]) + _attr_value(a)


@dataclass
class GraphLayout:
    """The canonical view of an ONNX graph that the graph root commits to."""

    values: list[str]  # value names, indexed by value id
    inputs: list[str]  # graph inputs that are not initializers (value ids 0..)
    initializers: list  # onnx.TensorProto, value ids len(inputs)..
    outputs: list[tuple[str, int]]  # graph outputs: (name, value id)
    opsets: list[tuple[str, int]]  # (domain, version), sorted by domain
    header: bytes  # graph header descriptor (graph leaf 0)
    descriptors: list[bytes]  # node descriptors (graph leaf k + 1 for node k)
    value_id: dict[str, int] = field(repr=False)

    @property
    def leaves(self) -> list[bytes]:
        """Leaf hashes of the graph tree: sha256(0x04 || descriptor), header first."""
        return [_sha(GRAPH_LEAF_TAG, d) for d in [self.header, *self.descriptors]]

    @property
    def root(self) -> bytes:
        return list_root(GRAPH_TAG, self.leaves)


def graph_layout(model) -> GraphLayout:
    """Value ids and canonical descriptors of ``model`` (an onnx.ModelProto)."""
    g = model.graph
    if len(g.sparse_initializer):
        raise _invalid("the graph has sparse initializers", "convert them to dense initializers before registering")
    init_names = [t.name for t in g.initializer]
    if len(set(init_names)) != len(init_names):
        raise _invalid("two initializers share a name", "give every initializer a distinct name")
    init_set = set(init_names)
    inputs = [i.name for i in g.input if i.name not in init_set]
    values: list[str] = []
    vid: dict[str, int] = {}

    def define(name: str, what: str) -> int:
        if name in vid:
            raise _invalid(f"value {name!r} is defined twice ({what})", "each value must have exactly one producer")
        vid[name] = len(values)
        values.append(name)
        return vid[name]

    for n in inputs:
        define(n, "graph input")
    for n in init_names:
        define(n, "initializer")

    def ref(name: str, node_desc: str) -> int:
        if name == "":
            return ABSENT
        if name not in vid:
            raise _invalid(f"{node_desc} reads {name!r} before any node produces it", "topologically sort the graph")
        return vid[name]

    descriptors = []
    for k, node in enumerate(g.node):
        desc = f"node {k} ({node.op_type} {node.name!r})"
        ins = [ref(n, desc) for n in node.input]
        outs = [ABSENT if n == "" else define(n, desc) for n in node.output]
        attrs = sorted(node.attribute, key=lambda a: a.name.encode("utf-8"))
        if len(ins) > 0xFFFF or len(outs) > 0xFFFF or len(attrs) > 0xFFFF:
            raise _invalid(f"{desc} has more than 65535 inputs, outputs or attributes", "split the node")
        descriptors.append(
            b"".join(
                [
                    bytes([NODE_KIND]),
                    _str16(_normalise_domain(node.domain), "domain"),
                    _str16(node.op_type, "op type"),
                    struct.pack(f">H{len(ins)}I", len(ins), *ins),
                    struct.pack(f">H{len(outs)}I", len(outs), *outs),
                    struct.pack(">H", len(attrs)),
                    *(attribute_bytes(a) for a in attrs),
                ]
            )
        )
    outputs = []
    for o in g.output:
        if o.name not in vid:
            raise _invalid(f"graph output {o.name!r} is never produced", "fix the graph outputs")
        outputs.append((o.name, vid[o.name]))
    opsets: dict[str, int] = {}
    for op in model.opset_import:
        d = _normalise_domain(op.domain)
        if d in opsets and opsets[d] != op.version:
            raise _invalid(f"opset domain {d!r} imported twice", "import each opset domain once")
        opsets[d] = op.version
    opset_list = sorted(opsets.items(), key=lambda kv: kv[0].encode("utf-8"))
    header = b"".join(
        [
            bytes([HEADER_KIND]),
            struct.pack(">IIIII", len(inputs), len(init_names), len(g.node), len(values), len(outputs)),
            struct.pack(">H", len(opset_list)),
            *(_str16(d, "domain") + struct.pack(">Q", v) for d, v in opset_list),
            *(_str16(n, "input name") for n in inputs),
            *(_str16(n, "output name") + struct.pack(">I", i) for n, i in outputs),
        ]
    )
    return GraphLayout(values, inputs, list(g.initializer), outputs, opset_list, header, descriptors, vid)


def graph_root(model) -> bytes:
    """Graph root of an onnx.ModelProto."""
    return graph_layout(model).root


def initializer_roots(model) -> list[bytes]:
    """Tensor roots of the initializers, in graph order (the weights tree's leaves)."""
    return [onnx_tensor_root(t) for t in model.graph.initializer]


def weights_root(model) -> bytes:
    """Weights root of an onnx.ModelProto."""
    return weights_root_of(initializer_roots(model))


def model_roots(onnx_bytes: bytes) -> tuple[bytes, bytes]:
    """(graph_root, weights_root) of an ONNX file; raises InvalidModel for bad bytes."""
    from ..models import load_onnx

    model = load_onnx(onnx_bytes)
    return graph_root(model), weights_root(model)


def trace_roots(layout: GraphLayout, values: Mapping[str, np.ndarray]) -> list[bytes]:
    """Tensor roots of one execution's values in value-id order (``values`` maps every value name,
    graph inputs and initializers included, to its array)."""
    missing = [n for n in layout.values if n not in values]
    if missing:
        raise AssayError(
            f"the trace lacks {len(missing)} values, e.g. {missing[:3]}",
            "run the model with every node output kept as a graph output",
        )
    return [tensor_root(values[n]) for n in layout.values]


__all__ = [
    "ABSENT", "EMPTY_LIST_TREE", "GRAPH_LEAF_TAG", "GRAPH_TAG", "IO_TAG", "OPAQUE_TAG", "TENSOR_TAG", "TRACE_TAG",
    "WEIGHTS_TAG", "GraphLayout", "TensorCommitment", "attribute_bytes", "element_location", "graph_layout",
    "graph_root", "header_root", "initializer_roots", "io_root", "io_root_of", "io_root_of_container", "list_proof",
    "list_root", "model_roots", "onnx_tensor_root", "opaque_root", "tensor_root", "tensor_root_of_encoding",
    "trace_root", "trace_roots", "verify_chunk", "verify_chunk_range", "verify_list_item", "weights_root",
    "weights_root_of",
]
