#!/usr/bin/env python3
"""Rerunnable benchmark of what the delivery ledger costs an upload.

    cargo build --release && python3 benches/bench_ledger.py [--rows 1000000] [--postgres URL]

With one generated file of ROWS rows (gen_leads.py, 0.1% bad rows), each
upload to a fresh `leadctl sandbox` in another process (rate limit lifted):
  1. --no-ledger: the baseline;
  2. an empty SQLite ledger: the cost of looking up, claiming and recording
     (target: at most 10% slower than 1);
  3. the same file again with that ledger full: nothing is sent (target:
     within 5 s);
  4. and 5., with --postgres URL (a database the script creates and drops):
     2. and 3. on PostgreSQL (target: within 2x of SQLite).
Wall seconds, the client's CPU seconds and peak RSS come from GNU time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "leadctl")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import generate, measure  # noqa: E402


def sandbox():
    proc = subprocess.Popen([BIN, "sandbox", "--port", "0", "--rate", "100000", "--burst", "100000",
                             "--block-threshold", "100000000", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().split()[-1]


def upload(file, out, url, ledger_args):
    env = dict(os.environ, LEADCTL_API_URL=url, LEADCTL_API_KEY="sk_sandbox", LEADCTL_PROJECT_ID="prj_sandbox")
    wall, cpu, rss, proc = measure([BIN, "upload", file, "--quiet", "--json", "--out-dir", out] + ledger_args,
                                   env=env)
    assert proc.returncode in (0, 3), proc.stderr
    summary = json.loads(proc.stdout)
    return {"wall_s": round(wall, 2), "client_cpu_s": round(cpu, 2), "client_peak_rss_mib": round(rss, 1),
            "requests": summary["requests"]["sent"], "already_uploaded": summary["counts"]["already_uploaded"]}


def series(file, tmp, name, ledger_args, rows):
    """An upload into an empty ledger, then the same file again."""
    out = {}
    box, url = sandbox()
    try:
        out["empty"] = upload(file, os.path.join(tmp, name + "1"), url, ledger_args)
        out["empty"]["rows_per_s"] = int(rows / out["empty"]["wall_s"])
        print(name, "empty", json.dumps(out["empty"]), flush=True)
        out["full"] = upload(file, os.path.join(tmp, name + "2"), url, ledger_args)
        print(name, "full", json.dumps(out["full"]), flush=True)
    finally:
        box.terminate()
        box.wait()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres")
    opts = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        file = os.path.join(tmp, "leads.csv")
        generate(file, opts.rows)
        box, url = sandbox()
        try:
            base = upload(file, os.path.join(tmp, "base"), url, ["--no-ledger"])
            base["rows_per_s"] = int(opts.rows / base["wall_s"])
            results["no_ledger"] = base
            print("no_ledger", json.dumps(base), flush=True)
        finally:
            box.terminate()
            box.wait()
        results["sqlite"] = series(file, tmp, "sqlite", ["--ledger", os.path.join(tmp, "ledger.db")], opts.rows)
        if opts.postgres:
            db = "leadctl_bench_%d" % os.getpid()
            subprocess.run(["psql", opts.postgres, "-qc", "CREATE DATABASE " + db], check=True)
            try:
                pg = opts.postgres.rsplit("/", 1)[0] + "/" + db
                results["postgres"] = series(file, tmp, "postgres", ["--ledger", pg], opts.rows)
            finally:
                subprocess.run(["psql", opts.postgres, "-qc", "DROP DATABASE %s WITH (FORCE)" % db], check=True)
    slowdown = results["sqlite"]["empty"]["wall_s"] / results["no_ledger"]["wall_s"] - 1
    results["sqlite_empty_slowdown_pct"] = round(100 * slowdown, 1)
    if "postgres" in results:
        results["postgres_vs_sqlite_empty"] = round(
            results["postgres"]["empty"]["wall_s"] / results["sqlite"]["empty"]["wall_s"], 2)
        results["postgres_vs_sqlite_full"] = round(
            results["postgres"]["full"]["wall_s"] / results["sqlite"]["full"]["wall_s"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
