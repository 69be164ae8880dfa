"""Drive `graphrun serve` over real HTTP with concurrent clients.

The server runs in its own process on a fresh SQLite file with the default settings (every
step persisted, write-behind durability, 64 runs at once). The load comes from ``wrk``
(Debian's package; C, so the client's own cost does not cap the figures): each of
``--clients`` connections loops on ``POST /graph/run?wait=true``, which creates a run and
answers once the run's terminal event is published, so wrk's latency is the time from the
create request to the terminal event. A sampler reads the server's memory (RSS, from /proc)
and the number of finished runs every second, so a leak shows as growth between the
early and late samples. Afterwards every run is checked to have completed.

``--ws-runs N`` also follows N runs over WebSocket with a Python client (create, then read
/ws/run/{id} until the terminal event), as a check of the streaming path.

Run: ``.venv/bin/python benchmarks/api_throughput.py [--runs 10000] [--clients 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

NOOP_GRAPH = {
    "name": "noop5",
    "graph_id": "noop5",
    "nodes": {f"n{i}": {"tool": "noop", "next": f"n{i + 1}" if i < 4 else "END"} for i in range(5)},
}
REVIEW_CODE = "import os\n\ndef foo(a, b=[]):\n    print('debug')\n    return a\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRAPHRUN_LOG_FILE": str(workdir / "logs.json"),
        "GRAPHRUN_LOG_LEVEL": "WARNING",
    }
    db = str(workdir / "bench.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphrun", "serve", "--port", str(port), "--db", db],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


def finished_runs(base: str, graph_id: str) -> tuple[int, int]:
    """(completed, all) runs of a graph."""
    done = httpx.get(f"{base}/runs", params={"graph_id": graph_id, "status": "completed"})
    every = httpx.get(f"{base}/runs", params={"graph_id": graph_id, "limit": 1})
    return done.json()["total"], every.json()["total"]


class Sampler(threading.Thread):
    """Every second: (runs finished so far, server RSS in MB)."""

    def __init__(self, base: str, graph_id: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.base, self.graph_id, self.pid = base, graph_id, pid
        self.samples: list[tuple[int, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            done, _ = finished_runs(self.base, self.graph_id)
            self.samples.append((done, rss_mb(self.pid)))


def wrk(url: str, body: dict[str, object], clients: int, seconds: float, workdir: Path) -> str:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(body)}]]\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def latency_ms(wrk_out: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", wrk_out, re.M)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def load(
    name: str,
    base: str,
    graph_id: str,
    state: dict[str, object],
    runs: int,
    clients: int,
    pid: int,
    workdir: Path,
    rate_guess: float,
) -> float:
    """Run wrk long enough for about ``runs`` runs; print the figures; return runs/s."""
    before_done, before_all = finished_runs(base, graph_id)
    sampler = Sampler(base, graph_id, pid)
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    sampler.start()
    out = wrk(
        f"{base}/graph/run?wait=true",
        {"graph_id": graph_id, "initial_state": state},
        clients,
        max(runs / rate_guess, 3),
        workdir,
    )
    elapsed = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    cpu = cpu_seconds(pid) - cpu0
    deadline = time.monotonic() + 120
    while True:  # runs still in flight when wrk stopped finish on their own
        running = httpx.get(f"{base}/health").json()
        if running["runs_active"] == 0 and running["runs_queued"] == 0:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    done_total, all_total = finished_runs(base, graph_id)
    done, started = done_total - before_done, all_total - before_all
    rate = done / elapsed
    print(
        f"{name:24} {done:>7,} runs {rate:7,.0f} runs/s   p50 {latency_ms(out, '50%'):6.1f} ms   "
        f"p99 {latency_ms(out, '99%'):6.1f} ms   server CPU {cpu / max(done, 1) * 1e3:.2f} ms/run"
    )
    if done != started:
        print(f"{'':24} WARNING: {started - done} of {started} runs did not complete")
    samples = [(n - before_done, mb) for n, mb in sampler.samples]
    if len(samples) >= 4:
        fifth = max(1, len(samples) // 5)
        early = statistics.mean(mb for _, mb in samples[:fifth])
        late = statistics.mean(mb for _, mb in samples[-fifth:])
        print(
            f"{'':24} server RSS: peak {max(mb for _, mb in samples):.0f} MB; "
            f"{early:.0f} MB around run {samples[fifth // 2][0]:,}, "
            f"{late:.0f} MB around run {samples[-1 - fifth // 2][0]:,}"
        )
    return rate


async def follow_over_websocket(base: str, runs: int, clients: int) -> None:
    ws_base = base.replace("http://", "ws://")
    latencies: list[float] = []
    todo = iter(range(runs))

    async def client(http: httpx.AsyncClient) -> None:
        for _ in todo:
            t0 = time.perf_counter()
            r = await http.post("/graph/noop5/run", json={})
            run_id = r.json()["run_id"]
            async with connect(f"{ws_base}/ws/run/{run_id}") as ws:
                async for raw in ws:
                    if json.loads(raw)["type"] == "run_completed":
                        latencies.append(time.perf_counter() - t0)
                        break

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    ordered = sorted(latencies)
    print(
        f"{'WebSocket follow (Python)':24} {len(ordered):>7,} runs {len(ordered) / elapsed:7,.0f} "
        f"runs/s   p50 {ordered[len(ordered) // 2] * 1e3:6.1f} ms   "
        f"p99 {ordered[int(len(ordered) * 0.99)] * 1e3:6.1f} ms   (client-bound)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="no-op runs (about)")
    parser.add_argument("--review-runs", type=int, default=500, help="code review runs (about)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--ws-runs", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk (Debian: apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        proc = start_server(workdir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            httpx.post(f"{base}/graph/create", json=NOOP_GRAPH).raise_for_status()
            print(
                f"graphrun serve (pid {proc.pid}), SQLite, every step persisted; "
                f"{args.clients} concurrent clients (wrk)"
            )
            load("warm-up", base, "noop5", {}, 500, args.clients, proc.pid, workdir, 200)
            rate = load(
                "5-node no-op graph",
                base,
                "noop5",
                {},
                args.runs,
                args.clients,
                proc.pid,
                workdir,
                300,
            )
            load(
                "code review graph",
                base,
                "code_review",
                {"code": REVIEW_CODE},
                args.review_runs,
                args.clients,
                proc.pid,
                workdir,
                max(rate / 8, 10),
            )
            if args.ws_runs:
                asyncio.run(follow_over_websocket(base, args.ws_runs, args.clients))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
