#!/usr/bin/env python3
"""Rerunnable benchmark for reading lead files as operators have them.

    cargo build --release && python3 benches/bench_inputs.py [--rows 1000000] [--sheet-rows 200000]

With the release binary and GNU time (/usr/bin/time), measures `leadctl
validate` on:
  1. ROWS rows of gen_leads.py's file with accented names, once as UTF-8 and
     once as Windows-1252 (what Excel on Windows saves): rows/s of each and
     the cost of decoding (target: under 25% fewer rows/s than UTF-8);
  2. the same rows as a semicolon CSV (the delimiter found in the file);
  3. SHEET_ROWS rows as an .xlsx workbook (openpyxl writes it; `pip install
     openpyxl`): rows/s and peak RSS (target: under 300 MB).
Each measure is the median of --repeat runs (default 3), the encodings taking
turns, so that a busy machine slows both alike.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import BIN, generate, measure  # noqa: E402

# gen_leads.py's names, as the people they stand for might be spelled on a
# European list: the same text in both encodings, every row has an accent.
ACCENTS = {"Lovelace": "Lövelace", "Hopper": "Höpper", "Turing": "Türing", "Johnson": "Jöhnson",
           "Hamilton": "Hämilton", "Pauling": "Pauling-Núñez", "Liskov": "Liskôv", "Dijkstra": "Dijkströa",
           "Allen": "Allén", "Knuth": "Knüth", "Perlman": "Perlmán", "Thompson": "Thómpson",
           "Lamarr": "Lamärr", "Shannon": "Shannøn", "Wilson": "Wilsön"}


def accented(path, out_utf8, out_1252, delimiter=","):
    """Writes the file with accented last names, in UTF-8 and in Windows-1252."""
    with open(path, encoding="utf-8") as f, open(out_utf8, "w", encoding="utf-8", newline="") as u, \
            open(out_1252, "w", encoding="cp1252", newline="") as w:
        for line in f:
            for plain, fancy in ACCENTS.items():
                line = line.replace("," + plain + ",", "," + fancy + ",")
            if delimiter != ",":
                line = line.replace(",", delimiter)  # gen_leads quotes only "trade show, NYC"
            u.write(line)
            w.write(line)


def xlsx(path, out, rows):
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Leads")
    with open(path, encoding="utf-8") as f:
        import csv
        for i, row in enumerate(csv.reader(f)):
            if i > rows:
                break
            ws.append(row)
    wb.save(out)


def validate(path, out_dir, extra=()):
    wall, cpu, rss, proc = measure([BIN, "validate", path, "--project-id", "prj_sandbox", "--quiet",
                                    "--out-dir", out_dir, *extra])
    assert proc.returncode in (0, 3), proc.stderr
    return wall, cpu, rss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--sheet-rows", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    opts = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "plain.csv")
        generate(plain, opts.rows)
        utf8, w1252 = os.path.join(tmp, "utf8.csv"), os.path.join(tmp, "w1252.csv")
        accented(plain, utf8, w1252)
        runs = {"utf8": [], "windows1252": []}
        for i in range(opts.repeat):
            for name, path in (("utf8", utf8), ("windows1252", w1252)):
                runs[name].append(validate(path, os.path.join(tmp, f"v-{name}-{i}")))
        for name, measured in runs.items():
            wall = statistics.median(m[0] for m in measured)
            results[name] = {"rows": opts.rows, "bytes": os.path.getsize(utf8 if name == "utf8" else w1252),
                             "wall_s": round(wall, 2), "rows_per_s": int(opts.rows / wall),
                             "cpu_s": round(statistics.median(m[1] for m in measured), 2),
                             "peak_rss_mib": round(max(m[2] for m in measured), 1)}
            print(json.dumps({name: results[name]}), flush=True)
        slower = 1 - results["windows1252"]["rows_per_s"] / results["utf8"]["rows_per_s"]
        results["decoding_cost"] = f"{slower:.1%} fewer rows/s (target: under 25%)"
        print(json.dumps({"decoding_cost": results["decoding_cost"]}), flush=True)
        for path in (utf8, w1252):
            os.remove(path)

        semi_utf8, semi_1252 = os.path.join(tmp, "semi.csv"), os.path.join(tmp, "semi-1252.csv")
        accented(plain, semi_utf8, semi_1252, delimiter=";")
        os.remove(semi_1252)
        wall, cpu, rss = validate(semi_utf8, os.path.join(tmp, "v-semi"))
        results["semicolon"] = {"rows": opts.rows, "wall_s": round(wall, 2), "rows_per_s": int(opts.rows / wall),
                                "cpu_s": round(cpu, 2), "peak_rss_mib": round(rss, 1)}
        print(json.dumps({"semicolon": results["semicolon"]}), flush=True)
        os.remove(semi_utf8)

        book = os.path.join(tmp, "leads.xlsx")
        xlsx(plain, book, opts.sheet_rows)
        measured = [validate(book, os.path.join(tmp, f"v-xlsx-{i}")) for i in range(opts.repeat)]
        wall = statistics.median(m[0] for m in measured)
        results["xlsx"] = {"rows": opts.sheet_rows, "bytes": os.path.getsize(book), "wall_s": round(wall, 2),
                           "rows_per_s": int(opts.sheet_rows / wall),
                           "cpu_s": round(statistics.median(m[1] for m in measured), 2),
                           "peak_rss_mib": round(max(m[2] for m in measured), 1)}
        print(json.dumps({"xlsx": results["xlsx"]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
