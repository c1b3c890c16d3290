#!/usr/bin/env python3
"""Writes a large, realistic lead CSV for leadctl's benchmarks (no dependencies).

    python3 benches/gen_leads.py ROWS OUT.csv [--bad-share F] [--seed N]

Every good row has a distinct US number that libphonenumber accepts: real area
codes, exchanges 200-999 without the N11 service codes, 555 and the
all-same-digit ones, and numbers matching the API's repeating-digits rule
skipped. Formats rotate through "(415) 273-9164", "415-273-9164",
"+1 415 273 9164" and "4152739164". The columns are those of
fixtures/leads.csv: external_id, first_name, last_name, phone, email,
process_id (proc_sales / proc_support), plan, source.

--bad-share F (default 0) turns that share of rows, spread evenly and
reproducibly, into bad ones: missing phone, invalid phone, repeating digits,
missing process, invalid email, or a duplicate of an earlier row's number. The
counts per kind are printed on stderr, so a benchmark can assert them.
"""
import argparse
import random
import sys

# Area codes whose numbers libphonenumber's US metadata accepts broadly.
AREAS = [
    "212", "646", "917", "718", "415", "510", "650", "408", "312", "773",
    "617", "206", "303", "404", "305", "702", "213", "310", "202", "512",
    "615", "720", "919", "503", "612", "713", "214", "602", "215", "313",
]
EXCHANGES = [
    e for e in range(200, 1000)
    if e % 100 != 11 and e != 555 and len(set(str(e))) > 1
]
FIRST = ["Ada", "Grace", "Alan", "Katherine", "Margaret", "Linus", "Barbara", "Edsger",
         "Frances", "Donald", "Radia", "Ken", "Hedy", "Claude", "Sophie", "Adele"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Hamilton", "Pauling", "Liskov",
        "Dijkstra", "Allen", "Knuth", "Perlman", "Thompson", "Lamarr", "Shannon", "Wilson"]
PLANS = ["gold", "silver", "bronze", ""]
SOURCES = ["webinar", "trade show, NYC", "referral", "website", ""]
BAD_KINDS = ["missing_phone", "invalid_phone", "repeating_digits", "missing_process",
             "invalid_email", "duplicate_in_file"]


def repeating(nsn):
    """The API's rule: periodic with period 1-3, or a run of 7 equal digits."""
    if len(nsn) < 6:
        return False
    for p in (1, 2, 3):
        if all(nsn[i] == nsn[i - p] for i in range(p, len(nsn))):
            return True
    run = best = 1
    for i in range(1, len(nsn)):
        run = run + 1 if nsn[i] == nsn[i - 1] else 1
        best = max(best, run)
    return best >= 7


def numbers():
    """Distinct valid national numbers, area codes interleaved."""
    # With no N11, 555 or all-same exchange, a run of 7 is impossible and a
    # period of 2 or 3 needs the exchange to continue the area code's
    # pattern: only those numbers need the full (slow) check.
    suspect = {a: {a[1] + a[0] + a[1], a} for a in AREAS}
    for n in range(len(EXCHANGES) * 10000):
        exchange = str(EXCHANGES[n // 10000])
        sub = n % 10000
        for area in AREAS:
            nsn = f"{area}{exchange}{sub:04d}"
            if exchange not in suspect[area] or not repeating(nsn):
                yield nsn


def fmt(nsn, i):
    a, e, s = nsn[:3], nsn[3:6], nsn[6:]
    return [f"({a}) {e}-{s}", f"{a}-{e}-{s}", f"+1 {a} {e} {s}", nsn][i % 4]


def csv_field(value):
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--bad-share", type=float, default=0.0,
                    help="share of bad rows, 0 to 1 (default 0)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not 0.0 <= args.bad_share <= 1.0:
        ap.error("--bad-share must be between 0 and 1")
    capacity = len(AREAS) * len(EXCHANGES) * 10000
    if args.rows > capacity * 0.99:
        ap.error(f"at most about {int(capacity * 0.99)} distinct numbers are available")

    rng = random.Random(args.seed)
    counts = {k: 0 for k in BAD_KINDS}
    earlier = []  # a few good numbers, for duplicates
    gen = numbers()
    bad_acc = 0.0
    with open(args.out, "w", newline="") as f:
        f.write("external_id,first_name,last_name,phone,email,process_id,plan,source\n")
        for i in range(args.rows):
            first, last = FIRST[i % len(FIRST)], LAST[(i // 3) % len(LAST)]
            email = f"{first}.{last}{i}@example.com".lower()
            process = "proc_support" if i % 5 == 2 else "proc_sales"
            phone = None
            bad_acc += args.bad_share
            kind = None
            if bad_acc >= 1.0:
                bad_acc -= 1.0
                kind = rng.choice(BAD_KINDS if earlier else BAD_KINDS[:-1])
                counts[kind] += 1
            if kind == "missing_phone":
                phone = ""
            elif kind == "invalid_phone":
                phone = rng.choice(["12345", "n/a", "+1 123 456 7890", "415-27-39"])
            elif kind == "repeating_digits":
                phone = rng.choice(["(555) 555-5555", "212-121-2121", "+1 415 000 0000"])
            elif kind == "duplicate_in_file":
                nsn, process = rng.choice(earlier)
                phone = fmt(nsn, i + 1)
            else:
                nsn = next(gen)
                phone = fmt(nsn, i)
                # Only good rows can be repeated: a rejected row is never
                # remembered, so a copy of it is no duplicate.
                if kind is None and len(earlier) < 1000:
                    earlier.append((nsn, process))
                elif kind is None and rng.random() < 0.001:
                    earlier[rng.randrange(1000)] = (nsn, process)
                if kind == "missing_process":
                    process = ""
                elif kind == "invalid_email":
                    email = email.replace("@", " at ")
            row = [f"crm-{i + 1}", first, last, phone, email, process,
                   PLANS[i % len(PLANS)], SOURCES[i % len(SOURCES)]]
            f.write(",".join(csv_field(v) for v in row) + "\n")
    if args.bad_share:
        print(" ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
