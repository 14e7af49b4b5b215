"""The worker's SQLite journal: what this worker has computed and sent, so a restart resumes work.

The chain is the source of truth for job state; the journal is a cache of what the chain cannot
tell cheaply: the open jobs discovered from events (so a restart, whose event scan resumes after
them, still sees them), the outputs this worker computed (so a restart after a kill -9 posts the same bytes instead of
running the model again), the transactions it sent, failures per job (so a job that keeps failing is
given up rather than retried forever) and the block up to which events were scanned. Every write is
one SQLite transaction (WAL mode), so a crash at any point leaves either the old or the new row.
This module must never decide what to do: the loop does, from chain state plus these rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      INTEGER PRIMARY KEY,
    model_id    TEXT NOT NULL,
    phase       TEXT NOT NULL,            -- open | seen | claimed | computed | posted | finalized | failed | lost
    output      BLOB,                     -- canonical output container (what is posted / published)
    output_root TEXT,
    infer_ms    REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    txs         TEXT NOT NULL DEFAULT '[]', -- JSON list of {"kind", "hash", "at"}
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

TERMINAL = ("finalized", "failed", "lost")


@dataclass(frozen=True)
class JobRow:
    job_id: int
    model_id: str
    phase: str
    output: bytes | None
    output_root: str | None
    infer_ms: float | None
    attempts: int
    last_error: str | None
    txs: list[dict]


class Journal:
    """A thread-safe wrapper over one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ key/value
    def get(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------ jobs
    def job(self, job_id: int) -> JobRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, model_id, phase, output, output_root, infer_ms, attempts, last_error, txs "
                "FROM jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        return _row(row) if row else None

    def active_jobs(self) -> list[JobRow]:
        """Jobs this worker still has business with (not finalized, failed or lost)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, model_id, phase, output, output_root, infer_ms, attempts, last_error, txs "
                f"FROM jobs WHERE phase NOT IN {TERMINAL} ORDER BY job_id"
            ).fetchall()
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT phase, COUNT(*) FROM jobs GROUP BY phase").fetchall()
        return {p: n for p, n in rows}

    def upsert(self, job_id: int, model_id: str, phase: str) -> None:
        """Record a job in `phase`, creating it if new (output and history are kept)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs(job_id, model_id, phase, updated_at) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at",
                (job_id, model_id, phase, time.time()),
            )

    def remember_open(self, job_id: int, model_id: str, *, reopened: bool = False) -> None:
        """Record a job seen open (JobSubmitted, or JobReopened when `reopened`) without touching a row
        this worker already has; a re-opened job this worker had `lost` becomes `open` again."""
        on_conflict = "DO UPDATE SET phase = 'open', updated_at = excluded.updated_at WHERE jobs.phase = 'lost'" \
            if reopened else "DO NOTHING"
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs(job_id, model_id, phase, updated_at) VALUES(?, ?, 'open', ?) "
                f"ON CONFLICT(job_id) {on_conflict}",
                (job_id, model_id, time.time()),
            )

    def set_phase(self, job_id: int, phase: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET phase = ?, updated_at = ? WHERE job_id = ?", (phase, time.time(), job_id))

    def record_output(self, job_id: int, output: bytes, output_root: str, infer_ms: float) -> None:
        """Store the computed output (atomically with the phase change to `computed`)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET output = ?, output_root = ?, infer_ms = ?, phase = 'computed', last_error = NULL, "
                "updated_at = ? WHERE job_id = ?",
                (output, output_root, infer_ms, time.time(), job_id),
            )

    def record_failure(self, job_id: int, error: str) -> int:
        """Count one more failed attempt; returns the number of attempts so far."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE job_id = ?",
                (error[:2000], time.time(), job_id),
            )
            row = self._db.execute("SELECT attempts FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else 0

    def record_tx(self, job_ids: list[int], kind: str, tx_hash: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for jid in job_ids:
                    row = self._db.execute("SELECT txs FROM jobs WHERE job_id = ?", (jid,)).fetchone()
                    if row is None:
                        continue
                    txs = json.loads(row[0])
                    txs.append({"kind": kind, "hash": tx_hash, "at": time.time()})
                    self._db.execute("UPDATE jobs SET txs = ? WHERE job_id = ?", (json.dumps(txs), jid))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise


def _row(r: tuple) -> JobRow:
    return JobRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
