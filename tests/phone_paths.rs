//! The fast path of phone parsing against libphonenumber's full parser, on
//! numbers generated across every region: wherever the fast path answers,
//! the full parser gives the same E.164 number, and `phone::parse` (both
//! paths together) gives what the full parser gives on every input.
//!
//! `LEADCTL_PHONE_PATHS=N` sets how many numbers (default 200,000); the
//! fast path was checked this way on 2,000,000.

use leadctl::phone::{self, Region};
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumber, PhoneNumberFormat, PhoneNumberType};

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TYPES: [PhoneNumberType; 6] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::PremiumRate,
    PhoneNumberType::VoIP,
    PhoneNumberType::SharedCost,
];

/// Every region's example numbers: (region, country code, national significant number).
fn examples() -> Vec<(Region, i32, String)> {
    let util = &*PHONE_NUMBER_UTIL;
    let mut out = Vec::new();
    for region in util.get_supported_regions() {
        for kind in TYPES {
            if let Ok(n) = util.get_example_number_for_type_and_region(region, kind) {
                out.push((region, n.country_code, rlibphonenumber::get_national_significant_number_owned(&n)));
            }
        }
    }
    out
}

/// A number near an example: some of its last digits replaced, sometimes a
/// digit more or less, sometimes random digits.
fn digits_near(rng: &mut Rng, nsn: &str) -> String {
    let mut d: Vec<u8> = nsn.bytes().collect();
    match rng.below(10) {
        0 => d.push(b'0' + rng.below(10) as u8),
        1 if d.len() > 4 => {
            d.pop();
        }
        2 => {
            let len = 4 + rng.below(12);
            d = (0..len).map(|_| b'0' + rng.below(10) as u8).collect();
        }
        _ => {}
    }
    let keep = rng.below(d.len().max(1) + 1).min(d.len());
    for b in &mut d[keep..] {
        *b = b'0' + rng.below(10) as u8;
    }
    String::from_utf8(d).expect("digits")
}

/// One way people write a number.
fn written(rng: &mut Rng, code: i32, nsn: &str, regions: &[Region]) -> String {
    let util = &*PHONE_NUMBER_UTIL;
    let national =
        nsn.parse::<u64>().ok().map(|n| PhoneNumber { country_code: code, national_number: n, ..Default::default() });
    let prefix = *rng.pick(&["", "", "", "0", "1", "8", "00", "011", "810", "06", "180020"]);
    let text = match rng.below(9) {
        0 => format!("+{code}{nsn}"),
        1 => format!("+{code} {}", spaced(rng, nsn)),
        2 => format!("{prefix}{nsn}"),
        3 => format!("{code}{nsn}"),
        4 => format!("{prefix}{code}{}", spaced(rng, nsn)),
        5 => match &national {
            Some(n) => {
                util.format(n, *rng.pick(&[PhoneNumberFormat::National, PhoneNumberFormat::International])).into_owned()
            }
            None => nsn.to_owned(),
        },
        6 => match &national {
            Some(n) => util.format_out_of_country_calling_number(n, *rng.pick(regions)).into_owned(),
            None => nsn.to_owned(),
        },
        7 => format!("({}) {}", &nsn[..3.min(nsn.len())], spaced(rng, &nsn[3.min(nsn.len())..])),
        _ => spaced(rng, nsn),
    };
    decorate(rng, text)
}

/// Digits with separators between some of them.
fn spaced(rng: &mut Rng, digits: &str) -> String {
    let mut out = String::new();
    for c in digits.chars() {
        if !out.is_empty() && rng.below(4) == 0 {
            out.push(*rng.pick(&[' ', '-', '.', ' ', '(', ')']));
        }
        out.push(c);
    }
    out
}

/// Now and then, what files hold around numbers: spaces, stray characters,
/// extensions, letters.
fn decorate(rng: &mut Rng, text: String) -> String {
    match rng.below(30) {
        0 => format!(" {text} "),
        1 => format!("{text} x12"),
        2 => format!("{text}#"),
        3 => format!("tel:{text}"),
        4 => format!("({text}"),
        5 => format!("{text}/5"),
        6 => format!("++{text}"),
        7 => text.replacen('5', "L", 1),
        8 => format!("{text},"),
        _ => text,
    }
}

#[test]
fn the_fast_path_agrees_with_the_full_parser_across_regions() {
    let count: usize = std::env::var("LEADCTL_PHONE_PATHS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let examples = examples();
    let regions: Vec<Region> = PHONE_NUMBER_UTIL.get_supported_regions().collect();
    assert!(examples.len() > 500, "{} examples", examples.len());
    let mut rng = Rng(0x01ea_dc71);
    let (mut fast, mut valid) = (0usize, 0usize);
    for i in 0..count {
        let (own, code, nsn) = rng.pick(&examples);
        let nsn = digits_near(&mut rng, nsn);
        let raw = written(&mut rng, *code, &nsn, &regions);
        // Mostly the number's own region as the default, as in real files.
        let region = if i % 4 == 0 { *rng.pick(&regions) } else { *own };
        let full = phone::parse_full(&raw, region);
        if let Some(quick) = phone::parse_fast(&raw, region) {
            fast += 1;
            assert_eq!(full.as_ref(), Ok(&quick), "{raw:?} with default region {region:?}");
        }
        assert_eq!(phone::parse(&raw, region), full, "{raw:?} with default region {region:?}");
        valid += usize::from(full.is_ok());
    }
    eprintln!("{count} numbers: {valid} valid, {fast} answered by the fast path");
    // The fast path must carry a good share (the generator also writes many
    // forms it leaves alone on purpose), or it buys nothing.
    assert!(fast * 3 > valid, "only {fast} of {valid} valid numbers took the fast path");
}

#[test]
fn the_fast_path_takes_the_forms_of_a_us_lead_file() {
    let us = phone::parse_region("US").expect("US");
    for raw in ["+14152739164", "+1 415 273 9164", "(415) 273-9164", "415-273-9164", "4152739164", "415.273.9164"] {
        assert_eq!(phone::parse_fast(raw, us).map(|p| p.e164), Some("+14152739164".to_owned()), "{raw}");
    }
    // Left to the full parser: a national or country-code prefix, an
    // international prefix, an extension, letters, invalid and repeating
    // numbers.
    for raw in [
        "1 415 273 9164",
        "14152739164",
        "011 44 20 7946 0958",
        "415 273 9164 x12",
        "415-CALL-NOW",
        "+1 123 456 7890",
        "(555) 555-5555",
        "+1 115169715329",
    ] {
        assert_eq!(phone::parse_fast(raw, us), None, "{raw}");
    }
    // The full parser still accepts the valid ones among them.
    assert_eq!(phone::parse("1 415 273 9164", us).map(|p| p.e164), Ok("+14152739164".to_owned()));
}
