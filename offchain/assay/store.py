"""Content store: blobs addressed by their sha256, kept in a local directory, fetched from URIs.

Models, inputs, outputs and traces travel as blobs named by the sha256 of their bytes. The local
store is a directory (``$ASSAY_STORE_DIR``, else ``~/.assay/store``) sharded as ``ab/cd/<hex>``;
every write goes to a temp file in the same directory tree and is moved into place with
``os.replace``, so a reader (or a kill -9) never sees half a blob. Remote sources are tried in order:

- ``assay://<hex>`` or ``sha256:<hex>`` — the local store;
- ``file:///path`` — a local file;
- ``http://…`` / ``https://…`` — streamed with connect/read timeouts, a total deadline and a size cap;
- ``ipfs://<cid>[/path]`` — through the configured HTTP gateways, in order.

This module must never hand out, cache or serve-as-verified bytes it has not hashed: every blob is
checked against the sha256 the caller expects before it is returned or written to the store (a CID
is only a locator here; the sha256 is what is trusted). :class:`StoreServer` serves a store
directory over HTTP (read-only) so a worker can publish blobs and tests can fetch over real HTTP.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import AssayError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB; a full trace of a vision model is ~60–400 MB
DEFAULT_TIMEOUT = (3.05, 30.0)  # (connect, read) seconds, per socket operation
DEFAULT_TOTAL_TIMEOUT = 300.0  # whole download, so a trickling server cannot hold us forever
DEFAULT_GATEWAYS = ("http://127.0.0.1:8080", "https://ipfs.io", "https://dweb.link")
CHUNK = 1 << 16

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CID = re.compile(r"[A-Za-z0-9]{8,128}")
_IPFS_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


# --------------------------------------------------------------------------------------------------
# errors


class StoreError(AssayError):
    """Base of content-store errors. ``uri`` names the source when there is one; ``attempts`` lists
    (uri, error) for every source tried when several were."""

    hint = "check the URI, or fetch the blob from another source"

    def __init__(self, message: str, hint: str | None = None, *, uri: str | None = None):
        super().__init__(message, hint)
        self.uri = uri
        self.attempts: list[tuple[str, StoreError]] = []


class InvalidDigest(StoreError, ValueError):
    """A digest is not 32 bytes / 64 hex characters."""

    hint = "pass the sha256 of the blob as 64 hex characters (optionally 0x-prefixed) or 32 bytes"


class InvalidURI(StoreError, ValueError):
    """A URI has an unknown scheme or a malformed body."""

    hint = "use assay://<sha256>, sha256:<hex>, file:///path, http(s)://… or ipfs://<cid>"


class BlobNotFound(StoreError, LookupError):
    """No source had the blob (not in the local store, 404, missing file)."""

    hint = "publish the blob (ContentStore.put + a StoreServer/gateway) or give a URI that has it"


class HashMismatch(StoreError, ValueError):
    """A source returned bytes whose sha256 differs from the expected one."""

    hint = "the source is corrupt or dishonest; never use these bytes — try another source"

    def __init__(self, expected: str, got: str, uri: str | None, hint: str | None = None, *, message: str | None = None):
        self.expected = expected
        self.got = got
        where = uri or "the local store"
        super().__init__(message or f"sha256 mismatch for {where}: expected {expected}, got {got}", hint, uri=uri)


class TooLarge(StoreError, ValueError):
    """A blob is larger than the size limit of the request."""

    hint = "raise max_bytes if you trust this blob's size, or check that the URI is the right one"

    def __init__(self, limit: int, size: int | None, uri: str | None, hint: str | None = None, *, message: str | None = None):
        self.limit = limit
        self.size = size
        where = uri or "the local store"
        got = f"{size} bytes" if size is not None else "more bytes"
        super().__init__(message or f"blob from {where} is too large: {got} > limit {limit} bytes", hint, uri=uri)


class StoreUnavailable(StoreError, ConnectionError):
    """A source could not be reached, timed out, or answered with a server error."""

    hint = "check that the server or gateway is up and reachable, then retry (or try another source)"


# Which error to raise when every source failed: the most telling one wins.
_SEVERITY = {HashMismatch: 5, TooLarge: 4, StoreUnavailable: 3, BlobNotFound: 2, InvalidURI: 1}


# --------------------------------------------------------------------------------------------------
# digests and URIs


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_digest(digest: str | bytes | bytearray) -> str:
    """64 lowercase hex characters from hex (any case, optional 0x) or 32 raw bytes."""
    if isinstance(digest, (bytes, bytearray)):
        if len(digest) != 32:
            raise InvalidDigest(f"a sha256 digest is 32 bytes, got {len(digest)}")
        return bytes(digest).hex()
    if not isinstance(digest, str):
        raise InvalidDigest(f"a sha256 digest must be str or bytes, got {type(digest).__name__}")
    h = digest.strip().lower()
    if h.startswith("0x"):
        h = h[2:]
    if not _HEX64.fullmatch(h):
        raise InvalidDigest(f"not a sha256 hex digest: {digest!r}")
    return h


def blob_uri(digest: str | bytes) -> str:
    """The store-local URI of a blob: ``assay://<hex>``."""
    return f"assay://{normalize_digest(digest)}"


