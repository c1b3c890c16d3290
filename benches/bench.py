#!/usr/bin/env python3
"""Rerunnable benchmark for leadctl's speed and memory targets.

    cargo build --release && python3 benches/bench.py [--rows 1000000] [--big 5000000]

Generates CSV lead files with gen_leads.py (distinct valid US numbers in
mixed formats, 0.1% bad rows), then
measures with the release binary:
  1. `leadctl validate` on ROWS rows: rows/s, CPU seconds, peak RSS;
  2. `leadctl validate` on BIG rows: peak RSS (memory must not grow with the file);
  3. `leadctl upload` of ROWS rows to a `leadctl sandbox` in another process
     (no latency, rate limit lifted): rows/s and the client's CPU seconds and RSS.
Peak RSS and CPU seconds come from GNU time (/usr/bin/time) for each command.
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


def generate(path, rows):
    """A realistic file from gen_leads.py, with 0.1% bad rows of every kind."""
    gen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_leads.py")
    subprocess.run([sys.executable, gen, str(rows), path, "--bad-share", "0.001"], check=True,
                   stderr=subprocess.DEVNULL)


def measure(args, **kw):
    """Runs a command under GNU time; returns (wall s, cpu s, peak RSS MiB, process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        t0 = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%M %U %S"] + args,
                              capture_output=True, text=True, **kw)
        wall = time.monotonic() - t0
        rss_kib, user, system = t.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kib) / 1024, proc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--big", type=int, default=5_000_000)
    p.add_argument("--skip-upload", action="store_true")
    opts = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "leads.csv")
        generate(small, opts.rows)
        wall, cpu, rss, proc = measure([BIN, "validate", small, "--project-id", "prj_sandbox", "--quiet",
                                        "--out-dir", os.path.join(tmp, "v1")])
        assert proc.returncode in (0, 3), proc.stderr
        results["validate"] = {"rows": opts.rows, "wall_s": round(wall, 2), "rows_per_s": int(opts.rows / wall),
                               "cpu_s": round(cpu, 2), "peak_rss_mib": round(rss, 1)}
        print(json.dumps(results["validate"]), flush=True)

        if not opts.skip_upload:
            sandbox = subprocess.Popen([BIN, "sandbox", "--port", "0", "--rate", "100000", "--burst", "100000",
                                        "--block-threshold", "100000000"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                url = sandbox.stdout.readline().split()[-1]
                env = dict(os.environ, LEADCTL_API_URL=url, LEADCTL_API_KEY="sk_sandbox",
                           LEADCTL_PROJECT_ID="prj_sandbox")
                # Without a ledger (bench_ledger.py measures what one costs),
                # and so without writing to the user's own.
                wall, cpu, rss2, proc = measure([BIN, "upload", small, "--quiet", "--no-ledger", "--out-dir",
                                                 os.path.join(tmp, "u1")], env=env)
                assert proc.returncode in (0, 3), proc.stderr
                results["upload"] = {"rows": opts.rows, "wall_s": round(wall, 2),
                                     "rows_per_s": int(opts.rows / wall), "client_cpu_s": round(cpu, 2),
                                     "client_peak_rss_mib": round(rss2, 1)}
                print(json.dumps(results["upload"]), flush=True)
            finally:
                sandbox.terminate()
                sandbox.wait()

        if opts.big:
            big = os.path.join(tmp, "big.csv")
            generate(big, opts.big)
            os.remove(small)
            wall, cpu, rss, proc = measure([BIN, "validate", big, "--project-id", "prj_sandbox", "--quiet",
                                            "--out-dir", os.path.join(tmp, "v2")])
            assert proc.returncode in (0, 3), proc.stderr
            results["validate_big"] = {"rows": opts.big, "wall_s": round(wall, 2),
                                       "rows_per_s": int(opts.big / wall), "cpu_s": round(cpu, 2),
                                       "peak_rss_mib": round(rss, 1)}
            print(json.dumps(results["validate_big"]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
