#!/usr/bin/env python3
"""What an upload and a validate cost, side by side with Python references.

    cargo build --release && python3 benches/bench_cost.py [--repeat 3] [--quick]

Measures every figure of the "cost" table in one run, as ratios, and prints
it with its targets and PASS/FAIL (then the raw figures as JSON):

  upload (the API emulator `leadctl sandbox` pinned to core 0 with taskset,
  20 ms answers, its rate limit and key block lifted; the client pinned to
  core 1; ROWS valid leads from gen_leads.py, 8 requests in flight):
    - rows/s of `--no-ledger` and of the default SQLite ledger (empty at
      start) against a reference client: Python asyncio, stdlib only, which
      reads the CSV, builds batches of 1000 and posts them 8 at a time, and
      neither checks rows nor writes files (`bench_cost.py client`);
    - CPU per lead (user + sys of the client process / leads): against
      Python, and the ledger against `--no-ledger`;
    - peak RSS of the client at ROWS rows;
    - peak RSS at BIG rows with every fault at once: the sandbox answers 500
      to 3% of requests, drops 2% of connections, carries out and then
      answers 500 to 2% (lost responses), and rate-limits to 50 requests/s
      with a burst of 10 (429s);
  upload rows/s, empty SQLite ledger against `--no-ledger`, best of 4
  (LEDGER_ROWS rows, sandbox without latency; as bench_ledger.py, nothing
  pinned: a sandbox pinned to one core would be the bottleneck);
  `leadctl validate` rows/s on VALIDATE_ROWS rows (gen_leads.py, 0.1% bad
  rows; both cores), against a Python reference of csv + phonenumbers on the
  same file (`pip install phonenumbers`; `bench_cost.py validate-ref`), and
  the instructions it executes per row under `valgrind --tool=callgrind`
  (independent of machine load): the difference between CALLGRIND_ROWS and
  a tenth of that, per row.

The machine may be shared: every timed figure is the best of --repeat runs
(the runs of the compared commands take turns, so a busy spell slows all of
them alike), and the load average is printed before and after.
"""
import argparse
import asyncio
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import BIN, measure  # noqa: E402

SANDBOX_CORE, CLIENT_CORE = "0", "1"
# Every fault at once (the peak RSS row): 500s, dropped connections, lost
# responses and 429s from a rate limit the client must pace itself under.
FAULTS = ["--fail-rate", "0.03", "--drop-rate", "0.02", "--lost-rate", "0.02", "--rate", "50", "--burst", "10"]
LIFTED = ["--rate", "0", "--block-threshold", "1000000000"]


def generate(path, rows, bad_share=0.0):
    gen = os.path.join(HERE, "gen_leads.py")
    args = [sys.executable, gen, str(rows), path] + (["--bad-share", str(bad_share)] if bad_share else [])
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