def _uri_digest(uri: str) -> str | None:
    """The digest named by an assay:// or sha256: URI, else None."""
    if uri.startswith("assay://"):
        body = uri[len("assay://") :].rstrip("/")
    elif uri.startswith("sha256:"):
        body = uri[len("sha256:") :]
    else:
        return None
    try:
        return normalize_digest(body)
    except InvalidDigest as e:
        raise InvalidURI(f"malformed content URI {uri!r}: {e.args[0]}", uri=uri) from None


# --------------------------------------------------------------------------------------------------
# the store


class ContentStore:
    """A local directory of sha256-addressed blobs plus fetching from URIs into it.

    ``gateways`` are IPFS HTTP gateways: a base URL (``http://host:8080`` → ``/ipfs/<cid>``) or a
    template containing ``{cid}``. ``timeout`` is (connect, read) seconds per socket operation and
    ``total_timeout`` bounds a whole download.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        gateways: Sequence[str] | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        session=None,
    ):
        if root is None:
            root = os.environ.get("ASSAY_STORE_DIR") or Path.home() / ".assay" / "store"
        self.root = Path(root).expanduser()
        if gateways is None:
            env = os.environ.get("ASSAY_IPFS_GATEWAYS")
            gateways = [g.strip() for g in env.split(",") if g.strip()] if env else list(DEFAULT_GATEWAYS)
        self.gateways = list(gateways)
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self._session = session

    def __repr__(self) -> str:
        return f"ContentStore({str(self.root)!r})"

    # ---- local blobs -----------------------------------------------------------------------------

    def path(self, digest: str | bytes) -> Path:
        """Where the blob lives (whether or not it exists)."""
        h = normalize_digest(digest)
        return self.root / h[:2] / h[2:4] / h

    def has(self, digest: str | bytes) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes | bytearray | memoryview) -> str:
        """Store ``data``; returns its sha256 hex. Idempotent and atomic."""
        digest = sha256_hex(data)
        if self.has(digest):
            return digest
        with self._temp_file() as (f, tmp):
            f.write(data)
            self._commit(f, tmp, digest)
        return digest

    def put_file(self, src: str | os.PathLike[str]) -> str:
        """Store a file's bytes (streamed, so large traces need not fit in memory); returns sha256 hex."""
        h = hashlib.sha256()
        with self._temp_file() as (f, tmp), open(src, "rb") as inp:
            while chunk := inp.read(CHUNK):
                h.update(chunk)
                f.write(chunk)
            digest = h.hexdigest()
            if self.has(digest):
                return digest
            self._commit(f, tmp, digest)
        return digest

    def get(self, digest: str | bytes, max_bytes: int | None = None) -> bytes:
        """The blob's bytes from the local store, re-hashed on read (a damaged file raises
        HashMismatch). Raises BlobNotFound if absent, TooLarge if bigger than ``max_bytes``."""
        h = normalize_digest(digest)
        p = self.path(h)
        limit = self.max_bytes if max_bytes is None else max_bytes
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(
                f"blob {h} is not in the local store {self.root}",
                "fetch it from a URI first (ContentStore.fetch) or check the digest",
                uri=blob_uri(h),
            ) from None
        if size > limit:
            raise TooLarge(limit, size, blob_uri(h))
        data = p.read_bytes()
        got = sha256_hex(data)
        if got != h:
            raise HashMismatch(h, got, blob_uri(h), f"the local file {p} is damaged: delete it and fetch the blob again")
        return data

    def delete(self, digest: str | bytes) -> bool:
        """Remove a blob; True if it was there."""
        try:
            self.path(digest).unlink()
            return True
        except FileNotFoundError:
            return False

    # ---- fetching ----------------------------------------------------------------------------------

    def fetch(self, uris: str | Iterable[str], expected_sha256: str | bytes, max_bytes: int | None = None) -> bytes:
        """The blob with sha256 ``expected_sha256``: from the local store if there, else from each URI
        in order; the first source whose bytes hash right wins and is cached locally.

        If every source fails, raises the most telling error (HashMismatch > TooLarge >
        StoreUnavailable > BlobNotFound), its message listing every attempt and ``.attempts`` holding
        them. Never returns bytes whose hash was not checked."""
        return self.fetch_path(uris, expected_sha256, max_bytes).read_bytes()

    def fetch_path(self, uris: str | Iterable[str], expected_sha256: str | bytes, max_bytes: int | None = None) -> Path:
        """Like :meth:`fetch` but returns the path of the verified blob in the local store."""
        h = normalize_digest(expected_sha256)
        limit = self.max_bytes if max_bytes is None else max_bytes
        if self.has(h):
            try:
                self._verify_local(h, limit)
                return self.path(h)
            except HashMismatch:
                self.delete(h)  # damaged local copy: drop it and fetch again
        uri_list = [uris] if isinstance(uris, str) else list(uris)
        if not uri_list:
            raise BlobNotFound(f"blob {h} is not in the local store {self.root} and no URI was given", uri=blob_uri(h))
        attempts: list[tuple[str, StoreError]] = []
        for uri in uri_list:
            try:
                return self._fetch_one(uri, h, limit)
            except StoreError as e:
                attempts.append((uri, e))
        raise _combine(h, attempts)

    def _verify_local(self, h: str, limit: int) -> None:
        p = self.path(h)
        size = p.stat().st_size
        if size > limit:
            raise TooLarge(limit, size, blob_uri(h))
        d = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK):
                d.update(chunk)
        if d.hexdigest() != h:
            raise HashMismatch(h, d.hexdigest(), blob_uri(h))

    def _fetch_one(self, uri: str, h: str, limit: int) -> Path:
        if not isinstance(uri, str) or not uri:
            raise InvalidURI(f"a URI must be a non-empty string, got {uri!r}", uri=str(uri))
        named = _uri_digest(uri)
        if named is not None:  # assay:// or sha256: → the local store
            if named != h:
                raise HashMismatch(h, named, uri, "the URI names a different blob than the one expected")
            if not self.has(h):
                raise BlobNotFound(f"blob {h} is not in the local store {self.root}", uri=uri)
            self._verify_local(h, limit)
            return self.path(h)
        scheme = urllib.parse.urlsplit(uri).scheme.lower()
        if scheme == "file":
            return self._download(uri, h, limit, self._open_file)
        if scheme in ("http", "https"):
            return self._download(uri, h, limit, self._stream_http)
        if scheme == "ipfs":
            return self._fetch_ipfs(uri, h, limit)
        raise InvalidURI(f"unsupported URI scheme {scheme or '(none)'!r} in {uri!r}", uri=uri)

    def _fetch_ipfs(self, uri: str, h: str, limit: int) -> Path:
        body = uri[len("ipfs://") :]
        cid, _, rest = body.partition("/")
        if not _CID.fullmatch(cid) or not _IPFS_PATH.fullmatch(rest) or ".." in rest.split("/"):
            raise InvalidURI(f"malformed IPFS URI {uri!r}: expected ipfs://<cid>[/path]", uri=uri)
        if not self.gateways:
            raise StoreUnavailable(f"no IPFS gateway configured to fetch {uri}", "pass gateways=[...] or set ASSAY_IPFS_GATEWAYS", uri=uri)
        attempts: list[tuple[str, StoreError]] = []
        for gw in self.gateways:
            url = gw.format(cid=cid) if "{cid}" in gw else f"{gw.rstrip('/')}/ipfs/{cid}"
            if rest:
                url = f"{url.rstrip('/')}/{rest}"
            try:
                return self._download(url, h, limit, self._stream_http, shown_uri=f"{uri} via {gw}")
            except StoreError as e:
                attempts.append((url, e))
        raise _combine(h, attempts)

    def _download(self, uri: str, h: str, limit: int, opener, shown_uri: str | None = None) -> Path:
        """Stream a source into a temp file while hashing; move it into the store only if it matches."""
        shown = shown_uri or uri
        d = hashlib.sha256()
        with self._temp_file() as (f, tmp):
            for chunk in opener(uri, limit, shown):
                d.update(chunk)
                f.write(chunk)
            got = d.hexdigest()
            if got != h:
                raise HashMismatch(h, got, shown)
            if self.has(h):  # a concurrent fetch won the race; its copy is as good as ours
                return self.path(h)
            self._commit(f, tmp, h)
        return self.path(h)

    def _open_file(self, uri: str, limit: int, shown: str):
        parts = urllib.parse.urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidURI(f"file URI with a remote host {parts.netloc!r}: {uri}", "use file:///absolute/path", uri=uri)
        path = Path(urllib.parse.unquote(parts.path))
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"no file at {path} (from {shown})", uri=shown) from None
        except OSError as e:
            raise StoreUnavailable(f"cannot read {path} (from {shown}): {e}", uri=shown) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise TooLarge(limit, size, shown)
            n = 0
            while chunk := f.read(CHUNK):
                n += len(chunk)
                if n > limit:  # the file grew while we read it
                    raise TooLarge(limit, None, shown)
                yield chunk

    def _http(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _stream_http(self, url: str, limit: int, shown: str):
        import requests

        deadline = time.monotonic() + self.total_timeout
        try:
            with self._http().get(url, stream=True, timeout=self.timeout, headers={"Accept-Encoding": "identity"}) as r:
                if r.status_code in (404, 410):
                    raise BlobNotFound(f"{shown} answered HTTP {r.status_code}: the blob is not there", uri=shown)
                if r.status_code >= 400:
                    raise StoreUnavailable(f"{shown} answered HTTP {r.status_code} {r.reason}", uri=shown)
                declared = r.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise TooLarge(limit, int(declared), shown)
                n = 0
                for chunk in _chunks(r):
                    n += len(chunk)
                    if n > limit:
                        raise TooLarge(limit, None, shown)
                    if time.monotonic() > deadline:
                        raise StoreUnavailable(
                            f"{shown} is too slow: {n} bytes after {self.total_timeout:g} s",
                            "retry later or use another source (or raise total_timeout)",
                            uri=shown,
                        )
                    yield chunk
        except requests.exceptions.Timeout as e:
            raise StoreUnavailable(f"{shown} timed out ({_timeout_str(self.timeout)}): {_short(e)}", uri=shown) from None
        except requests.exceptions.ConnectionError as e:
            raise StoreUnavailable(f"cannot connect to {shown}: {_short(e)}", uri=shown) from None
        except requests.exceptions.RequestException as e:
            raise StoreUnavailable(f"HTTP request to {shown} failed: {_short(e)}", uri=shown) from None

    # ---- atomic writes -------------------------------------------------------------------------

    class _Temp:
        def __init__(self, store: ContentStore):
            self.store = store

        def __enter__(self) -> tuple[BinaryIO, str]:
            tmpdir = self.store.root / ".tmp"
            tmpdir.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(dir=tmpdir, prefix="blob-")
            self.f = os.fdopen(fd, "wb")
            return self.f, self.tmp

        def __exit__(self, *exc) -> None:
            self.f.close()
            Path(self.tmp).unlink(missing_ok=True)  # no-op once committed (moved away)

    def _temp_file(self) -> ContentStore._Temp:
        return ContentStore._Temp(self)

    def _commit(self, f: BinaryIO, tmp: str, digest: str) -> None:
        f.flush()
        os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        dest = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)


