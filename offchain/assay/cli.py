"""`assay` — the command line for every actor: devnet, model owners, workers, requesters.

A thin layer over :class:`assay.sdk.Assay` (click + rich): it parses options, shows progress and
tables, and turns every :class:`AssayError` into a red message with its hint and exit code 1 —
never a traceback for a problem the user can fix.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from .errors import AssayError, ConfigError

console = Console(stderr=True)
out = Console()
DEVNET_FILE = Path(".assay/devnet.json")
UNIT = 10**18


# ---------------------------------------------------------------------- helpers
def tokens(s: str) -> int:
    """'1.5' tokens -> 1500000000000000000 units."""
    try:
        v = Decimal(s.strip())
    except InvalidOperation as e:
        raise click.BadParameter(f"{s!r} is not a number of tokens (e.g. 0.5)") from e
    if not v.is_finite():
        raise click.BadParameter(f"{s!r} is not a finite number of tokens (e.g. 0.5)")
    if v < 0:
        raise click.BadParameter(f"{s!r}: amounts cannot be negative")
    units = v * UNIT
    if units != units.to_integral_value():
        raise click.BadParameter(f"{s!r} has more than 18 decimals: the smallest amount is 0.000000000000000001 "
                                 "token (1 unit)")
    return int(units)


def fmt_tokens(units: int) -> str:
    return f"{Decimal(units) / UNIT:f}".rstrip("0").rstrip(".") if units else "0"


class Ctx:
    def __init__(self, network: str, rpc_url: str | None, account: str | None, key_file: str | None,
                 keystore: str | None, store_dir: str, as_json: bool, deployment: str | None = None):
        self.deployment = deployment
        self.network = network
        self.rpc_url = rpc_url
        self.account = account
        self.key_file = key_file
        self.keystore = keystore
        self.store_dir = store_dir
        self.as_json = as_json
        self._sdk = None

    @property
    def local(self) -> bool:
        return self.network.split(":")[1:2] == ["local"] or self.network == "local"

    def rpc(self) -> str:
        if self.rpc_url:
            return self.rpc_url
        if self.local and DEVNET_FILE.exists():
            return json.loads(DEVNET_FILE.read_text())["rpc_url"]
        return "http://127.0.0.1:8545"

    def signer(self):
        from .chain.accounts import load_account

        dev = None
        if self.account is not None:
            try:
                dev = int(self.account.removeprefix("dev:"))
            except ValueError as e:
                raise ConfigError(f"--account {self.account!r} is not a dev account index",
                                  "use --account N (local devnet), --key-file or --keystore") from e
        elif self.local and not (self.key_file or self.keystore or os.environ.get("ASSAY_PRIVATE_KEY")):
            dev = 0
        return load_account(key_file=self.key_file, keystore=self.keystore, dev_index=dev, local=self.local)

    def sdk(self, *, read_only: bool = False):
        if self._sdk is None:
            from .sdk import Assay

            acct = None if read_only else self.signer()
            self._sdk = Assay.connect(self.rpc(), self.network, account=acct, store_dir=self.store_dir,
                                      deployment_file=self.deployment)
        return self._sdk

    def emit(self, data: Any, human: Any = None) -> None:
        if self.as_json:
            out.print_json(json.dumps(data, default=_jsonable))
        elif human is not None:
            out.print(human)
        else:
            out.print(data)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if hasattr(v, "name"):
        return v.name
    return str(v)


class AssayGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssayError as e:
            msg = str(e)
            # soft_wrap: never break a path or an id across lines (the text must stay copyable)
            console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            sys.exit(1)


@click.group(cls=AssayGroup)
@click.option("--network", default=lambda: os.environ.get("ASSAY_NETWORK", "ethereum:local"), show_default="ethereum:local",
              help="deployment to use: deployments/<ecosystem>-<network>.json")
@click.option("--rpc-url", default=lambda: os.environ.get("ASSAY_RPC_URL"), help="JSON-RPC endpoint (env ASSAY_RPC_URL)")
@click.option("--account", default=None, help="local devnet: index of a development account (0-9)")
@click.option("--key-file", default=None, type=click.Path(dir_okay=False), help="file holding a private key (chmod 600)")
@click.option("--keystore", default=None, type=click.Path(dir_okay=False),
              help="encrypted keystore JSON; password in env ASSAY_KEYSTORE_PASSWORD")
@click.option("--deployment", default=lambda: os.environ.get("ASSAY_DEPLOYMENT"), type=click.Path(dir_okay=False),
              help="deployment file (default: deployments/<ecosystem>-<network>.json)")
@click.option("--store", "store_dir", default=".assay/store", show_default=True, help="local content store")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def main(ctx, network, rpc_url, account, key_file, keystore, deployment, store_dir, as_json):
    """Assay: verifiable ONNX inference on Ethereum."""
    logging.basicConfig(level=os.environ.get("ASSAY_LOG", "WARNING"), format="%(message)s")
    ctx.obj = Ctx(network, rpc_url, account, key_file, keystore, store_dir, as_json, deployment)


# ---------------------------------------------------------------------- devnet
@main.group()
def devnet():
    """A local anvil with Assay deployed and test tokens funded."""


@devnet.command("up")
@click.option("--port", default=8545, show_default=True)
@click.option("--fund", default="1000", show_default=True, help="TestToken minted to each dev account")
@click.pass_obj
def devnet_up(c: Ctx, port: int, fund: str):
    """Start anvil, deploy Assay (config/deploy.yaml, `local`), fund the dev accounts."""
    from .devnet import up

    info = up(port=port, fund=tokens(fund), log=lambda m: console.print(m, highlight=False))
    c.emit(info, f"[green]devnet up[/] at {info['rpc_url']} (anvil pid {info['pid']}); deployment {info['deployment']}")


@devnet.command("down")
@click.pass_obj
def devnet_down(c: Ctx):
    """Stop the anvil started by `devnet up`."""
    from .devnet import down

    stopped = down()
    c.emit({"stopped": stopped}, "[green]devnet stopped[/]" if stopped else "no devnet was running")


# ---------------------------------------------------------------------- models
@main.group()
def model():
    """Register and inspect models."""


@model.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--fee", default="0", show_default=True, help="owner fee per inference, in tokens")
@click.option("--uri", "uris", multiple=True, help="where workers fetch the file (default: the local store)")
@click.option("--class", "vclass", type=click.Choice(["EXACT", "APPROX", "NONE"]), default=None,
              help="verification class (default: detected from the ops; NONE disputes go to the arbiter)")
@click.pass_obj
def model_register(c: Ctx, file: str, fee: str, uris: tuple[str, ...], vclass: str):
    """Check an ONNX FILE, store it, compute its roots and register it."""
    from .sdk import verification_class

    sdk = c.sdk()
    auto, uncovered = verification_class(Path(file).read_bytes())
    if (vclass or auto) == "NONE":
        console.print("[yellow]warning:[/] class NONE: disputes over this model are decided by the arbiter, "
                      f"not by an on-chain proof (ops without a verifier: {', '.join(uncovered) or '-'})",
                      highlight=False)
    if not uris:
        console.print("[yellow]warning:[/] no --uri: the file is only in your local store; workers on other "
                      "machines cannot fetch it (pass --uri https://… or ipfs://…)", highlight=False)
    with console.status(f"registering {file} ..."):
        mid = sdk.register_model(Path(file), fee=tokens(fee), uris=uris, vclass=vclass)
    c.emit({"model_id": mid}, f"registered model [bold]{mid}[/]")


@model.command("list")
@click.pass_obj
def model_list(c: Ctx):
    ms = c.sdk(read_only=True).models()
    if c.as_json:
        return c.emit([m.__dict__ for m in ms])
    t = Table("model id", "owner", "fee", "class", "deprecated", "uris")
    for m in ms:
        t.add_row(m.model_id[:18] + "…", m.owner[:10] + "…", fmt_tokens(m.fee), m.vclass, str(m.deprecated), ", ".join(m.uris))
    out.print(t)


@model.command("show")
@click.argument("model_id")
@click.pass_obj
def model_show(c: Ctx, model_id: str):
    m = c.sdk(read_only=True).model(model_id)
    c.emit(m.__dict__, "\n".join(f"{k:>13}: {_jsonable(v) if isinstance(v, bytes) else v}" for k, v in m.__dict__.items()))


# ---------------------------------------------------------------------- stake
@main.group()
def stake():
    """Worker stake."""


@stake.command("deposit")
@click.argument("amount")
@click.pass_obj
def stake_deposit(c: Ctx, amount: str):
    """Stake AMOUNT tokens."""
    sdk = c.sdk()
    sdk.stake(tokens(amount))
    s = sdk.stake_of()
    c.emit(s.__dict__, f"staked {amount}: active {fmt_tokens(s.active)}, locked {fmt_tokens(s.locked)}")


@stake.command("withdraw")
@click.argument("amount", required=False)
@click.pass_obj
def stake_withdraw(c: Ctx, amount: str | None):
    """With AMOUNT: start unbonding it. Without: withdraw what has finished unbonding."""
    sdk = c.sdk()
    if amount:
        sdk.request_unstake(tokens(amount))
        s = sdk.stake_of()
        return c.emit(s.__dict__, f"unbonding {fmt_tokens(s.pending)}; withdrawable from timestamp {s.unlock_at}")
    sdk.withdraw_stake()
    c.emit({"withdrawn": True}, "withdrawn")


@stake.command("status")
@click.argument("address", required=False)
@click.pass_obj
def stake_status(c: Ctx, address: str | None):
    sdk = c.sdk(read_only=address is not None)
    s = sdk.stake_of(address)
    c.emit(s.__dict__ | {"free": s.free}, f"active {fmt_tokens(s.active)}  locked {fmt_tokens(s.locked)}  "
           f"free {fmt_tokens(s.free)}  pending {fmt_tokens(s.pending)} (unlock at {s.unlock_at})")


# ---------------------------------------------------------------------- jobs
@main.group()
def job():
    """Submit jobs and read their results."""


def _load_inputs(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    try:
        if p.suffix == ".npz":
            with np.load(p) as z:
                return {k: z[k] for k in z.files}
        if p.suffix == ".npy":
            return {"": np.load(p)}
        raw = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read inputs from {path}: {e}",
                          "give a .npz (one array per input name) or a JSON object {name: nested list}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object mapping input names to arrays")
    return {k: np.asarray(v) for k, v in raw.items()}


@job.command("submit")
@click.argument("model_id")
@click.argument("inputs", type=click.Path(exists=True, dir_okay=False))
@click.option("--fee", default="0.01", show_default=True, help="worker fee, in tokens")
@click.option("--ttl", default=600, show_default=True, help="seconds the job may wait for a worker")
@click.option("--wait/--no-wait", default=True, show_default=True, help="wait for the result")
@click.option("--timeout", default=120.0, show_default=True)
@click.pass_obj
def job_submit(c: Ctx, model_id: str, inputs: str, fee: str, ttl: int, wait: bool, timeout: float):
    """Submit MODEL_ID on INPUTS (.npz or JSON); by default wait for the posted result."""
    from .chain import JobStatus

    sdk = c.sdk()
    feed = _load_inputs(inputs)
    if "" in feed:
        names = [s.name for s in sdk.runner.inputs_spec(model_id, sdk.fetch_model(model_id))]
        feed = {names[0]: feed.pop("")}
    if sdk.model(model_id).vclass == "NONE":
        console.print("[yellow]warning:[/] this model's class is NONE: a dispute over its result is decided by the "
                      "arbiter, not by an on-chain proof", highlight=False)
    jid = sdk.submit(model_id, feed, worker_fee=tokens(fee), claim_ttl=ttl)
    console.print(f"submitted job [bold]{jid}[/]", highlight=False)
    if not wait:
        return c.emit({"job_id": jid})
    with console.status(f"job {jid}: waiting for a worker ...") as st:
        j = sdk.wait(jid, JobStatus.POSTED, timeout=timeout,
                     on_status=lambda j: st.update(f"job {jid}: {j.status.name.lower()} ..."))
    res = sdk.result(jid)
    c.emit({"job_id": jid, "status": j.status.name, "outputs": res.outputs, "worker": res.worker},
           _result_text(jid, res))


def _result_text(jid: int, res) -> str:
    lines = [f"job {jid}: result posted by {res.worker} ({res.status.name.lower()})"]
    for k, v in res.outputs.items():
        flat = v.reshape(-1)
        preview = np.array2string(flat[:10], precision=4, separator=", ")
        lines.append(f"  {k} {v.dtype}{list(v.shape)}: {preview}{' …' if flat.size > 10 else ''}")
    return "\n".join(lines)


@job.command("status")
@click.argument("job_id", type=int)
@click.pass_obj
def job_status(c: Ctx, job_id: int):
    j = c.sdk(read_only=True).job(job_id)
    d = j.__dict__ | {"status": j.status.name}
    c.emit(d, "\n".join(f"{k:>15}: {_jsonable(v) if isinstance(v, bytes) else v}" for k, v in d.items()))


@job.command("result")
@click.argument("job_id", type=int)
@click.pass_obj
def job_result(c: Ctx, job_id: int):
    res = c.sdk(read_only=True).result(job_id)
    c.emit({"job_id": job_id, "outputs": res.outputs, "worker": res.worker, "status": res.status.name},
           _result_text(job_id, res))


@job.command("list")
@click.option("--last", default=20, show_default=True)
@click.pass_obj
def job_list(c: Ctx, last: int):
    sdk = c.sdk(read_only=True)
    n = sdk.job_count()
    rows = [sdk.job(i) for i in range(max(1, n - last + 1), n + 1)]
    if c.as_json:
        return c.emit([r.__dict__ | {"status": r.status.name} for r in rows])
    t = Table("id", "status", "model", "worker", "fee")
    for r in rows:
        t.add_row(str(r.job_id), r.status.name, "0x" + r.model_id.hex()[:12] + "…", (r.worker or "-")[:12],
                  fmt_tokens(r.worker_fee))
    out.print(t)


@job.command("receipt")
@click.argument("job_id", type=int)
@click.option("--verify", is_flag=True, help="re-run the model here and compare with the posted output")
@click.pass_obj
def job_receipt(c: Ctx, job_id: int, verify: bool):
    """How a result was produced, and (--verify) whether it reproduces here."""
    from .receipt import build_receipt, render_receipt

    rec = build_receipt(c.sdk(read_only=True), job_id, verify=verify)
    c.emit(rec, render_receipt(rec))
    if verify and rec.get("verify", {}).get("match") is False:
        sys.exit(2)


# ---------------------------------------------------------------------- credits
@main.group()
def credits():
    """Credits from finalized jobs and refunds."""


@credits.command("withdraw")
@click.argument("amount", required=False)
@click.pass_obj
def credits_withdraw(c: Ctx, amount: str | None):
    sdk = c.sdk()
    amt = sdk.withdraw_credits(tokens(amount) if amount else None)
    c.emit({"withdrawn": amt}, f"withdrew {fmt_tokens(amt)} tokens")


@credits.command("show")
@click.argument("address", required=False)
@click.pass_obj
def credits_show(c: Ctx, address: str | None):
    sdk = c.sdk(read_only=address is not None)
    v = sdk.credits(address)
    c.emit({"credits": v}, f"{fmt_tokens(v)} tokens")


# ---------------------------------------------------------------------- worker
@main.group()
def worker():
    """Run a worker."""


@worker.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML worker config")
@click.option("--model", "models", multiple=True, help="serve only these model ids (repeatable)")
@click.option("--min-fee", default=None, help="fee floor, in tokens")
@click.option("--max-concurrent", type=int, default=None)
@click.option("--journal", default=None, help="SQLite journal path")
@click.option("--metrics-port", type=int, default=None, help="serve /metrics and /health on this port")
@click.option("--confirmations", type=int, default=None)
@click.option("--poll", "poll_interval", type=float, default=None, help="seconds between ticks")
@click.option("--threads", "intra_op_threads", type=int, default=None, help="onnxruntime intra-op threads")
@click.option("--fault", default=None, hidden=True, help="test only: behave dishonestly (wrong-output)")
@click.option("--max-ticks", type=int, default=None, hidden=True)
@click.pass_obj
def worker_run(c: Ctx, config_path, models, min_fee, max_concurrent, journal, metrics_port, confirmations,
               poll_interval, intra_op_threads, fault, max_ticks):
    """Claim jobs for served models, run them with onnxruntime, post results, finalize, withdraw."""
    from .worker.run import run_worker

    run_worker(c, config_path, models=list(models) or None, min_worker_fee=tokens(min_fee) if min_fee else None,
               max_concurrent_jobs=max_concurrent, journal=journal, metrics_port=metrics_port,
               confirmations=confirmations, poll_interval=poll_interval, intra_op_threads=intra_op_threads,
               fault=fault, max_ticks=max_ticks)


# ---------------------------------------------------------------------- challenger and disputes
@main.group()
def challenger():
    """Run a challenger."""


@challenger.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML challenger config")
@click.option("--sample", "sample_rate", type=float, default=None, help="fraction of results re-run (0-1)")
@click.option("--journal", default=None)
@click.option("--metrics-port", type=int, default=None)
@click.option("--poll", "poll_interval", type=float, default=None)
@click.option("--threads", "intra_op_threads", type=int, default=None)
@click.option("--fault", default=None, hidden=True, help="test only: grief (challenge honest results)")
@click.option("--max-ticks", type=int, default=None, hidden=True)
@click.pass_obj
def challenger_run(c: Ctx, config_path, sample_rate, journal, metrics_port, poll_interval, intra_op_threads, fault,
                   max_ticks):
    """Re-run posted results, challenge the wrong ones, prove the fraud on-chain, collect the reward."""
    from .challenger.run import run_challenger

    run_challenger(c, config_path, sample_rate=sample_rate, journal=journal, metrics_port=metrics_port,
                   poll_interval=poll_interval, intra_op_threads=intra_op_threads, fault=fault, max_ticks=max_ticks)


@main.group()
def dispute():
    """Inspect disputes."""


def _dispute_dict(sdk, jid: int) -> dict:
    from .fraud.game import GameClient

    d = GameClient(sdk).dispute(jid)
    settled = sdk.events("DisputeSettled", jobId=jid)
    out = d.__dict__ | {"deadline": d.deadline()}
    if settled:
        out["challenger_won"] = bool(settled[-1]["args"]["challengerWon"])
        out["slashed"] = int(settled[-1]["args"]["slashed"])
    return out


@dispute.command("list")
@click.pass_obj
def dispute_list(c: Ctx):
    sdk = c.sdk(read_only=True)
    ids = sorted({int(e["args"]["jobId"]) for e in sdk.events("JobChallenged")})
    rows = [_dispute_dict(sdk, i) for i in ids]
    if c.as_json:
        return c.emit(rows)
    t = Table("job", "challenger", "worker", "state", "trace root", "outcome")
    for r in rows:
        outcome = "-" if "challenger_won" not in r else ("challenger won" if r["challenger_won"] else "upheld")
        t.add_row(str(r["job_id"]), r["challenger"][:10], r["worker"][:10], "open" if r["phase"] == 1 else "resolved",
                  "yes" if r["trace_root"] else "no", outcome)
    out.print(t)


@dispute.command("show")
@click.argument("job_id", type=int)
@click.pass_obj
def dispute_show(c: Ctx, job_id: int):
    d = _dispute_dict(c.sdk(read_only=True), job_id)
    c.emit(d, "\n".join(f"{k:>18}: {_jsonable(v) if isinstance(v, bytes) else v}" for k, v in d.items()))


@dispute.command("prove")
@click.argument("job_id", type=int)
@click.option("--dry-run", is_flag=True, help="find the inconsistency and print it; send nothing")
@click.pass_obj
def dispute_prove(c: Ctx, job_id: int, dry_run: bool):
    """Prove fraud in an open dispute over JOB_ID from the worker's published trace (anyone may prove;
    the reward goes to the bonded challenger). Finds the cheapest one-step proof and sends it."""
    from .fraud.game import GameClient
    from .fraud.prover import find_fraud
    from .fraud.trace import Trace

    sdk = c.sdk(read_only=dry_run)
    game = GameClient(sdk)
    d = game.dispute(job_id)
    if not d.challenger or int(d.challenger, 16) == 0:
        raise AssayError(f"job {job_id} has no dispute", "see `assay dispute list` for the disputed jobs")
    if not d.open:
        raise AssayError(f"the dispute over job {job_id} is already resolved", "see `assay dispute show JOB_ID`")
    if d.trace_root is None:
        raise AssayError(f"the worker has not posted a trace root for job {job_id} yet",
                         "wait for it; if the response deadline passes, `resolveByTimeout` makes the challenger win")
    if d.vclass == 0:
        raise AssayError(f"job {job_id}'s model is class NONE: its dispute is decided by the arbiter, not by a proof")
    job = sdk.job(job_id)
    model = sdk.fetch_model(job.model_id)
    blob = game.fetch_trace(d, sdk.store)
    trace = Trace.decode(model, blob)
    if game.trace_root_of(trace) != d.trace_root:
        raise AssayError("the worker's published trace does not hash to its posted trace root",
                         "the challenger daemon demands chunks on-chain in that case (`assay challenger run`)")
    input_raw, _ = sdk.job_input(job_id)
    output_raw = sdk.result(job_id).raw
    report = find_fraud(model, trace, input_raw, output_raw)
    f = report.finding
    if f is None:
        unsupported = sorted(set(report.unsupported))
        raise AssayError(f"no provable inconsistency in job {job_id}'s trace"
                         + (f" (nodes of unsupported ops not checked: {', '.join(unsupported)})" if unsupported else ""),
                         "the result is consistent with the worker's own inputs: a proof would be rejected")
    data = {"job_id": job_id, "kind": f.kind, "index": f.index, "element": f.element, "detail": f.detail}
    if dry_run:
        return c.emit(data | {"sent": False}, f"job {job_id}: provable {f.kind} inconsistency: {f.detail} (not sent)")
    receipt = game.prove(job_id, f, model, trace, input_raw, output_raw)
    settled = sdk.events("DisputeSettled", jobId=job_id)
    data |= {"sent": True, "tx": _jsonable(bytes(receipt["transactionHash"])),
             "challenger_won": bool(settled and settled[-1]["args"]["challengerWon"])}
    c.emit(data, f"job {job_id}: fraud proven ({f.kind}: {f.detail}); tx {data['tx']}")


@model.command("verify-class")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def model_verify_class(c: Ctx, file: str):
    """Which ops of an ONNX FILE have on-chain verifiers, and the class it can be registered with."""
    from .fraud import ops
    from .models import load_onnx
    from .sdk import verification_class

    data_bytes = Path(file).read_bytes()
    seen = {f"{n.domain or 'ai.onnx'}.{n.op_type}": ops.supported(n.domain, n.op_type)
            for n in load_onnx(data_bytes).graph.node}
    vclass, uncovered = verification_class(data_bytes)
    covered = not uncovered
    data = {"class": vclass, "ops": seen, "uncovered": uncovered}
    if c.as_json:
        return c.emit(data)
    t = Table("op", "verifier")
    for k, v in sorted(seen.items()):
        t.add_row(k, "[green]yes[/]" if v else "[red]no[/]")
    out.print(t)
    out.print(f"class: [bold]{vclass}[/]" + ("" if covered else f" (uncovered: {', '.join(data['uncovered'])}; "
                                                                   "disputes go to the arbiter)"))


if __name__ == "__main__":
    main()