class Sandbox:
    """`leadctl sandbox` (on its own core unless `pin` is false), for one upload."""

    def __init__(self, extra, pin=True):
        args = [BIN, "sandbox", "--port", "0", "--quiet", "--seed", "7"] + extra
        if pin:
            args = ["taskset", "-c", SANDBOX_CORE] + args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().split()[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def pinned(args, pin=True):
    return ["taskset", "-c", CLIENT_CORE] + args if pin else args


def upload(file, out, sandbox_args, client_args, ok_codes=(0,), pin=True):
    """One leadctl upload to a fresh sandbox; (wall s, cpu s, rss MiB, summary)."""
    with Sandbox(sandbox_args, pin) as box:
        env = dict(os.environ, LEADCTL_API_URL=box.url, LEADCTL_API_KEY="sk_sandbox",
                   LEADCTL_PROJECT_ID="prj_sandbox")
        wall, cpu, rss, proc = measure(pinned([BIN, "upload", file, "--quiet", "--json", "--out-dir", out]
                                              + client_args, pin), env=env)
    assert proc.returncode in ok_codes, (proc.returncode, proc.stderr[-2000:])
    return wall, cpu, rss, json.loads(proc.stdout)


def python_client(file, sandbox_args):
    with Sandbox(sandbox_args) as box:
        wall, cpu, rss, proc = measure(pinned([sys.executable, os.path.abspath(__file__), "client", file, box.url]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return wall, cpu, rss, json.loads(proc.stdout)


def best(runs):
    """The fastest of several (wall, cpu, rss, ...) runs, and the least CPU and RSS seen."""
    return {"wall_s": min(r[0] for r in runs), "cpu_s": min(r[1] for r in runs),
            "rss_mib": min(r[2] for r in runs), "rss_max_mib": max(r[2] for r in runs)}


def bench_upload(tmp, opts, results):
    file = os.path.join(tmp, "valid.csv")
    generate(file, opts.rows)
    slow = ["--latency-ms", "20"] + LIFTED
    runs = {"python": [], "no_ledger": [], "ledger": []}
    for i in range(opts.repeat):
        runs["python"].append(python_client(file, slow))
        w = upload(file, os.path.join(tmp, f"nl{i}"), slow, ["--concurrency", "8", "--no-ledger"])
        assert w[3]["counts"]["accepted"] == opts.rows, w[3]["counts"]
        runs["no_ledger"].append(w)
        w = upload(file, os.path.join(tmp, f"l{i}"), slow,
                   ["--concurrency", "8", "--ledger", os.path.join(tmp, f"ledger{i}.db")])
        assert w[3]["counts"]["accepted"] == opts.rows, w[3]["counts"]
        runs["ledger"].append(w)
        print(f"  upload round {i + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s {v[-1][1]:.2f} cpu-s {v[-1][2]:.0f} MiB"
                                                      for k, v in runs.items()), file=sys.stderr, flush=True)
    for k, v in runs.items():
        results[k] = dict(best(v), rows=opts.rows)
        results[k]["rows_per_s"] = int(opts.rows / results[k]["wall_s"])
        results[k]["cpu_us_per_lead"] = round(1e6 * results[k]["cpu_s"] / opts.rows, 2)
    os.remove(file)


def bench_faults(tmp, opts, results):
    file = os.path.join(tmp, "big.csv")
    generate(file, opts.big)
    slow = ["--latency-ms", "20", "--block-threshold", "1000000000"] + FAULTS
    for name, args in (("faults_no_ledger", ["--no-ledger"]),
                       ("faults_ledger", ["--ledger", os.path.join(tmp, "faults.db")])):
        # 4: rows left retryable when a batch ran out of attempts.
        wall, cpu, rss, summary = upload(file, os.path.join(tmp, name), slow, ["--concurrency", "8"] + args,
                                         ok_codes=(0, 4))
        results[name] = {"rows": opts.big, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rss_mib": round(rss, 1),
                         "counts": {k: summary["counts"].get(k) for k in ("accepted", "rejected", "retryable")},
                         "requests": summary.get("requests")}
        print(f"  {name}: {wall:.1f} s, {rss:.0f} MiB", file=sys.stderr, flush=True)
    os.remove(file)


def bench_ledger_rate(tmp, opts, results):
    file = os.path.join(tmp, "ledger-rate.csv")
    generate(file, opts.ledger_rows)
    runs = {"rate_no_ledger": [], "rate_ledger": []}
    for i in range(4):
        runs["rate_no_ledger"].append(upload(file, os.path.join(tmp, f"rn{i}"), LIFTED, ["--no-ledger"], pin=False))
        runs["rate_ledger"].append(upload(file, os.path.join(tmp, f"rl{i}"), LIFTED,
                                          ["--ledger", os.path.join(tmp, f"rate{i}.db")], pin=False))
        print(f"  ledger rate round {i + 1}: no-ledger {runs['rate_no_ledger'][-1][0]:.2f} s, "
              f"ledger {runs['rate_ledger'][-1][0]:.2f} s", file=sys.stderr, flush=True)
    for k, v in runs.items():
        results[k] = dict(best(v), rows=opts.ledger_rows)
        results[k]["rows_per_s"] = int(opts.ledger_rows / results[k]["wall_s"])
    os.remove(file)


def validate_cmd(file, out):
    return [BIN, "validate", file, "--project-id", "prj_sandbox", "--quiet", "--out-dir", out]


def bench_validate(tmp, opts, results):
    file = os.path.join(tmp, "validate.csv")
    generate(file, opts.validate_rows, bad_share=0.001)
    runs = []
    for i in range(opts.repeat):
        wall, cpu, rss, proc = measure(validate_cmd(file, os.path.join(tmp, f"v{i}")))
        assert proc.returncode in (0, 3), proc.stderr
        runs.append((wall, cpu, rss))
        print(f"  validate {i + 1}: {wall:.2f} s, {cpu:.2f} cpu-s", file=sys.stderr, flush=True)
    results["validate"] = dict(best(runs), rows=opts.validate_rows)
    results["validate"]["rows_per_s"] = int(opts.validate_rows / results["validate"]["wall_s"])
    if not opts.skip_python_validate:
        wall, cpu, rss, proc = measure([sys.executable, os.path.abspath(__file__), "validate-ref", file])
        assert proc.returncode == 0, proc.stderr
        results["validate_python"] = {"rows": opts.validate_rows, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                      "rows_per_s": int(opts.validate_rows / wall), "verdicts": json.loads(proc.stdout)}
        print(f"  validate, Python reference: {wall:.2f} s", file=sys.stderr, flush=True)
    if opts.callgrind_rows:
        results["validate_callgrind"] = callgrind(tmp, file, opts.callgrind_rows)
    os.remove(file)


def callgrind(tmp, file, rows):
    """Instructions per row of validate: (Ir(rows) - Ir(rows/10)) / (0.9 rows)."""
    counts, sha = {}, {}
    for n in (rows // 10, rows):
        part = os.path.join(tmp, f"cg{n}.csv")
        with open(file) as src, open(part, "w") as dst:
            for i, line in enumerate(src):
                if i > n:
                    break
                dst.write(line)
        out = os.path.join(tmp, f"callgrind.{n}.out")
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
                              + validate_cmd(part, os.path.join(tmp, f"cgv{n}")), capture_output=True, text=True)
        assert proc.returncode in (0, 3), proc.stderr[-2000:]
        m = re.search(r"Collected : (\d+)", proc.stderr)
        counts[n] = int(m.group(1))
        sha[n] = sha256_instructions(out)
        os.remove(part)
        os.remove(out)
    small, big = rows // 10, rows
    per_row = (counts[big] - counts[small]) / (big - small)
    sha_row = (sha[big] - sha[small]) / (big - small)
    print(f"  callgrind: {per_row:.0f} instructions a row, {sha_row:.0f} of them SHA-256", file=sys.stderr, flush=True)
    return {"rows": [small, big], "instructions": [counts[small], counts[big]], "per_row": round(per_row),
            "sha256_per_row": round(sha_row)}


def sha256_instructions(out):
    """Instructions in SHA-256 (the input's digest): valgrind's CPU has no
    SHA extensions, so they run in software there, not on a CPU that has them."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True, text=True).stdout
    found = [int(m.group(1).replace(",", "")) for m in
             re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+\S*sha2::sha256::compress256 \[", text, re.M)]
    return max(found, default=0)


def ratio(a, b):
    return a / b if b else float("nan")


def table(r):
    """The issue's table, with ratios, targets and verdicts."""
    lines = []

    def row(figure, measured, target, ok):
        lines.append(f"| {figure} | {measured} | {target} | {'PASS' if ok else 'FAIL'} |")

    py, nl, led = r.get("python"), r.get("no_ledger"), r.get("ledger")
    lines.append("| figure | measured | target | |")
    lines.append("|---|---|---|---|")
    if py:
        t_nl, t_l = ratio(nl["rows_per_s"], py["rows_per_s"]), ratio(led["rows_per_s"], py["rows_per_s"])
        row("throughput vs Python, `--no-ledger`", f"{t_nl:.2f}x ({nl['rows_per_s']} vs {py['rows_per_s']} rows/s)",
            ">= 0.95x", t_nl >= 0.95)
        row("throughput vs Python, SQLite ledger", f"{t_l:.2f}x ({led['rows_per_s']} rows/s)", ">= 0.95x", t_l >= 0.95)
        c_nl, c_l = ratio(nl["cpu_s"], py["cpu_s"]), ratio(led["cpu_s"], py["cpu_s"])
        row("CPU per lead, `--no-ledger`", f"{nl['cpu_us_per_lead']} us ({c_nl:.2f}x Python "
            f"{py['cpu_us_per_lead']} us)", "<= 1.0x Python", c_nl <= 1.0)
        row("CPU per lead, SQLite ledger", f"{led['cpu_us_per_lead']} us ({c_l:.2f}x Python)", "<= 1.0x Python",
            c_l <= 1.0)
        over = ratio(led["cpu_s"], nl["cpu_s"]) - 1
        row("CPU per lead, ledger above `--no-ledger`", f"{100 * over:+.0f}%", "<= +10%", over <= 0.10)
        row(f"peak RSS, {nl['rows']} rows, `--no-ledger`", f"{nl['rss_mib']:.0f} MiB", "< 100 MB",
            nl["rss_mib"] * 1.048576 < 100)
        row(f"peak RSS, {led['rows']} rows, SQLite ledger", f"{led['rss_mib']:.0f} MiB", "< 100 MB",
            led["rss_mib"] * 1.048576 < 100)
    for name, label in (("faults_no_ledger", "`--no-ledger`"), ("faults_ledger", "SQLite ledger")):
        if name in r:
            f = r[name]
            row(f"peak RSS, {f['rows']} rows, every fault at once, {label}", f"{f['rss_mib']:.0f} MiB", "< 150 MB",
                f["rss_mib"] * 1.048576 < 150)
    if "rate_ledger" in r:
        q = ratio(r["rate_ledger"]["rows_per_s"], r["rate_no_ledger"]["rows_per_s"])
        row(f"upload rows/s, empty ledger vs `--no-ledger`, best of 4 ({r['rate_ledger']['rows']} rows)",
            f"{q:.2f}x ({r['rate_ledger']['rows_per_s']} vs {r['rate_no_ledger']['rows_per_s']} rows/s)", ">= 0.90x",
            q >= 0.90)
    if "validate" in r:
        v = r["validate"]
        extra = ""
        if "validate_python" in r:
            extra = f", {ratio(v['rows_per_s'], r['validate_python']['rows_per_s']):.1f}x Python csv + phonenumbers"
        row(f"validate rows/s, {v['rows']} rows", f"{v['rows_per_s']}{extra}", ">= 1,000,000",
            v["rows_per_s"] >= 1_000_000)
    if "validate_callgrind" in r:
        cg = r["validate_callgrind"]
        lines.append(f"| validate, instructions a row (callgrind) | {cg['per_row']} ({cg['per_row'] - cg['sha256_per_row']}"
                     f" without the input digest's SHA-256, which valgrind runs without SHA-NI) | | |")
    return "\n".join(lines)


# ---- the Python references, run as child processes so their CPU and RSS are their own ----

def batches(file, project):
    """Lists of lead objects, 1000 at a time, as the API takes them; no checks."""
    with open(file, newline="", encoding="utf-8") as f:
        batch = []
        for rec in csv.DictReader(f):
            lead = {"projectId": project, "processId": rec["process_id"], "phoneNumber": rec["phone"],
                    "firstName": rec["first_name"], "lastName": rec["last_name"], "email": rec["email"],
                    "externalId": rec["external_id"]}
            custom = {k: rec[k] for k in ("plan", "source") if rec[k]}
            if custom:
                lead["customFields"] = custom
            batch.append(lead)
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch


async def post_all(file, url, in_flight=8):
    m = re.match(r"http://([^:/]+):(\d+)(/.*)?$", url)
    host, port, base = m.group(1), int(m.group(2)), (m.group(3) or "").rstrip("/")
    path = base + "/leads/bulk-initiate?version=1.2"
    source = batches(file, "prj_sandbox")
    accepted = rejected = requests = 0

    async def worker():
        nonlocal accepted, rejected, requests
        reader, writer = await asyncio.open_connection(host, port)
        for batch in source:
            body = json.dumps({"leads": batch}).encode()
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer sk_sandbox\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answer = json.loads(await reader.readexactly(length))
            requests += 1
            if b" 200 " not in status_line:
                raise SystemExit(f"unexpected answer {status_line!r}")
            accepted += len(answer["leads"])
            rejected += len(answer["errors"])
        writer.close()

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return {"accepted": accepted, "rejected": rejected, "requests": requests}


def validate_ref(file):
    """Reads every row and judges its phone as leadctl does: parse with US as
    the default region, valid, E.164."""
    import phonenumbers
    good = bad = 0
    with open(file, newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            try:
                n = phonenumbers.parse(rec["phone"], "US")
                ok = phonenumbers.is_valid_number(n)
                if ok:
                    phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            except phonenumbers.NumberParseException:
                ok = False
            good, bad = good + ok, bad + (not ok)
    return {"valid_phone": good, "invalid_phone": bad, "phonenumbers": phonenumbers.__version__}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "client":
        print(json.dumps(asyncio.run(post_all(sys.argv[2], sys.argv[3]))))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "validate-ref":
        print(json.dumps(validate_ref(sys.argv[2])))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--big", type=int, default=1_000_000)
    p.add_argument("--ledger-rows", type=int, default=1_000_000)
    p.add_argument("--validate-rows", type=int, default=1_000_000)
    p.add_argument("--callgrind-rows", type=int, default=100_000, help="0: no callgrind")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["upload", "faults", "ledger", "validate"], action="append",
                   help="measure only these parts (repeatable)")
    p.add_argument("--skip-python-validate", action="store_true")
    p.add_argument("--quick", action="store_true", help="a tenth of the rows, one run each: to try the harness")
    opts = p.parse_args()
    if opts.quick:
        opts.rows, opts.big, opts.ledger_rows = opts.rows // 10, opts.big // 10, opts.ledger_rows // 10
        opts.validate_rows, opts.callgrind_rows, opts.repeat = opts.validate_rows // 10, opts.callgrind_rows // 10, 1
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    if os.cpu_count() < 2:
        sys.exit("needs 2 cores (the sandbox and the client each get one)")
    parts = opts.only or ["upload", "faults", "ledger", "validate"]
    results = {"load_before": loadavg(), "cpus": os.cpu_count()}
    print(f"load average before: {results['load_before']}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "upload" in parts:
            bench_upload(tmp, opts, results)
        if "faults" in parts:
            bench_faults(tmp, opts, results)
        if "ledger" in parts:
            bench_ledger_rate(tmp, opts, results)
        if "validate" in parts:
            bench_validate(tmp, opts, results)
    results["load_after"] = loadavg()
    print(table(results))
    print(f"\nload average before {results['load_before']}, after {results['load_after']} "
          f"({results['cpus']} cores); timed figures are the best of {opts.repeat}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
