#!/usr/bin/env python3
"""Generate the commitment test vectors shared by the Python and Solidity tests (tests/vectors/).

    python tools/gen_vectors.py           # rewrite tests/vectors/*.json
    python tools/gen_vectors.py --check   # exit 1 if the files differ from what the code gives now

Every byte string is 0x-prefixed hex. The vectors are produced by offchain/assay/commitments and
checked independently by tests/test_commitments.py (a separate hashlib implementation) and
tests/test_tensor_merkle_sol.py (contracts/libraries/TensorMerkle.sol). Deterministic: fixed seeds,
no clock, no randomness from the OS. Changing the encoding means regenerating on purpose and saying
so in docs/commitments.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "offchain"))

from assay.commitments import codec, merkle, roots  # noqa: E402

OUT = ROOT / "tests" / "vectors"


def hx(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def tensor_cases() -> list[tuple[str, np.ndarray]]:
    """Named tensors covering dtypes, scalars, empty tensors, partial and odd leaf counts."""
    r = _rng
    f32 = lambda shape, s: r(s).standard_normal(shape).astype(np.float32)  # noqa: E731
    return [
        ("f32_scalar", np.array(3.5, dtype=np.float32)),
        ("f32_empty_1d", np.zeros((0,), dtype=np.float32)),
        ("f32_empty_3d", np.zeros((2, 0, 3), dtype=np.float32)),
        ("f32_3", f32((3,), 1)),  # 12 bytes: one partial leaf
        ("f32_32", f32((32,), 2)),  # exactly one full leaf
        ("f32_33", f32((33,), 3)),  # 2 leaves, the last 4 bytes
        ("f32_5x7x11", f32((5, 7, 11), 4)),  # 1540 bytes: 13 leaves (odd), last 4 bytes
        ("f32_16x32", f32((16, 32), 5)),  # 16 leaves, one row per leaf
        ("f32_1000", f32((1000,), 6)),  # 32 leaves, last 32 bytes
        ("f32_specials", np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.4028235e38], dtype=np.float32)),
        ("i64_3x50", r(7).integers(-(2**63), 2**63 - 1, size=(3, 50), dtype=np.int64)),  # 10 leaves, last 48
        ("i64_scalar", np.array(-2, dtype=np.int64)),
        ("i8_300", r(8).integers(-128, 127, size=(300,), dtype=np.int8, endpoint=True)),  # 3 leaves, last 44
        ("u8_2x3x128", r(9).integers(0, 255, size=(2, 3, 128), dtype=np.uint8, endpoint=True)),  # 6 full
        ("u8_640", r(10).integers(0, 255, size=(640,), dtype=np.uint8, endpoint=True)),  # 5 leaves (odd)
        ("u8_1", np.array([7], dtype=np.uint8)),
        ("bool_10", r(11).integers(0, 1, size=(10,), endpoint=True).astype(np.bool_)),
        ("f16_70", r(12).standard_normal(70).astype(np.float16)),  # 140 bytes: 2 leaves
        ("f64_17", r(13).standard_normal(17)),  # 136 bytes
        ("i32_4x4", np.arange(-8, 8, dtype=np.int32).reshape(4, 4)),
        ("u16_3", np.array([1, 256, 65535], dtype=np.uint16)),
        ("i16_3", np.array([-1, 2, -32768], dtype=np.int16)),
        ("u32_3", np.array([1, 2**31, 2**32 - 1], dtype=np.uint32)),
        ("u64_2", np.array([1, 2**64 - 1], dtype=np.uint64)),
        ("c64_9", (r(14).standard_normal(9) + 1j * r(15).standard_normal(9)).astype(np.complex64)),  # 72 bytes
        ("c128_9", r(16).standard_normal(9) + 1j * r(17).standard_normal(9)),  # 144 bytes: 2 leaves
        ("bf16_9", r(18).standard_normal(9).astype(ml_dtypes.bfloat16)),
        ("f8e4m3fn_5", np.array([0.5, -1, 2, 448, 0], dtype=ml_dtypes.float8_e4m3fn)),
        ("f32_rank5", f32((1, 2, 1, 3, 2), 19)),
    ]


def _picks(n: int) -> list[int]:
    """All leaves of small trees; first, last, middle and a few odd ones of larger ones."""
    if n <= 16:
        return list(range(n))
    return sorted({0, 1, n // 2 - 1, n // 2, n - 2, n - 1, 5 % n, 13 % n})


def _ranges(n: int) -> list[tuple[int, int]]:
    if n <= 4:
        return [(a, b) for a in range(n) for b in range(a + 1, n + 1)]
    cand = [(0, n), (1, 3), (2, 4), (n - 2, n), (n // 2, n), (0, n // 2 + 1), (1, n - 1), (3, 4), (4, 8)]
    return sorted({(a, b) for a, b in cand if 0 <= a < b <= n})


def tensor_vectors() -> list[dict]:
    out = []
    for name, arr in tensor_cases():
        c = roots.TensorCommitment.of(arr)
        n = c.leaf_count
        size = codec.DTYPES[c.code].itemsize
        numel = len(c.data) // size
        elements = []
        for e in sorted({0, numel // 2, numel - 1} if numel else set()):
            leaf, off = c.element_location(e)
            elements.append(
                {
                    "index": e,
                    "leaf": leaf,
                    "offset": off,
                    "bits": str(int.from_bytes(c.data[e * size : (e + 1) * size], "little")),
                }
            )
        out.append(
            {
                "name": name,
                "dtype": c.code,
                "dtype_name": codec.DTYPES[c.code].name,
                "shape": list(c.shape),
                "encoding": hx(codec.encode_tensor(arr)),
                "header": hx(codec.encode_header(c.code, c.shape)),
                "data_root": hx(c.tree.root),
                "root": hx(c.root),
                "leaf_count": n,
                "proofs": [
                    {"leaf": i, "chunk": hx(c.chunk(i)), "siblings": [hx(s) for s in c.proof(i)]} for i in _picks(n)
                ],
                "range_proofs": [
                    {"first": a, "end": b, "data": hx(c.chunks(a, b)), "siblings": [hx(s) for s in c.range_proof(a, b)]}
                    for a, b in _ranges(n)
                ],
                "elements": elements,
            }
        )
    return out


def tree_vectors() -> list[dict]:
    """Bare trees over leaf hashes of 2-byte chunks, for the odd-node rule at every small size."""
    out = []
    for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33]:
        leaves = [merkle.hash_leaf(i.to_bytes(2, "big")) for i in range(n)]
        t = merkle.MerkleTree(leaves)
        out.append(
            {
                "count": n,
                "leaves": [hx(x) for x in leaves],
                "root": hx(t.root),
                "proofs": [{"index": i, "siblings": [hx(s) for s in t.proof(i)]} for i in _picks(n)],
                "range_proofs": [
                    {"first": a, "end": b, "siblings": [hx(s) for s in t.range_proof(a, b)]} for a, b in _ranges(n)
                ],
            }
        )
    return out


def io_vectors() -> dict:
    tr = lambda a: roots.tensor_root(a)  # noqa: E731
    x = ("x", tr(np.float32(1)))
    mask = ("mask", tr(np.array([True, False])))
    ids = ("ids", tr(np.arange(3, dtype=np.int64)))
    cases = [
        ("empty", []),
        ("one_input", [("input", tr(np.arange(4, dtype=np.float32)))]),
        ("three_in_order", [x, mask, ids]),
        ("reordered", [mask, x, ids]),
        ("unicode_and_long", [("tënsor·ü/0", tr(np.zeros(2, np.int8))), ("n" * 300, tr(np.zeros((0, 4), "f4")))]),
    ]
    io = [
        {
            "name": name,
            "names": [p[0] for p in pairs],
            "roots": [hx(p[1]) for p in pairs],
            "io_root": hx(roots.io_root(pairs)),
        }
        for name, pairs in cases
    ]
    tensors = [
        ("input_ids", np.array([[101, 2023, 102]], dtype=np.int64)),
        ("attention_mask", np.ones((1, 3), dtype=np.int64)),
        ("pixel", _rng(20).standard_normal((1, 3, 2, 2)).astype(np.float32)),
    ]
    containers = [
        {
            "name": "three_tensors",
            "container": hx(codec.encode_tensors(tensors)),
            "names": [n for n, _ in tensors],
            "roots": [hx(roots.tensor_root(a)) for _, a in tensors],
            "io_root": hx(roots.io_root_of(tensors)),
        },
        {
            "name": "empty",
            "container": hx(codec.encode_tensors([])),
            "names": [],
            "roots": [],
            "io_root": hx(roots.io_root([])),
        },
    ]
    return {"io": io, "containers": containers}


def tiny_model_bytes() -> bytes:
    """A small real ONNX model: MatMul, Add, Relu, LeakyRelu (float attribute), Clip (absent
    optional input), Constant (tensor attribute), Transpose (ints attribute), two outputs."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(_rng(30).standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(np.array([0.5, -0.25, 1.0], dtype=np.float32), "B")
    hi = numpy_helper.from_array(np.array(6.0, dtype=np.float32), "six")
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "B"], ["h2"], name="add"),
        helper.make_node("LeakyRelu", ["h2"], ["h3"], name="lrelu", alpha=0.125),
        helper.make_node("Clip", ["h3", "", "six"], ["h4"], name="clip"),
        helper.make_node("Constant", [], ["k"], name="const",
                         value=numpy_helper.from_array(np.array([2.0, 2.0, 2.0], dtype=np.float32))),
        helper.make_node("Mul", ["h4", "k"], ["h5"], name="mul"),
        helper.make_node("Relu", ["h5"], ["Y"], name="relu"),
        helper.make_node("Transpose", ["Y"], ["YT"], name="tr", perm=[1, 0]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("YT", TensorProto.FLOAT, [3, 1])],
        initializer=[w, b, hi],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="assay-vectors")
    model.ir_version = 8
    return model.SerializeToString(deterministic=True)


