"""Commitments (offchain/assay/commitments) against the shared vectors and an independent reference.

Pure Python, no chain: the reference below is a separate, deliberately plain implementation of
docs/commitments.md (RFC 6962 style recursive split for the tree, struct-free header bytes), so a
bug in the level-by-level tree of merkle.py or in the codec cannot hide behind itself.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "offchain"))
sys.path.insert(0, str(ROOT / "tools"))

from assay.commitments import codec, merkle, roots  # noqa: E402
from assay.commitments.codec import CodecError, UnsupportedDtype  # noqa: E402
from assay.commitments.merkle import ProofError  # noqa: E402
from assay.models import InvalidModel  # noqa: E402

VEC = ROOT / "tests" / "vectors"
HSET = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(name: str) -> dict:
    return json.loads((VEC / name).read_text(encoding="utf-8"))


def unhex(s: str) -> bytes:
    assert s.startswith("0x")
    return bytes.fromhex(s[2:])


TENSORS = load("tensors.json")["tensors"]
TREES = load("trees.json")["trees"]
IO = load("io.json")
LISTS = load("lists.json")


# ---------------------------------------------------------------------------------------------
# Independent reference (hashlib only, written from docs/commitments.md)
# ---------------------------------------------------------------------------------------------


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_tree(leaves: list[bytes]) -> bytes:
    """RFC 6962 split at the largest power of two below n; equals promote-the-odd-node levels."""
    if len(leaves) == 1:
        return leaves[0]
    k = ref_split(len(leaves))
    return sha(b"\x01" + ref_tree(leaves[:k]) + ref_tree(leaves[k:]))


def ref_path_root(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """Root from a bottom-up audit path (RFC 6962 2.1.1), consuming siblings from the top."""
    if n == 1:
        assert not path, "unused siblings"
        return leaf
    assert path, "path too short"
    k = ref_split(n)
    if m < k:
        return sha(b"\x01" + ref_path_root(leaf, m, k, path[:-1]) + path[-1])
    return sha(b"\x01" + path[-1] + ref_path_root(leaf, m - k, n - k, path[:-1]))


def ref_data_root(data: bytes) -> bytes:
    chunks = [data[i : i + 128] for i in range(0, len(data), 128)] or [b""]
    return ref_tree([sha(b"\x00" + c) for c in chunks])


REF_CODES = {
    "float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
    "float16": 10, "float64": 11, "uint32": 12, "uint64": 13, "complex64": 14, "complex128": 15,
    "bfloat16": 16, "float8_e4m3fn": 17, "float8_e4m3fnuz": 18, "float8_e5m2": 19, "float8_e5m2fnuz": 20,
    "float8_e8m0fnu": 24,
}


def ref_header(code: int, shape) -> bytes:
    return bytes([code, len(shape)]) + b"".join(int(d).to_bytes(8, "big") for d in shape)


def ref_tensor_root(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    code = REF_CODES[arr.dtype.name]
    data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    return sha(b"\x02" + ref_header(code, arr.shape) + ref_data_root(data))


def ref_io_root(pairs) -> bytes:
    out = b"\x03" + len(pairs).to_bytes(4, "big")
    for name, root in pairs:
        nb = name.encode()
        out += len(nb).to_bytes(2, "big") + nb + root
    return sha(out)


def ref_list_root(tag: int, items: list[bytes]) -> bytes:
    tree = ref_tree(items) if items else bytes(32)
    return sha(bytes([tag]) + len(items).to_bytes(8, "big") + tree)


# ---------------------------------------------------------------------------------------------
# Shared vectors
# ---------------------------------------------------------------------------------------------


def test_vectors_are_what_the_generator_produces_now():
    import gen_vectors

    for name, obj in gen_vectors.build().items():
        text = (VEC / name).read_text(encoding="utf-8")
        assert text == gen_vectors.render(obj), f"{name} is stale: run tools/gen_vectors.py"


def test_vectors_cover_required_cases():
    dtypes = {t["dtype"] for t in TENSORS}
    assert {1, 7, 3, 2} <= dtypes  # float32, int64, int8, uint8
    assert any(t["shape"] == [] for t in TENSORS)
    assert any(0 in t["shape"] for t in TENSORS)
    assert any(t["leaf_count"] % 2 == 1 and t["leaf_count"] > 1 for t in TENSORS)
    sizes = [len(unhex(t["encoding"])) - len(unhex(t["header"])) for t in TENSORS]
    assert any(s % merkle.LEAF_SIZE for s in sizes)  # a short last chunk


@pytest.mark.parametrize("v", TENSORS, ids=[t["name"] for t in TENSORS])
def test_tensor_vector_roots_match_reference_and_library(v):
    enc = unhex(v["encoding"])
    arr = codec.decode_tensor(enc)
    assert codec.dtype_code(arr.dtype) == v["dtype"] and list(arr.shape) == v["shape"]
    assert codec.encode_tensor(arr) == enc
    assert enc.startswith(unhex(v["header"])) and unhex(v["header"]) == ref_header(v["dtype"], v["shape"])
    data = enc[len(unhex(v["header"])) :]
    assert ref_data_root(data) == merkle.data_root(data) == unhex(v["data_root"])
    assert ref_tensor_root(arr) == roots.tensor_root(arr) == unhex(v["root"])
    assert roots.tensor_root_of_encoding(enc) == unhex(v["root"])
    assert merkle.leaf_count(len(data)) == v["leaf_count"]


@pytest.mark.parametrize("v", TENSORS, ids=[t["name"] for t in TENSORS])
def test_tensor_vector_proofs_verify_in_library_and_reference(v):
    root, code, shape = unhex(v["root"]), v["dtype"], v["shape"]
    data = unhex(v["encoding"])[len(unhex(v["header"])) :]
    dr = unhex(v["data_root"])
    for p in v["proofs"]:
        chunk, sib = unhex(p["chunk"]), [unhex(s) for s in p["siblings"]]
        assert chunk == data[p["leaf"] * 128 : p["leaf"] * 128 + 128]
        assert roots.verify_chunk(root, code, shape, p["leaf"], chunk, sib)
        assert ref_path_root(sha(b"\x00" + chunk), p["leaf"], v["leaf_count"], sib) == dr
        assert len(sib) == merkle.proof_length(p["leaf"], v["leaf_count"])
    for p in v["range_proofs"]:
        chunk, sib = unhex(p["data"]), [unhex(s) for s in p["siblings"]]
        assert chunk == data[p["first"] * 128 : p["end"] * 128]
        assert roots.verify_chunk_range(root, code, shape, p["first"], chunk, sib)
    for e in v["elements"]:
        leaf, off = roots.element_location(code, shape, e["index"])
        assert (leaf, off) == (e["leaf"], e["offset"])
        size = codec.DTYPES[code].itemsize
        assert int.from_bytes(data[leaf * 128 + off : leaf * 128 + off + size], "little") == int(e["bits"])


@pytest.mark.parametrize("t", TREES, ids=[f"n{t['count']}" for t in TREES])
def test_tree_vectors_match_reference_for_every_odd_rule_case(t):
    leaves = [unhex(x) for x in t["leaves"]]
    assert ref_tree(leaves) == merkle.merkle_root(leaves) == unhex(t["root"])
    for p in t["proofs"]:
        sib = [unhex(s) for s in p["siblings"]]
        assert ref_path_root(leaves[p["index"]], p["index"], t["count"], sib) == unhex(t["root"])
        assert merkle.verify(unhex(t["root"]), leaves[p["index"]], p["index"], t["count"], sib)
    for p in t["range_proofs"]:
        sib = [unhex(s) for s in p["siblings"]]
        run = leaves[p["first"] : p["end"]]
        assert merkle.verify_range(unhex(t["root"]), run, p["first"], t["count"], sib)
        if p["end"] - p["first"] == 1:
            assert sib == merkle.MerkleTree(leaves).proof(p["first"])


def test_range_proof_of_aligned_subtree_needs_only_the_siblings_above_it():
    # 16 leaves, leaves [4, 8) are one aligned subtree of height 2: two siblings above it.
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(16)]
    t = merkle.MerkleTree(leaves)
    proof = t.range_proof(4, 8)
    assert proof == [t.levels[2][0], t.levels[3][1]]
    assert merkle.verify_range(t.root, leaves[4:8], 4, 16, proof)


@pytest.mark.parametrize("v", IO["io"], ids=[v["name"] for v in IO["io"]])
def test_io_vectors_match_reference(v):
    pairs = [(n, unhex(r)) for n, r in zip(v["names"], v["roots"])]
    assert ref_io_root(pairs) == roots.io_root(pairs) == unhex(v["io_root"])


def test_io_root_depends_on_order():
    by_name = {v["name"]: v["io_root"] for v in IO["io"]}
    assert by_name["three_in_order"] != by_name["reordered"]


@pytest.mark.parametrize("v", IO["containers"], ids=[v["name"] for v in IO["containers"]])
def test_container_vectors_decode_to_named_tensors_with_their_io_root(v):
    buf = unhex(v["container"])
    items = codec.decode_tensors(buf)
    assert [n for n, _ in items] == v["names"]
    assert [ref_tensor_root(a) for _, a in items] == [unhex(r) for r in v["roots"]]
    assert codec.encode_tensors(items) == buf
    assert roots.io_root_of_container(buf) == unhex(v["io_root"])


@pytest.mark.parametrize("v", LISTS["lists"], ids=[f"{v['kind']}{v['count']}" for v in LISTS["lists"]])
def test_list_vectors_match_reference(v):
    items = [unhex(x) for x in v["items"]]
    assert ref_list_root(v["tag"], items) == roots.list_root(bytes([v["tag"]]), items) == unhex(v["root"])
    for p in v["proofs"]:
        sib = [unhex(s) for s in p["siblings"]]
        i = p["index"]
        assert roots.verify_list_item(unhex(v["root"]), bytes([v["tag"]]), v["count"], i, items[i], sib)
        assert ref_path_root(items[p["index"]], p["index"], v["count"], sib) == ref_tree(items)


def test_tiny_model_roots_match_vector_and_reference():
    import onnx
    from onnx import numpy_helper

    m = LISTS["model"]
    data = unhex(m["onnx"])
    assert hashlib.sha256(data).digest() == unhex(m["model_id"])
    assert roots.model_roots(data) == (unhex(m["graph_root"]), unhex(m["weights_root"]))
    model = onnx.load_from_string(data)
    layout = roots.graph_layout(model)
    descs = [unhex(d) for d in m["descriptors"]]
    assert [layout.header, *layout.descriptors] == descs
    assert layout.values == m["values"]
    assert ref_list_root(5, [sha(b"\x04" + d) for d in descs]) == unhex(m["graph_root"])
    init = [ref_tensor_root(numpy_helper.to_array(t)) for t in model.graph.initializer]
    assert init == [unhex(x) for x in m["initializer_roots"]]
    assert ref_list_root(6, init) == unhex(m["weights_root"])
    leaves = [sha(b"\x04" + d) for d in descs]
    for p in m["graph_proofs"]:
        sib = [unhex(s) for s in p["siblings"]]
        i = p["index"]
        assert roots.verify_list_item(unhex(m["graph_root"]), roots.GRAPH_TAG, len(descs), i, leaves[i], sib)


def test_tiny_model_descriptors_follow_the_documented_layout():
    m = LISTS["model"]
    header, *nodes = (unhex(d) for d in m["descriptors"])
    # header: kind 0, 1 input, 3 initializers, 8 nodes, 12 values, 2 outputs, opset ("" -> 17)
    assert header[:21] == bytes([0]) + b"".join(x.to_bytes(4, "big") for x in (1, 3, 8, 12, 2))
    assert header[21:] == (
        (1).to_bytes(2, "big") + (0).to_bytes(2, "big") + (17).to_bytes(8, "big")
        + (1).to_bytes(2, "big") + b"X"
        + (1).to_bytes(2, "big") + b"Y" + (10).to_bytes(4, "big")
        + (2).to_bytes(2, "big") + b"YT" + (11).to_bytes(4, "big")
    )
    # MatMul(X=0, W=1) -> h=4, no attributes
    assert nodes[0] == (
        bytes([1]) + b"\x00\x00" + b"\x00\x06MatMul"
        + b"\x00\x02" + bytes.fromhex("00000000 00000001")
        + b"\x00\x01" + bytes.fromhex("00000004")
        + b"\x00\x00"
    )
    # LeakyRelu alpha=0.125: FLOAT attribute (type 1), big-endian float32 bits 0x3e000000
    assert nodes[2].endswith(b"\x00\x01" + b"\x00\x05alpha" + b"\x01" + bytes.fromhex("3e000000"))
    # Clip(h3, <absent>, six): the omitted min is value id 0xFFFFFFFF
    assert bytes.fromhex("00000006ffffffff00000003") in nodes[3]


# ---------------------------------------------------------------------------------------------
# Tampering: every flipped bit is caught
# ---------------------------------------------------------------------------------------------


def _flip(b: bytes, bit: int) -> bytes:
    x = bytearray(b)
    x[bit // 8] ^= 1 << (bit % 8)
    return bytes(x)


@pytest.mark.parametrize("name", ["f32_5x7x11", "i8_300"])
def test_every_flipped_bit_of_chunk_or_sibling_fails(name):
    v = next(t for t in TENSORS if t["name"] == name)
    root, code, shape = unhex(v["root"]), v["dtype"], v["shape"]
    p = v["proofs"][-1]  # the short last chunk, promoted through odd levels
    chunk, sib = unhex(p["chunk"]), [unhex(s) for s in p["siblings"]]
    assert roots.verify_chunk(root, code, shape, p["leaf"], chunk, sib)
    for bit in range(len(chunk) * 8):
        assert not roots.verify_chunk(root, code, shape, p["leaf"], _flip(chunk, bit), sib)
    for k in range(len(sib)):
        for bit in range(256):
            bad = sib[:k] + [_flip(sib[k], bit)] + sib[k + 1 :]
            assert not roots.verify_chunk(root, code, shape, p["leaf"], chunk, bad)
    for bit in range(256):
        assert not roots.verify_chunk(_flip(root, bit), code, shape, p["leaf"], chunk, sib)


def test_proof_against_wrong_header_fails():
    v = next(t for t in TENSORS if t["name"] == "f32_16x32")
    p = v["proofs"][3]
    chunk, sib = unhex(p["chunk"]), [unhex(s) for s in p["siblings"]]
    root = unhex(v["root"])
    assert roots.verify_chunk(root, 1, [16, 32], 3, chunk, sib)
    assert not roots.verify_chunk(root, 1, [32, 16], 3, chunk, sib)  # same size, other shape
    assert not roots.verify_chunk(root, 6, [16, 32], 3, chunk, sib)  # int32: same size, other dtype
    assert not roots.verify_chunk(root, 1, [16, 32], 4, chunk, sib)  # other index
    assert not roots.verify_chunk(root, 8, [16, 32], 3, chunk, sib)  # strings: no encoding


def test_malformed_proofs_raise_proof_error_and_verify_false():
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(5)]
    t = merkle.MerkleTree(leaves)
    p = t.proof(1)
    with pytest.raises(ProofError, match="siblings"):
        merkle.root_from_proof(leaves[1], 1, 5, p + [p[0]])
    with pytest.raises(ProofError, match="too short"):
        merkle.root_from_proof(leaves[1], 1, 5, p[:-1])
    with pytest.raises(ProofError, match="outside"):
        merkle.root_from_proof(leaves[1], 5, 5, p)
    assert not merkle.verify(t.root, leaves[1], 5, 5, p)
    assert not merkle.verify(t.root, leaves[1], 1, 5, p[:-1])
    # the last leaf of 5 is promoted twice: its proof is one sibling only
    assert len(t.proof(4)) == 1 and merkle.verify(t.root, leaves[4], 4, 5, t.proof(4))
    # the same leaf claimed in a tree of 4 or 6 leaves does not verify
    assert not merkle.verify(t.root, leaves[4], 4, 6, t.proof(4))


def test_inner_node_cannot_pose_as_a_leaf():
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(4)]
    t = merkle.MerkleTree(leaves)
    inner = t.levels[1][0]  # hash of leaves 0, 1
    assert not merkle.verify(t.root, inner, 0, 4, [t.levels[1][1]])
    assert merkle.verify(t.root, inner, 0, 2, [t.levels[1][1]])  # only as a 2-leaf tree: count matters
    # and the 64 bytes under it, as a data chunk, hash to something else (leaf tag 0x00, not 0x01)
    assert merkle.hash_leaf(leaves[0] + leaves[1]) != inner


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------

CODES = sorted(codec.DTYPES)


@st.composite
def tensors(draw, max_numel=2000):
    code = draw(st.sampled_from(CODES))
    rank = draw(st.integers(0, 4))
    shape = draw(st.lists(st.integers(0, 12), min_size=rank, max_size=rank))
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if numel > max_numel:
        shape = [max_numel]
        numel = max_numel
    dt = codec.DTYPES[code]
    seed = draw(st.integers(0, 2**32 - 1))
    raw = np.random.default_rng(seed).integers(0, 256, size=numel * dt.itemsize, dtype=np.uint8)
    if code == 9:
        raw &= 1
    return np.frombuffer(raw.tobytes(), dtype=dt.np).reshape(shape)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@HSET
@given(tensors())
def test_tensor_round_trips_and_matches_reference(arr):
    enc = codec.encode_tensor(arr)
    back = codec.decode_tensor(enc)
    assert _same(back, arr)  # bitwise, NaN payloads included
    assert roots.tensor_root(back) == roots.tensor_root(arr) == ref_tensor_root(arr)


@HSET
@given(st.lists(tensors(max_numel=300), max_size=4), st.data())
def test_container_round_trips(arrs, data):
    names = data.draw(st.lists(st.text(min_size=1, max_size=12), min_size=len(arrs), max_size=len(arrs), unique=True))
    items = list(zip(names, arrs))
    buf = codec.encode_tensors(items)
    back = codec.decode_tensors(buf)
    assert [n for n, _ in back] == names
    assert all(_same(a, b) for (_, a), (_, b) in zip(items, back))
    assert roots.io_root_of_container(buf) == ref_io_root([(n, ref_tensor_root(a)) for n, a in items])


@HSET
@given(tensors(), st.data())
def test_every_leaf_proof_verifies_and_tampering_fails(arr, data):
    c = roots.TensorCommitment.of(arr)
    assert c.root == ref_tensor_root(arr)
    for i in range(c.leaf_count):
        assert roots.verify_chunk(c.root, c.code, c.shape, i, c.chunk(i), c.proof(i))
    i = data.draw(st.integers(0, c.leaf_count - 1))
    chunk, proof = c.chunk(i), c.proof(i)
    if c.leaf_count > 1:
        j = data.draw(st.integers(0, c.leaf_count - 1).filter(lambda j: j != i))
        assert not roots.verify_chunk(c.root, c.code, c.shape, j, chunk, proof)
    if chunk:
        bit = data.draw(st.integers(0, len(chunk) * 8 - 1))
        assert not roots.verify_chunk(c.root, c.code, c.shape, i, _flip(chunk, bit), proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = proof[:k] + [_flip(proof[k], bit)] + proof[k + 1 :]
        assert not roots.verify_chunk(c.root, c.code, c.shape, i, chunk, bad)


@HSET
@given(st.integers(1, 70), st.data())
def test_every_range_proof_verifies_and_a_shifted_range_fails(n, data):
    leaves = [merkle.hash_leaf(i.to_bytes(2, "big")) for i in range(n)]
    t = merkle.MerkleTree(leaves)
    assert t.root == ref_tree(leaves)
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    proof = t.range_proof(a, b)
    assert merkle.verify_range(t.root, leaves[a:b], a, n, proof)
    if b < n:
        assert not merkle.verify_range(t.root, leaves[a + 1 : b + 1], a + 1, n, proof)
    for i in range(a, b):  # each single leaf of the run verifies against the reference path
        assert ref_path_root(leaves[i], i, n, t.proof(i)) == t.root


# ---------------------------------------------------------------------------------------------
# Codec: strict decoding and clear errors
# ---------------------------------------------------------------------------------------------


def test_decode_rejects_trailing_bytes():
    with pytest.raises(CodecError, match="trailing"):
        codec.decode_tensor(codec.encode_tensor(np.arange(3, dtype=np.int8)) + b"\x00")


def test_decode_rejects_truncated_data():
    with pytest.raises(CodecError, match="truncated"):
        codec.decode_tensor(codec.encode_tensor(np.arange(3, dtype=np.int32))[:-1])


def test_decode_rejects_huge_dims_without_allocating():
    buf = bytes([1, 2]) + (2**40).to_bytes(8, "big") + (2**20).to_bytes(8, "big") + b"\x00" * 16
    with pytest.raises(CodecError, match="needs"):
        codec.decode_tensor(buf)


def test_decode_rejects_unknown_dtype_code():
    with pytest.raises(UnsupportedDtype, match="dtype code 8"):
        codec.decode_tensor(bytes([8, 0]) + b"\x00" * 8)


def test_decode_rejects_bool_byte_other_than_0_or_1():
    with pytest.raises(CodecError, match="BOOL"):
        codec.decode_tensor(bytes([9, 1]) + (2).to_bytes(8, "big") + b"\x01\x02")


def test_encode_rejects_string_and_object_arrays_with_hint():
    with pytest.raises(UnsupportedDtype) as e:
        codec.encode_tensor(np.array(["a"]))
    assert "cast the tensor" in str(e.value)
    with pytest.raises(UnsupportedDtype):
        roots.tensor_root(np.array([object()]))


def test_big_endian_input_encodes_like_little_endian():
    a = np.arange(5, dtype=">i4")
    assert codec.encode_tensor(a) == codec.encode_tensor(a.astype("<i4"))
    assert roots.tensor_root(a) == roots.tensor_root(a.astype("<i4"))


def test_non_contiguous_input_encodes_row_major():
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    assert codec.encode_tensor(a.T) == codec.encode_tensor(np.ascontiguousarray(a.T))
    assert roots.tensor_root(a.T) != roots.tensor_root(a)


def test_container_rejects_bad_magic_version_names_and_trailing_bytes():
    good = codec.encode_tensors([("a", np.int8(1))])
    with pytest.raises(CodecError, match="magic"):
        codec.decode_tensors(b"XXXX" + good[4:])
    with pytest.raises(CodecError, match="version 2"):
        codec.decode_tensors(good[:4] + b"\x02" + good[5:])
    with pytest.raises(CodecError, match="trailing"):
        codec.decode_tensors(good + b"\x00")
    with pytest.raises(CodecError, match="duplicate"):
        codec.encode_tensors([("a", np.int8(1)), ("a", np.int8(2))])
    dup = codec.encode_tensors([("a", np.int8(1)), ("b", np.int8(2))]).replace(b"\x00\x01b", b"\x00\x01a")
    with pytest.raises(CodecError, match="duplicate"):
        codec.decode_tensors(dup)
    with pytest.raises(CodecError, match="non-empty"):
        codec.encode_tensors([("", np.int8(1))])
    with pytest.raises(CodecError, match="UTF-8"):
        codec.decode_tensors(good.replace(b"\x00\x01a", b"\x00\x01\xff"))


def test_container_layout_is_exactly_as_documented():
    buf = codec.encode_tensors({"x": np.array([1.0, 2.0], dtype=np.float32)})
    assert buf == (
        b"ASYT" + b"\x01" + b"\x00\x00\x00\x01" + b"\x00\x01x" + b"\x01\x01" + (2).to_bytes(8, "big")
        + bytes.fromhex("0000803f00000040")
    )


def test_io_root_rejects_duplicate_names_and_bad_roots():
    r = roots.tensor_root(np.int8(0))
    with pytest.raises(CodecError, match="repeated"):
        roots.io_root([("a", r), ("a", r)])
    with pytest.raises(CodecError, match="32"):
        roots.io_root([("a", r[:31])])


# ---------------------------------------------------------------------------------------------
# Graph and weights roots
# ---------------------------------------------------------------------------------------------


def _tiny():
    import onnx
    import gen_vectors

    return onnx.load_from_string(gen_vectors.tiny_model_bytes())


def _roots_of(model) -> tuple[bytes, bytes]:
    return roots.graph_root(model), roots.weights_root(model)


def test_attribute_order_and_value_names_do_not_change_the_graph_root():
    base = _tiny()
    m = _tiny()
    tr = m.graph.node[7]
    tr.attribute.extend([tr.attribute[0]])
    del tr.attribute[0]  # same attribute, moved
    m.graph.node[0].name = "renamed"
    for n in m.graph.node:  # rename the internal value h -> hidden
        n.input[:] = ["hidden" if x == "h" else x for x in n.input]
        n.output[:] = ["hidden" if x == "h" else x for x in n.output]
    assert _roots_of(m) == _roots_of(base)


def test_attribute_value_changes_graph_root_only():
    base, m = _tiny(), _tiny()
    m.graph.node[2].attribute[0].f = 0.25
    assert roots.graph_root(m) != roots.graph_root(base)
    assert roots.weights_root(m) == roots.weights_root(base)


def test_weight_change_changes_weights_root_only():
    from onnx import numpy_helper

    base, m = _tiny(), _tiny()
    w = numpy_helper.to_array(m.graph.initializer[0]).copy()
    w[0, 0] = np.nextafter(w[0, 0], np.float32(np.inf))  # one ulp
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
    assert roots.weights_root(m) != roots.weights_root(base)
    assert roots.graph_root(m) == roots.graph_root(base)


def test_weight_raw_or_typed_storage_gives_the_same_root():
    from onnx import TensorProto, helper

    raw = helper.make_tensor("w", TensorProto.FLOAT, [2], np.array([1.5, -2], dtype=np.float32).tobytes(), raw=True)
    typed = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.5, -2.0])
    expected = ref_tensor_root(np.array([1.5, -2], np.float32))
    assert roots.onnx_tensor_root(raw) == roots.onnx_tensor_root(typed) == expected


def test_ai_onnx_domain_is_the_default_domain():
    base, m = _tiny(), _tiny()
    m.graph.node[0].domain = "ai.onnx"
    m.opset_import[0].domain = "ai.onnx"
    assert roots.graph_root(m) == roots.graph_root(base)


def test_opset_version_changes_graph_root():
    base, m = _tiny(), _tiny()
    m.opset_import[0].version = 18
    assert roots.graph_root(m) != roots.graph_root(base)


def test_initializer_listed_as_graph_input_is_an_initializer():
    from onnx import helper, TensorProto

    base, m = _tiny(), _tiny()
    m.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3]))
    lay = roots.graph_layout(m)
    assert lay.inputs == ["X"] and lay.value_id["W"] == 1
    assert roots.graph_root(m) == roots.graph_root(base)


def test_model_roots_rejects_bad_bytes_and_external_data():
    from onnx import TensorProto

    with pytest.raises(InvalidModel, match="not a valid ONNX"):
        roots.model_roots(b"not onnx")
    m = _tiny()
    t = m.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    with pytest.raises(InvalidModel, match="external") as e:
        roots.weights_root(m)
    assert "embed the data" in str(e.value)


def test_graph_reading_an_undefined_value_is_invalid():
    m = _tiny()
    m.graph.node[1].input[0] = "nowhere"
    with pytest.raises(InvalidModel, match="nowhere"):
        roots.graph_root(m)


def test_trace_root_over_onnxruntime_values_lines_up_with_value_ids():
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    m = _tiny()
    lay = roots.graph_layout(m)
    produced = [v for v in lay.values[len(lay.inputs) + len(lay.initializers) :]]
    out_names = {o.name for o in m.graph.output}
    for v in produced:
        if v not in out_names:
            m.graph.output.append(onnx.ValueInfoProto(name=v))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.array([[1.0, -2.0, 0.5, 3.0]], dtype=np.float32)
    res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"X": x})))
    values = {"X": x, **{t.name: numpy_helper.to_array(t) for t in lay.initializers}, **res}
    vr = roots.trace_roots(lay, values)
    assert len(vr) == len(lay.values) == 12
    assert vr[lay.value_id["W"]] == roots.initializer_roots(m)[0]
    assert vr[lay.value_id["Y"]] == ref_tensor_root(res["Y"])
    tr = roots.trace_root(vr)
    assert tr == ref_list_root(7, vr)
    i = lay.value_id["h4"]
    assert roots.verify_list_item(tr, roots.TRACE_TAG, len(vr), i, vr[i], roots.list_proof(vr, i))
    with pytest.raises(Exception, match="lacks 1 values"):
        roots.trace_roots(lay, {k: v for k, v in values.items() if k != "h5"})


def test_big_tensor_root_is_fast_enough():
    import time

    a = np.random.default_rng(0).standard_normal(4_000_000).astype(np.float32)  # 16 MB
    t = time.perf_counter()
    r = roots.tensor_root(a)
    dt = time.perf_counter() - t
    assert len(r) == 32 and dt < 2.0, f"16 MB took {dt:.2f}s"
