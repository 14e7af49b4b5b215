"""The report's pictures (matplotlib, Agg backend, PNG). Each function takes the measured data and a
path and draws one figure; none of them computes a figure of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def gas_by_batch(table: dict[str, int], batches: list[int], goal: int, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    xs = [str(b) for b in batches]
    c = [table[f"claimJobs_per_job_batch{b}"] for b in batches]
    p = [table[f"postResults_per_job_batch{b}"] for b in batches]
    f = [table[f"finalizeJobs_per_job_batch{b}"] for b in batches]
    ax.bar(xs, c, label="claimJobs")
    ax.bar(xs, p, bottom=c, label="postResults")
    ax.bar(xs, f, bottom=[a + b for a, b in zip(c, p)], label="finalizeJobs")
    for i, b in enumerate(batches):
        tot = table[f"worker_per_job_batch{b}"]
        ax.text(i, tot * 1.01, f"{tot:,}", ha="center", va="bottom", fontsize=8)
    ax.axhline(goal, color="k", ls="--", lw=1, label=f"goal ≤ {goal:,}")
    ax.set_xlabel("jobs per batch")
    ax.set_ylabel("worker gas per job")
    ax.set_title("Worker gas per job vs batch size (claim + post + finalize)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def scaling(points: list[dict[str, Any]], ort_rate: float | None, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ks = [p["workers"] for p in points]
    med = [p["rate"]["median"] for p in points]
    lo = [p["rate"]["median"] - p["rate"]["min"] for p in points]
    hi = [p["rate"]["max"] - p["rate"]["median"] for p in points]
    ax.errorbar(ks, med, yerr=[lo, hi], marker="o", capsize=4, label="workers (median, min–max)")
    if ort_rate:
        ax.axhline(ort_rate, color="gray", ls=":", label=f"plain onnxruntime, 1 process ({ort_rate:.0f}/s)")
    ax.set_xticks(ks)
    ax.set_xlabel("worker processes on one devnet")
    ax.set_ylabel("jobs / s")
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput vs worker processes (bench CNN)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def throughput(rows: list[dict[str, Any]], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = [r["model"] for r in rows]
    x = range(len(rows))
    w = 0.38
    ax.bar([i - w / 2 for i in x], [r["ort_rate"]["median"] for r in rows], w, label="plain onnxruntime (inferences/s)")
    ax.bar([i + w / 2 for i in x], [r["worker_rate"]["median"] for r in rows], w, label="worker (jobs/s, chain included)")
    for i, r in enumerate(rows):
        ax.text(i + w / 2, r["worker_rate"]["median"] * 1.15, f"ratio {r['ratio']['median']:.3g}", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names)
    ax.set_ylabel("per second (log)")
    ax.set_title("Worker throughput vs plain onnxruntime (same inputs, same run)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def latency(samples: list[float], backlog: list[int], goal: float, path: Path, title: str) -> str:
    import numpy as np

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    bx.scatter(backlog, samples, s=12)
    bx.axhline(goal, color="k", ls="--", lw=1)
    bx.set_xlabel("jobs posted by this worker, not yet final")
    bx.set_ylabel("overhead (ms)")
    bx.set_title("overhead vs the worker's posted backlog", fontsize=10)
    s = np.sort(np.asarray(samples))
    ax.plot(s, np.arange(1, len(s) + 1) / len(s), drawstyle="steps-post")
    ax.axvline(goal, color="k", ls="--", lw=1, label=f"goal p50 ≤ {goal:g} ms")
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set_xlabel("submit mined → result posted, minus inference (ms)")
    ax.set_ylabel("fraction of jobs")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def timeline(tl: dict[str, Any], path: Path, title: str) -> str:
    rows = sorted(tl["jobs"], key=lambda r: r["job"])
    fig, ax = plt.subplots(figsize=(7.2, max(3.4, 0.06 * len(rows) + 2.0)))
    for i, r in enumerate(rows):
        ax.plot([0, r["claimed"]], [i, i], color="#dddddd", lw=2, solid_capstyle="butt")
        ax.plot([r["claimed"], r["infer_start"]], [i, i], color="#9ecae1", lw=2, solid_capstyle="butt")
        ax.plot([r["infer_start"], r["infer_end"]], [i, i], color="#d62728", lw=3, solid_capstyle="butt")
        ax.plot([r["infer_end"], r["posted"]], [i, i], color="#fdae6b", lw=2, solid_capstyle="butt")
    from matplotlib.lines import Line2D

    ax.legend([Line2D([], [], color=c, lw=3) for c in ("#dddddd", "#9ecae1", "#d62728", "#fdae6b")],
              ["open (until the claim is mined)", "claimed, waiting / fetching input", "inference",
               "computed, until the post is mined"], fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    ax.set_xlabel("seconds after the block with the jobs was mined")
    ax.set_ylabel("job (in id order)")
    ax.set_title(title)
    ax.invert_yaxis()
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)