def _combine(h: str, attempts: list[tuple[str, StoreError]]) -> StoreError:
    """One error for several failed sources: the most telling kind, listing every attempt."""
    if len(attempts) == 1:
        err = attempts[0][1]
        err.attempts = attempts
        return err
    worst = max(attempts, key=lambda a: _SEVERITY.get(type(a[1]), 0))[1]
    lines = "; ".join(f"[{i + 1}] {type(e).__name__}: {e.args[0]}" for i, (_, e) in enumerate(attempts))
    message = f"blob {h} could not be fetched from any of {len(attempts)} sources: {lines}"
    if isinstance(worst, HashMismatch):
        err: StoreError = HashMismatch(worst.expected, worst.got, worst.uri, worst.hint, message=message)
    elif isinstance(worst, TooLarge):
        err = TooLarge(worst.limit, worst.size, worst.uri, worst.hint, message=message)
    else:
        err = type(worst)(message, worst.hint, uri=worst.uri)
    err.attempts = attempts
    return err


def _chunks(r):
    """Body chunks as they arrive (not buffered up to CHUNK), so the total deadline is checked even
    against a server that trickles a byte at a time."""
    read1 = getattr(r.raw, "read1", None)
    if read1 is None:  # urllib3 < 2.3
        yield from r.iter_content(CHUNK)
        return
    while chunk := read1(CHUNK, decode_content=True):
        yield chunk