def _list_proof(items: list[bytes], i: int) -> dict:
    return {"index": i, "siblings": [hx(s) for s in roots.list_proof(items, i)]}


def list_vectors() -> dict:
    import onnx

    items = [hashlib.sha256(b"item %d" % i).digest() for i in range(7)]
    lists = []
    for tag_name, tag in [("weights", roots.WEIGHTS_TAG), ("trace", roots.TRACE_TAG)]:
        for n in (0, 1, 2, 7):
            its = items[:n]
            lists.append(
                {
                    "kind": tag_name,
                    "tag": tag[0],
                    "count": n,
                    "items": [hx(x) for x in its],
                    "root": hx(roots.list_root(tag, its)),
                    "proofs": [_list_proof(its, i) for i in range(n)],
                }
            )
    data = tiny_model_bytes()
    model = onnx.load_from_string(data)
    layout = roots.graph_layout(model)
    leaves = layout.leaves
    graph_root, weights_root = roots.model_roots(data)
    init_roots = roots.initializer_roots(model)
    model_vec = {
        "onnx": hx(data),
        "model_id": hx(hashlib.sha256(data).digest()),
        "graph_root": hx(graph_root),
        "weights_root": hx(weights_root),
        "values": layout.values,
        "descriptors": [hx(d) for d in [layout.header, *layout.descriptors]],
        "graph_proofs": [_list_proof(leaves, i) for i in range(len(leaves))],
        "initializer_roots": [hx(x) for x in init_roots],
        "weights_proofs": [_list_proof(init_roots, i) for i in range(len(init_roots))],
    }
    return {"lists": lists, "model": model_vec}


def build() -> dict[str, object]:
    spec = {"leaf_size": merkle.LEAF_SIZE, "container_magic": hx(codec.MAGIC), "container_version": codec.VERSION}
    return {
        "tensors.json": {"spec": spec, "tensors": tensor_vectors()},
        "trees.json": {"spec": spec, "trees": tree_vectors()},
        "io.json": {"spec": spec, **io_vectors()},
        "lists.json": {"spec": spec, **list_vectors()},
    }


def render(obj: object) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, obj in build().items():
        path, text = OUT / name, render(obj)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)} ({len(text)} bytes)")
    if stale:
        names = ", ".join(stale)
        print(f"stale vectors: {names}; run python tools/gen_vectors.py and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
