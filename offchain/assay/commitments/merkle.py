"""sha256 Merkle trees over fixed-size chunks, with leaf proofs and contiguous range proofs.

This module is the byte-exact twin of ``contracts/libraries/TensorMerkle.sol`` (docs/commitments.md,
"Merkle tree"). Rules:

* data is cut into ``LEAF_SIZE`` (128) byte chunks; the last chunk keeps its true length (no
  padding); empty data is one empty chunk, so every tree has at least one leaf;
* leaf hash  = sha256(0x00 || chunk), inner node = sha256(0x01 || left || right);
* levels are built left to right in pairs; a level with an odd count *promotes* its last node
  unchanged to the next level (no duplication, so no CVE-2012-2459 style ambiguity);
* a proof lists the siblings met from the leaves up; at each level the left sibling comes first
  (when the run starts at an odd position), then the right one (when the run ends at an odd
  position that is not the level's last). A single-leaf proof is a range proof of length one.

The leaf count is not hashed into the tree: whoever verifies must know it (a tensor root binds it
through the header's shape, a list root hashes it in). This module is pure: it never touches the
network, the chain or the disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..errors import AssayError

LEAF_SIZE = 128
"""Bytes of data per leaf (a multiple of every element size, so no element straddles two leaves)."""

LEAF_TAG = b"\x00"
NODE_TAG = b"\x01"

_sha256 = hashlib.sha256


class ProofError(AssayError, ValueError):
    """A Merkle proof is malformed (wrong index, count or number of siblings)."""


def hash_leaf(chunk: bytes | memoryview) -> bytes:
    """sha256(0x00 || chunk)."""
    h = _sha256(LEAF_TAG)
    h.update(chunk)
    return h.digest()


def hash_node(left: bytes, right: bytes) -> bytes:
    """sha256(0x01 || left || right)."""
    return _sha256(NODE_TAG + left + right).digest()


def leaf_count(nbytes: int) -> int:
    """Leaves of a data tree over ``nbytes`` bytes: max(1, ceil(nbytes / LEAF_SIZE))."""
    if nbytes < 0:
        raise ValueError(f"negative data size {nbytes}")
    return max(1, -(-nbytes // LEAF_SIZE))


def chunk_span(leaf: int, nbytes: int) -> tuple[int, int]:
    """(start, end) byte offsets of leaf ``leaf`` in data of ``nbytes`` bytes."""
    n = leaf_count(nbytes)
    if not 0 <= leaf < n:
        raise ProofError(f"leaf {leaf} out of range: the data has {n} leaves", "pick a leaf index below the leaf count")
    start = leaf * LEAF_SIZE
    return start, min(start + LEAF_SIZE, nbytes)


def leaf_hashes(data: bytes | bytearray | memoryview) -> list[bytes]:
    """Leaf hashes of the chunks of ``data`` (one leaf for empty data)."""
    mv = memoryview(data).cast("B")
    if len(mv) == 0:
        return [hash_leaf(b"")]
    prefix = _sha256(LEAF_TAG)
    out = []
    for i in range(0, len(mv), LEAF_SIZE):
        h = prefix.copy()
        h.update(mv[i : i + LEAF_SIZE])
        out.append(h.digest())
    return out


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    nxt = [_sha256(NODE_TAG + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])  # odd rule: promote the last node unchanged
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over leaf hashes (at least one) with the promote-the-odd-node rule."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf (empty data is one empty chunk)")
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def data_root(data: bytes | bytearray | memoryview) -> bytes:
    """Merkle root over the ``LEAF_SIZE`` chunks of ``data``. Not a commitment on its own: bind it
    to a header with :func:`assay.commitments.roots.tensor_root`."""
    return merkle_root(leaf_hashes(data))


class MerkleTree:
    """All levels of one tree, for producing proofs. ``levels[0]`` are the leaf hashes."""

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            self.levels.append(_next_level(self.levels[-1]))

    @classmethod
    def of_data(cls, data: bytes | bytearray | memoryview) -> MerkleTree:
        return cls(leaf_hashes(data))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def count(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Siblings proving leaf ``index``."""
        return self.range_proof(index, index + 1)

    def range_proof(self, first: int, end: int) -> list[bytes]:
        """Siblings proving the contiguous run of leaves [first, end)."""
        _check_range(first, end, self.count)
        out = []
        lo, hi = first, end
        for level in self.levels[:-1]:
            if lo % 2:
                out.append(level[lo - 1])
                lo -= 1
            if hi % 2 and hi < len(level):
                out.append(level[hi])
                hi += 1
            lo, hi = lo // 2, (hi + 1) // 2
        return out


def _check_range(first: int, end: int, count: int) -> None:
    if count < 1:
        raise ProofError(f"leaf count {count} < 1", "every tree has at least one leaf")
    if not 0 <= first < end <= count:
        raise ProofError(
            f"leaf range [{first}, {end}) is empty or outside the {count} leaves",
            "prove a non-empty run of leaves inside the tree",
        )


def root_from_range_proof(run: Sequence[bytes], first: int, count: int, proof: Sequence[bytes]) -> bytes:
    """Root implied by leaf hashes ``run`` at positions [first, first+len(run)) of a ``count``-leaf
    tree and their siblings. Raises :class:`ProofError` when the proof has the wrong shape."""
    _check_range(first, first + len(run), count)
    nodes = list(run)
    lo, cnt, k = first, count, 0
    while cnt > 1:
        if lo % 2:
            if k >= len(proof):
                raise ProofError(f"proof too short: {len(proof)} siblings", "use the proof made for this leaf range")
            nodes.insert(0, proof[k])
            k += 1
            lo -= 1
        hi = lo + len(nodes)
        if hi % 2 and hi < cnt:
            if k >= len(proof):
                raise ProofError(f"proof too short: {len(proof)} siblings", "use the proof made for this leaf range")
            nodes.append(proof[k])
            k += 1
        nodes = _next_level(nodes)
        lo, cnt = lo // 2, (cnt + 1) // 2
    if k != len(proof):
        raise ProofError(
            f"proof has {len(proof)} siblings, the tree needs {k}", "use the proof made for this leaf range"
        )
    return nodes[0]


def root_from_proof(leaf: bytes, index: int, count: int, proof: Sequence[bytes]) -> bytes:
    """Root implied by leaf hash ``leaf`` at ``index`` of a ``count``-leaf tree."""
    return root_from_range_proof([leaf], index, count, proof)


def verify(root: bytes, leaf: bytes, index: int, count: int, proof: Sequence[bytes]) -> bool:
    """True iff ``proof`` shows leaf hash ``leaf`` at ``index`` of the ``count``-leaf tree ``root``.
    A malformed proof is simply false."""
    try:
        return root_from_proof(leaf, index, count, proof) == root
    except ProofError:
        return False


def verify_range(root: bytes, run: Sequence[bytes], first: int, count: int, proof: Sequence[bytes]) -> bool:
    """True iff ``proof`` shows leaf hashes ``run`` at [first, first+len(run)) of tree ``root``."""
    try:
        return root_from_range_proof(run, first, count, proof) == root
    except ProofError:
        return False


def proof_length(index: int, count: int) -> int:
    """Number of siblings in the proof of leaf ``index`` of a ``count``-leaf tree."""
    _check_range(index, index + 1, count)
    k = 0
    while count > 1:
        if index % 2 or index + 1 < count:
            k += 1
        index, count = index // 2, (count + 1) // 2
    return k