def _short(e: Exception) -> str:
    s = str(e)
    return s if len(s) <= 200 else s[:197] + "..."


def _timeout_str(t: float | tuple[float, float]) -> str:
    return f"connect {t[0]:g} s, read {t[1]:g} s" if isinstance(t, tuple) else f"{t:g} s"


# --------------------------------------------------------------------------------------------------
# serving a store over HTTP


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    store: ContentStore  # set on a per-server subclass
    server_version = "assay-store/1"
    _ROUTE = re.compile(r"/(?:blobs|sha256)/([0-9a-fA-F]{64})/?")

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        path = urllib.parse.urlsplit(self.path).path
        m = self._ROUTE.fullmatch(path)
        if not m:
            self.send_error(404, "not a blob path; use /blobs/<sha256 hex>")
            return
        p = self.store.path(m.group(1))
        try:
            f = open(p, "rb")
        except FileNotFoundError:
            self.send_error(404, "blob not in this store")
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("ETag", f'"sha256:{m.group(1).lower()}"')
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
            self.end_headers()
            if body:
                try:
                    shutil.copyfileobj(f, self.wfile, CHUNK)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (e.g. it hit its size limit)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # quiet: daemons log what matters themselves


class StoreServer:
    """Serve a store read-only over HTTP from a background thread: ``GET /blobs/<sha256hex>``.

    Serves bytes as stored (clients verify them). Use as a context manager or call start()/stop();
    ``port=0`` picks a free port. ``url_for(digest)`` gives the URL to publish.
    """

    def __init__(self, store: ContentStore | str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0):
        self.store = store if isinstance(store, ContentStore) else ContentStore(store)
        handler = type("BlobHandler", (_BlobHandler,), {"store": self.store})
        self._httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, digest: str | bytes) -> str:
        return f"{self.url}/blobs/{normalize_digest(digest)}"

    def start(self) -> StoreServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name=f"assay-store:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> StoreServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_store(store: ContentStore | str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0) -> StoreServer:
    """Start serving ``store`` over HTTP; returns the running server (call ``.stop()``)."""
    return StoreServer(store, host, port).start()
