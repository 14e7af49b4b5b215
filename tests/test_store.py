"""Content store: local put/get, file://, real HTTP (StoreServer and hand-made bad servers), IPFS
gateways, and every failure a source can produce. No chain involved; all servers are real sockets."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import time

import pytest

from assay.errors import AssayError
from assay.store import (
    BlobNotFound,
    ContentStore,
    HashMismatch,
    InvalidDigest,
    InvalidURI,
    StoreServer,
    StoreUnavailable,
    TooLarge,
    blob_uri,
    normalize_digest,
    serve_store,
)

BLOB = b"assay test blob \x00\x01\x02" * 1000
DIGEST = hashlib.sha256(BLOB).hexdigest()
FAST = (0.5, 0.5)  # connect, read timeouts for tests: failures must come back quickly


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "client", gateways=[], timeout=FAST, total_timeout=5.0)


@pytest.fixture
def source(tmp_path):
    """A second store holding BLOB, served over real HTTP."""
    src = ContentStore(tmp_path / "server")
    src.put(BLOB)
    with StoreServer(src) as srv:
        yield srv


@pytest.fixture
def serve():
    """Start a hand-made HTTP server: serve({path: fn(handler)}) -> base URL."""
    servers = []

    def start(routes):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fn = routes.get(self.path)
                if fn is None:
                    self.send_error(404)
                    return
                try:
                    fn(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *a):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def reply(body: bytes, *, length: bool = True, status: int = 200):
    def fn(h):
        h.send_response(status)
        if length:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return fn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- local store ----------------------------------------------------------------------------------


def test_put_returns_sha256_and_get_returns_the_bytes(store):
    digest = store.put(BLOB)
    assert digest == DIGEST
    assert store.has(DIGEST)
    assert store.get(DIGEST) == BLOB
    assert store.path(DIGEST) == store.root / DIGEST[:2] / DIGEST[2:4] / DIGEST  # sharded
    assert store.path(DIGEST).read_bytes() == BLOB


def test_put_is_idempotent_and_leaves_no_temp_files(store):
    assert store.put(BLOB) == store.put(BLOB) == DIGEST
    assert store.put(b"") == hashlib.sha256(b"").hexdigest()
    assert list((store.root / ".tmp").iterdir()) == []
    assert sorted(p.name for p in store.root.rglob("*") if p.is_file()) == sorted([DIGEST, hashlib.sha256(b"").hexdigest()])


def test_put_file_streams_a_file_into_the_store(store, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(BLOB * 10)
    digest = store.put_file(src)
    assert digest == hashlib.sha256(BLOB * 10).hexdigest()
    assert store.get(digest) == BLOB * 10


def test_get_missing_blob_raises_blob_not_found(store):
    with pytest.raises(BlobNotFound, match=f"blob {DIGEST} is not in the local store") as e:
        store.get(DIGEST)
    assert isinstance(e.value, LookupError) and isinstance(e.value, AssayError)
    assert "hint:" in str(e.value)
    assert not store.has(DIGEST)


def test_get_of_a_damaged_local_file_raises_hash_mismatch(store):
    store.put(BLOB)
    store.path(DIGEST).write_bytes(BLOB[:-1] + b"X")
    with pytest.raises(HashMismatch) as e:
        store.get(DIGEST)
    assert e.value.expected == DIGEST
    assert e.value.got == hashlib.sha256(BLOB[:-1] + b"X").hexdigest()
    assert "damaged" in str(e.value)


def test_get_larger_than_limit_raises_too_large(store):
    store.put(BLOB)
    with pytest.raises(TooLarge, match=f"{len(BLOB)} bytes > limit 100 bytes"):
        store.get(DIGEST, max_bytes=100)


@pytest.mark.parametrize("form", [DIGEST.upper(), "0x" + DIGEST, bytes.fromhex(DIGEST), f"  {DIGEST}\n"])
def test_normalize_digest_accepts_hex_0x_and_raw_bytes(form):
    assert normalize_digest(form) == DIGEST


@pytest.mark.parametrize("bad", ["", "abc", DIGEST[:-1], DIGEST + "0", "g" * 64, b"\x00" * 31, 123])
def test_normalize_digest_rejects_malformed(bad):
    with pytest.raises(InvalidDigest):
        normalize_digest(bad)


def test_delete_removes_a_blob(store):
    store.put(BLOB)
    assert store.delete(DIGEST) is True
    assert store.delete(DIGEST) is False
    assert not store.has(DIGEST)


# ---- local URIs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", [f"assay://{DIGEST}", f"sha256:{DIGEST}", f"sha256:{DIGEST.upper()}"])
def test_content_uris_resolve_from_the_local_store(store, uri):
    store.put(BLOB)
    assert store.fetch([uri], DIGEST) == BLOB
    assert blob_uri(DIGEST) == f"assay://{DIGEST}"


def test_content_uri_naming_another_blob_raises_hash_mismatch(tmp_path):
    # The local store does not have the expected blob; the URI points at a different one.
    store = ContentStore(tmp_path / "s", gateways=[])
    other = store.put(b"other")
    with pytest.raises(HashMismatch, match="names a different blob") as e:
        store.fetch([f"assay://{other}"], DIGEST)
    assert e.value.got == other and e.value.expected == DIGEST


def test_content_uri_missing_from_store_raises_blob_not_found(store):
    with pytest.raises(BlobNotFound):
        store.fetch([f"assay://{DIGEST}"], DIGEST)


def test_fetch_file_uri_checks_hash_and_caches(store, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(BLOB)
    assert store.fetch(f"file://{f}", DIGEST) == BLOB
    assert store.has(DIGEST)
    f.unlink()
    assert store.fetch([f"file://{f}"], DIGEST) == BLOB  # served from the cache now


def test_fetch_file_uri_with_wrong_content_raises_hash_mismatch_and_caches_nothing(store, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(BLOB + b"!")
    with pytest.raises(HashMismatch, match=f"expected {DIGEST}, got {hashlib.sha256(BLOB + b'!').hexdigest()}"):
        store.fetch([f"file://{f}"], DIGEST)
    assert not store.has(DIGEST)
    assert list((store.root / ".tmp").iterdir()) == []


def test_fetch_missing_file_raises_blob_not_found(store, tmp_path):
    with pytest.raises(BlobNotFound, match="no file at"):
        store.fetch([f"file://{tmp_path}/nope.bin"], DIGEST)


def test_fetch_file_larger_than_limit_raises_too_large(store, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(BLOB)
    with pytest.raises(TooLarge) as e:
        store.fetch([f"file://{f}"], DIGEST, max_bytes=len(BLOB) - 1)
    assert e.value.size == len(BLOB) and e.value.limit == len(BLOB) - 1


@pytest.mark.parametrize("uri", ["ftp://example.com/x", "no-scheme", "", "ipfs://bad cid", "ipfs://Qm12345678/../x", "sha256:xyz"])
def test_unsupported_or_malformed_uri_raises_invalid_uri(store, uri):
    with pytest.raises(InvalidURI):
        store.fetch([uri], DIGEST)


def test_fetch_with_no_uri_and_no_local_copy_raises_blob_not_found(store):
    with pytest.raises(BlobNotFound, match="no URI was given"):
        store.fetch([], DIGEST)


# ---- HTTP -----------------------------------------------------------------------------------------


def test_fetch_over_http_from_store_server_caches_locally(store, source):
    url = source.url_for(DIGEST)
    assert url.endswith(f"/blobs/{DIGEST}")
    assert store.fetch([url], DIGEST) == BLOB
    assert store.get(DIGEST) == BLOB
    source.stop()
    assert store.fetch([url], DIGEST) == BLOB  # the server is gone; the verified copy is local


def test_store_server_sends_length_and_etag_and_404s_unknown_paths(source):
    import requests

    r = requests.get(source.url_for(DIGEST), timeout=FAST)
    assert r.status_code == 200 and r.content == BLOB
    assert r.headers["Content-Length"] == str(len(BLOB))
    assert r.headers["ETag"] == f'"sha256:{DIGEST}"'
    assert requests.head(source.url_for(DIGEST), timeout=FAST).headers["Content-Length"] == str(len(BLOB))
    assert requests.get(f"{source.url}/blobs/{'0' * 64}", timeout=FAST).status_code == 404
    assert requests.get(f"{source.url}/etc/passwd", timeout=FAST).status_code == 404
    assert requests.get(f"{source.url}/blobs/../../x", timeout=FAST).status_code == 404


def test_server_returning_wrong_bytes_raises_hash_mismatch(store, source):
    source.store.path(DIGEST).write_bytes(BLOB[::-1])  # the server's copy is corrupt (or a lie)
    url = source.url_for(DIGEST)
    with pytest.raises(HashMismatch) as e:
        store.fetch([url], DIGEST)
    assert e.value.expected == DIGEST
    assert e.value.got == hashlib.sha256(BLOB[::-1]).hexdigest()
    assert url in str(e.value) and DIGEST in str(e.value)
    assert isinstance(e.value, ValueError)
    assert not store.has(DIGEST)


def test_http_404_raises_blob_not_found(store, source):
    missing = "1" * 64
    with pytest.raises(BlobNotFound, match="answered HTTP 404"):
        store.fetch([source.url_for(missing)], missing)


def test_http_server_error_raises_store_unavailable(store, serve):
    base = serve({"/x": reply(b"boom", status=503)})
    with pytest.raises(StoreUnavailable, match="answered HTTP 503"):
        store.fetch([f"{base}/x"], DIGEST)


def test_unreachable_port_raises_store_unavailable_quickly(store):
    port = free_port()  # nothing listens there any more
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"cannot connect to http://127.0.0.1:{port}/") as e:
        store.fetch([f"http://127.0.0.1:{port}/blobs/{DIGEST}"], DIGEST)
    assert time.monotonic() - t0 < 3
    assert isinstance(e.value, ConnectionError)


def test_server_that_never_answers_raises_store_unavailable_after_read_timeout(store, serve):
    base = serve({"/slow": lambda h: time.sleep(2)})
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable, match="timed out|cannot connect"):
        store.fetch([f"{base}/slow"], DIGEST)
    assert time.monotonic() - t0 < 1.8


def test_trickling_server_is_cut_off_by_the_total_deadline(tmp_path, serve):
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(BLOB)))
        h.end_headers()
        for i in range(0, 40):
            h.wfile.write(BLOB[i : i + 1])
            h.wfile.flush()
            time.sleep(0.05)

    base = serve({"/trickle": trickle})
    store = ContentStore(tmp_path / "c", gateways=[], timeout=FAST, total_timeout=0.3)
    with pytest.raises(StoreUnavailable, match="too slow"):
        store.fetch([f"{base}/trickle"], DIGEST)


def test_declared_content_length_over_limit_raises_too_large_before_download(store, source):
    with pytest.raises(TooLarge) as e:
        store.fetch([source.url_for(DIGEST)], DIGEST, max_bytes=1000)
    assert e.value.size == len(BLOB) and e.value.limit == 1000


def test_undeclared_body_over_limit_raises_too_large_while_streaming(store, serve):
    def endless(h):
        h.send_response(200)
        h.end_headers()  # no Content-Length: read until close
        for _ in range(100):
            h.wfile.write(b"\0" * 65536)

    base = serve({"/big": endless})
    with pytest.raises(TooLarge, match="more bytes > limit 100000 bytes"):
        store.fetch([f"{base}/big"], DIGEST, max_bytes=100_000)
    assert not store.has(DIGEST)


# ---- IPFS -----------------------------------------------------------------------------------------

CID = "bafkreiexamplecid0123456789abcdefghijklmnopqrstuvwxyz"


def test_ipfs_uri_is_fetched_through_a_gateway(tmp_path, serve):
    gw = serve({f"/ipfs/{CID}": reply(BLOB), f"/ipfs/{CID}/sub/file.bin": reply(BLOB[:10])})
    store = ContentStore(tmp_path / "c", gateways=[gw], timeout=FAST)
    assert store.fetch(f"ipfs://{CID}", DIGEST) == BLOB
    assert store.has(DIGEST)
    sub = hashlib.sha256(BLOB[:10]).hexdigest()
    assert store.fetch(f"ipfs://{CID}/sub/file.bin", sub) == BLOB[:10]


def test_ipfs_falls_back_to_the_next_gateway_and_accepts_templates(tmp_path, serve):
    bad = serve({f"/ipfs/{CID}": reply(b"not it")})
    good = serve({f"/content/{CID}": reply(BLOB)})
    store = ContentStore(tmp_path / "c", gateways=[f"http://127.0.0.1:{free_port()}", bad, good + "/content/{cid}"], timeout=FAST)
    assert store.fetch([f"ipfs://{CID}"], DIGEST) == BLOB


def test_ipfs_gateway_serving_wrong_bytes_raises_hash_mismatch(tmp_path, serve):
    gw = serve({f"/ipfs/{CID}": reply(b"wrong")})
    store = ContentStore(tmp_path / "c", gateways=[gw], timeout=FAST)
    with pytest.raises(HashMismatch, match=f"ipfs://{CID} via {gw}"):
        store.fetch([f"ipfs://{CID}"], DIGEST)


def test_ipfs_without_gateways_raises_store_unavailable(store):
    with pytest.raises(StoreUnavailable, match="no IPFS gateway"):
        store.fetch([f"ipfs://{CID}"], DIGEST)


# ---- several sources ------------------------------------------------------------------------------


def test_fetch_tries_sources_in_order_until_one_verifies(store, source, serve, tmp_path):
    bad = serve({"/bad": reply(b"bad bytes")})
    uris = [f"http://127.0.0.1:{free_port()}/x", source.url_for("2" * 64), f"{bad}/bad", source.url_for(DIGEST)]
    assert store.fetch(uris, DIGEST) == BLOB
    assert store.get(DIGEST) == BLOB


def test_when_all_sources_fail_the_most_telling_error_lists_every_attempt(store, source, serve):
    bad = serve({"/bad": reply(b"bad bytes")})
    missing = "3" * 64
    uris = [source.url_for(missing), f"http://127.0.0.1:{free_port()}/x", f"{bad}/bad"]
    with pytest.raises(HashMismatch) as e:  # wrong bytes beat unreachable beats 404
        store.fetch(uris, missing)
    assert [u for u, _ in e.value.attempts] == uris
    assert [type(err) for _, err in e.value.attempts] == [BlobNotFound, StoreUnavailable, HashMismatch]
    assert "could not be fetched from any of 3 sources" in str(e.value)
    with pytest.raises(StoreUnavailable):
        store.fetch(uris[:2], missing)


def test_damaged_local_copy_is_replaced_by_a_verified_fetch(store, source):
    store.put(BLOB)
    store.path(DIGEST).write_bytes(b"rotted")
    assert store.fetch([source.url_for(DIGEST)], DIGEST) == BLOB
    assert store.get(DIGEST) == BLOB


def test_serve_store_publishes_blobs_put_after_start(tmp_path, store):
    published = ContentStore(tmp_path / "pub")
    srv = serve_store(published)
    try:
        digest = published.put(b"fresh result")
        assert store.fetch([srv.url_for(digest)], digest) == b"fresh result"
    finally:
        srv.stop()


def test_store_dir_defaults_to_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSAY_STORE_DIR", str(tmp_path / "envstore"))
    monkeypatch.setenv("ASSAY_IPFS_GATEWAYS", "http://a:1, http://b:2")
    s = ContentStore()
    assert s.root == tmp_path / "envstore"
    assert s.gateways == ["http://a:1", "http://b:2"]
    assert os.path.commonpath([s.path(DIGEST), s.root]) == str(s.root)
