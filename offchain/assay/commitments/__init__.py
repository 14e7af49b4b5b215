"""Commitments: canonical tensor bytes, sha256 Merkle trees and the roots Assay posts on-chain.

``codec`` encodes tensors and the named-tensor container jobs carry inline; ``merkle`` builds trees
and proofs over 128-byte chunks; ``roots`` binds them into tensor, io, graph, weights and trace
roots. Everything here is pure and byte-for-byte identical to contracts/libraries/TensorMerkle.sol
(shared vectors in tests/vectors/). docs/commitments.md specifies the bytes.
"""

from .codec import (
    DTYPES,
    CodecError,
    UnsupportedDtype,
    decode_tensor,
    decode_tensors,
    dtype_code,
    encode_tensor,
    encode_tensors,
)
from .merkle import LEAF_SIZE, MerkleTree, ProofError, data_root
from .roots import (
    GraphLayout,
    TensorCommitment,
    graph_layout,
    graph_root,
    io_root,
    io_root_of,
    io_root_of_container,
    model_roots,
    tensor_root,
    trace_root,
    weights_root,
)

__all__ = [
    "DTYPES", "LEAF_SIZE", "CodecError", "GraphLayout", "MerkleTree", "ProofError", "TensorCommitment",
    "UnsupportedDtype", "data_root", "decode_tensor", "decode_tensors", "dtype_code", "encode_tensor",
    "encode_tensors", "graph_layout", "graph_root", "io_root", "io_root_of", "io_root_of_container",
    "model_roots", "tensor_root", "trace_root", "weights_root",
]
