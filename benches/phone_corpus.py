#!/usr/bin/env python3
"""Writes the phone corpus that leadctl's verdicts are compared with
libphonenumber on (tests/phone_libphonenumber.rs).

    pip install phonenumbers && python3 benches/phone_corpus.py tests/data/phone_libphonenumber.tsv [--count 20000]

Phone strings across ten regions (US, GB, DE, FR, IN, BR, AU, JP, MX, ZA):
valid numbers with their last digits changed, random digits, odd formatting,
`00` and national prefixes, each with its default region and the verdict of
Google's libphonenumber (its Python port `phonenumbers`) under the API's
rules as leadctl applies them: `unparseable`, `repeating` (the national
number is a repeating-digits pattern), `invalid` (not valid, or more than 15
digits in E.164), or the E.164 form. One line each: raw TAB region TAB verdict.
"""
import argparse
import os
import random
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_leads import repeating  # noqa: E402  (the API's rule, as src/phone.rs has_repeating_digits)

REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "AU", "JP", "MX", "ZA"]
TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE]


def verdict(raw, region):
    try:
        n = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return "unparseable"
    if repeating(phonenumbers.national_significant_number(n)):
        return "repeating"
    if not phonenumbers.is_valid_number(n):
        return "invalid"
    e164 = phonenumbers.format_number(n, PhoneNumberFormat.E164)
    return e164 if len(e164) <= 16 else "invalid"


def spaced(rng, digits):
    out = ""
    for c in digits:
        if out and rng.random() < 0.25:
            out += rng.choice(" -. ()")
        out += c
    return out


def sample(rng):
    region = rng.choice(REGIONS)
    example = phonenumbers.example_number_for_type(region, rng.choice(TYPES)) or \
        phonenumbers.example_number(region)
    code = example.country_code
    nsn = phonenumbers.national_significant_number(example)
    keep = rng.randrange(len(nsn) + 1)
    nsn = nsn[:keep] + "".join(rng.choice("0123456789") for _ in nsn[keep:])
    kind = rng.randrange(10)
    if kind == 0:
        nsn = "".join(rng.choice("0123456789") for _ in range(rng.randrange(4, 16)))
    elif kind == 1:
        nsn += rng.choice("0123456789")
    elif kind == 2:
        nsn = nsn[:-1]
    elif kind == 3 and len(nsn) >= 6:
        unit = nsn[:rng.randrange(1, 4)]
        nsn = (unit * len(nsn))[:len(nsn)]
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn) if nsn else 0)
    form = rng.randrange(8)
    if form == 0:
        raw = f"+{code}{nsn}"
    elif form == 1:
        raw = f"+{code} {spaced(rng, nsn)}"
    elif form == 2:
        raw = rng.choice(["0", "00", "1", "8", "011", ""]) + spaced(rng, nsn)
    elif form == 3:
        raw = f"00{code}{nsn}"
    elif form == 4:
        raw = f"{code}{nsn}"
    elif form == 5:
        raw = phonenumbers.format_number(number, rng.choice([PhoneNumberFormat.NATIONAL,
                                                             PhoneNumberFormat.INTERNATIONAL]))
    elif form == 6:
        raw = f"({nsn[:3]}) {spaced(rng, nsn[3:])}"
    else:
        raw = spaced(rng, nsn)
    if rng.random() < 0.03:
        raw = rng.choice([f"{raw} x12", f"{raw}#", f"({raw}", f"++{raw}", raw.replace("5", "L", 1)])
    # A quarter with another default region than the number's.
    default = region if rng.random() < 0.75 else rng.choice(REGIONS)
    return raw.replace("\t", " ").strip(), default


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# phonenumbers {phonenumbers.__version__}; benches/phone_corpus.py --count {args.count} "
                f"--seed {args.seed}\n")
        n = 0
        while n < args.count:
            raw, region = sample(rng)
            if raw:
                f.write(f"{raw}\t{region}\t{verdict(raw, region)}\n")
                n += 1


if __name__ == "__main__":
    main()
