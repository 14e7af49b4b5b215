"""A real anvil (Foundry's local node) as a subprocess, for tests, demos and benchmarks.

`Anvil` starts the ELF from node_modules/.bin/anvil (or the one on PATH) in its own process group on a
port the OS picks (`--port 0`, read back from anvil's "Listening on" line, so two nodes never race
for a port), waits until it answers JSON-RPC, and on stop kills the whole group. Optional
`--block-time`, `--no-mining`, chain id and state dump/load files; `restart()` stops the node (it
dumps its state) and starts it again on the same port from that state, which is how the fault tests
take the RPC away from running daemons. Never used against a real network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import AssayError
from .accounts import DEV_MNEMONIC

ROOT = Path(__file__).resolve().parents[3]
_LISTENING = re.compile(r"Listening on ([0-9.]+):(\d+)")


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGKILL when the process that started it
    dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG; a no-op elsewhere). Spawn from the main thread:
    the signal fires when the spawning *thread* ends."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class AnvilError(AssayError, RuntimeError):
    """anvil could not be found, did not start, or did not answer."""


def find_anvil() -> str:
    """node_modules/.bin/anvil of this repository, else `anvil` on PATH."""
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found:
        return found
    raise AnvilError(
        f"anvil not found ({local} is missing and no anvil is on PATH)",
        "run `make setup` (installs @foundry-rs/anvil-linux-amd64 from npm) or install Foundry",
    )


class Anvil:
    """One anvil process. Use as a context manager, or call start() / stop()."""

    def __init__(
        self,
        *,
        block_time: float | None = None,
        no_mining: bool = False,
        chain_id: int | None = None,
        accounts: int = 10,
        mnemonic: str = DEV_MNEMONIC,
        dump_state: str | os.PathLike[str] | None = None,
        load_state: str | os.PathLike[str] | None = None,
        hardfork: str | None = "cancun",
        host: str = "127.0.0.1",
        port: int = 0,
        extra_args: tuple[str, ...] = (),
        binary: str | None = None,
        start_timeout: float = 15.0,
        die_with_parent: bool = False,
    ):
        if block_time is not None and no_mining:
            raise ValueError("block_time and no_mining exclude each other")
        self.block_time = block_time
        self.no_mining = no_mining
        self.chain_id = chain_id
        self.accounts = accounts
        self.mnemonic = mnemonic
        self.dump_state = Path(dump_state) if dump_state else None
        self.load_state = Path(load_state) if load_state else None
        self.hardfork = hardfork
        self.host = host
        self.port = port
        self.extra_args = tuple(extra_args)
        self.binary = binary
        self.start_timeout = start_timeout
        self.die_with_parent = die_with_parent  # SIGKILL anvil when this process dies (benchmarks, tests)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.log_path: Path | None = None

    # ------------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        cmd = [self.binary or find_anvil(), "--host", self.host, "--port", str(self.port)]
        cmd += ["--accounts", str(self.accounts), "--mnemonic", self.mnemonic]
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        if self.no_mining:
            cmd += ["--no-mining"]
        if self.chain_id is not None:
            cmd += ["--chain-id", str(self.chain_id)]
        if self.hardfork:
            cmd += ["--hardfork", self.hardfork]
        if self.load_state is not None:
            if not self.load_state.exists():
                raise AnvilError(
                    f"anvil state file {self.load_state} does not exist", "dump a state first (dump_state=)"
                )
            cmd += ["--load-state", str(self.load_state)]
        if self.dump_state is not None:
            cmd += ["--dump-state", str(self.dump_state)]
        return cmd + list(self.extra_args)

    def start(self) -> "Anvil":
        if self.proc is not None:
            return self
        cmd = self.command()
        fd, log_path = tempfile.mkstemp(prefix="assay-anvil-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_path)
        self._log_file = open(self.log_path, "wb")
        # Own process group: stop() kills anvil and anything it spawned, never our own group.
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent if self.die_with_parent else None,
        )
        try:
            self._wait_ready()
            if self.load_state is not None:
                self._continue_clock()
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, down: float = 0.0) -> "Anvil":
        """Stop (SIGTERM: anvil writes `dump_state`), stay down `down` seconds, start again on the same
        port from the dumped state: same chain, same blocks and balances, same URL."""
        if self.dump_state is None:
            raise AnvilError("restart() needs dump_state= (the state the node comes back with)",
                             "create the Anvil with dump_state=PATH")
        self.stop()
        if down > 0:
            time.sleep(down)
        self.load_state = self.dump_state
        return self.start()

    def _continue_clock(self) -> None:
        """anvil does not keep the time offset (evm_increaseTime) in a dumped state: loaded, its next
        block would be stamped with the wall clock, *before* the last block when the chain had been
        moved ahead — deadlines would run backwards. Set the clock to just after the last block then."""
        last = self.rpc("eth_getBlockByNumber", ["latest", False])
        ts = int(last["timestamp"], 16)
        if ts >= int(time.time()):
            self.rpc("evm_setTime", [ts + 1])

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.log_path is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AnvilError(
                    f"anvil exited with code {self.proc.returncode} while starting:\n{self.log_tail()}",
                    "check the options (state file, port) and the log above",
                )
            if self.port == 0:
                m = _LISTENING.search(self.log_path.read_text(errors="replace"))
                if m:
                    self.port = int(m.group(2))
            if self.port and self._answers():
                return
            time.sleep(0.05)
        raise AnvilError(
            f"anvil did not answer within {self.start_timeout:g}s:\n{self.log_tail()}",
            "the machine may be overloaded; raise start_timeout",
        )

    def _answers(self) -> bool:
        try:
            self.rpc("eth_chainId", [], timeout=1.0)
            return True
        except (OSError, urllib.error.URLError, AnvilError):
            return False

    def stop(self, timeout: float = 10.0, *, keep_log: bool = False) -> None:
        """SIGTERM the process group (anvil writes --dump-state then), SIGKILL if it lingers; removes
        the log file unless `keep_log`."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if not keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "Anvil":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ helpers
    @property
    def url(self) -> str:
        if not self.port:
            raise AnvilError("anvil is not started", "call start() first")
        return f"http://{self.host}:{self.port}"

    def rpc(self, method: str, params: list[Any] | None = None, *, timeout: float = 10.0) -> Any:
        """One JSON-RPC call with the standard library (no web3 needed); raises AnvilError on an error reply."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.loads(r.read())
        if "error" in reply:
            raise AnvilError(f"anvil {method} failed: {reply['error']}")
        return reply.get("result")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", [enabled])

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", [snapshot_id]))

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
