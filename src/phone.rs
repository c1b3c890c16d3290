//! Phone numbers: parsing to E.164 and the repeating-digits rule.
//!
//! Shared by the client's local checks and the sandbox, so that both sides of
//! the wire judge a number the same way (`api-contract.md`, "Repeating digits").
//! Parsing and validity come from `rlibphonenumber`, a port of Google's
//! libphonenumber that never rewrites the digits a user typed into another
//! subscriber's number (see the project's dependency notes). The common
//! case (digits and separators, a region whose prefixes are plain digits)
//! skips the library's parser (`fast.rs`); the library still decides
//! validity, and both paths give the same answer (`tests/phone_paths.rs`).

mod fast;
mod prefixes;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberUtil, get_national_significant_number_owned};

pub use rlibphonenumber::Region;

/// The most digits an E.164 number has, country code included.
pub const E164_MAX_DIGITS: usize = 15;

/// Why a phone string was refused, in the order the API checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Empty or only whitespace.
    #[error("phone number is empty")]
    Missing,
    /// Not a phone number at all (libphonenumber could not parse it).
    #[error("not a phone number")]
    Unparseable,
    /// The national number is a repeating pattern such as `5555555555`.
    #[error("the number is a repeating digits pattern")]
    RepeatingDigits,
    /// Parses, but is not a valid number for its region, or has more
    /// digits than E.164 allows.
    #[error("not a valid number for its region")]
    Invalid,
}

/// A number that passed every check: its E.164 form and a compact key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` followed by at most 15 digits.
    pub e164: String,
}

impl Phone {
    /// The E.164 digits as an integer: exact (at most 15 digits fit in 50 bits),
    /// so it can stand for the number in duplicate memory without the string.
    pub fn key(&self) -> u64 {
        e164_key(&self.e164)
    }
}

/// The digits of an E.164 string as an integer (0 if it is not E.164).
pub fn e164_key(e164: &str) -> u64 {
    e164.bytes().filter(u8::is_ascii_digit).fold(0u64, |acc, b| acc.wrapping_mul(10).wrapping_add(u64::from(b - b'0')))
}

thread_local! {
    /// One util per thread: the library's global one shares its compiled
    /// regexes between threads, and parsing on two cores through it ran no
    /// faster than on one. Building one takes about 27 ms, once per thread.
    static UTIL: Option<PhoneNumberUtil> = PhoneNumberUtil::new().ok();
}

/// Parses `raw` (with `default_region` for numbers written without `+`) and
/// applies the API's checks in the API's order: unparseable, repeating
/// digits (on the parsed number, before validity), then validity.
pub fn parse(raw: &str, default_region: Region) -> Result<Phone, PhoneError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(PhoneError::Missing);
    }
    UTIL.with(|util| {
        let util = util.as_ref().unwrap_or(&PHONE_NUMBER_UTIL);
        match fast::parse(util, raw, default_region) {
            Some(e164) => Ok(Phone { e164 }),
            None => parse_with(util, raw, default_region),
        }
    })
}

/// [`parse`] without its fast path: libphonenumber's parser on every input
/// (for tests that compare the two paths).
pub fn parse_full(raw: &str, default_region: Region) -> Result<Phone, PhoneError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(PhoneError::Missing);
    }
    UTIL.with(|util| parse_with(util.as_ref().unwrap_or(&PHONE_NUMBER_UTIL), raw, default_region))
}

/// Only the fast path of [`parse`]: the E.164 form when it can vouch for
/// `raw` being valid, `None` when the full parser must decide (for tests).
pub fn parse_fast(raw: &str, default_region: Region) -> Option<Phone> {
    let raw = raw.trim();
    UTIL.with(|util| fast::parse(util.as_ref().unwrap_or(&PHONE_NUMBER_UTIL), raw, default_region))
        .map(|e164| Phone { e164 })
}

fn parse_with(util: &PhoneNumberUtil, raw: &str, default_region: Region) -> Result<Phone, PhoneError> {
    let number = util.parse(raw, Some(default_region)).map_err(|_| PhoneError::Unparseable)?;
    let nsn = get_national_significant_number_owned(&number);
    if has_repeating_digits(&nsn) {
        return Err(PhoneError::RepeatingDigits);
    }
    if !util.is_valid_number(&number) {
        return Err(PhoneError::Invalid);
    }
    let e164 = util.format(&number, PhoneNumberFormat::E164);
    // libphonenumber finds some numbers valid whose E.164 form is longer
    // than E.164 allows (a German number of 14 national digits gives 16).
    // Such a string is no E.164 number, and every key of a phone (duplicate
    // memory, ledger) relies on at most 15 digits.
    if e164.len() > 1 + E164_MAX_DIGITS {
        return Err(PhoneError::Invalid);
    }
    Ok(Phone { e164: e164.into_owned() })
}

/// Parses a region code such as `US` or `gb`; only regions libphonenumber
/// has numbering metadata for (so `XX` or `ZZ` are refused).
pub fn parse_region(code: &str) -> Option<Region> {
    let region: Region = code.trim().to_ascii_uppercase().parse().ok()?;
    PHONE_NUMBER_UTIL.get_country_code_for_region(region).map(|_| region)
}

/// The contract's repeating-digits rule on a national significant number:
/// at least 6 digits, and either periodic with a period of 1, 2 or 3, or
/// holding a run of 7 or more identical consecutive digits.
pub fn has_repeating_digits(nsn: &str) -> bool {
    let d = nsn.as_bytes();
    if d.len() < 6 {
        return false;
    }
    let periodic = (1..=3).any(|p| (p..d.len()).all(|i| d[i] == d[i - p]));
    periodic || longest_run(d) >= 7
}

fn longest_run(d: &[u8]) -> usize {
    let (mut best, mut run) = (0, 0);
    for (i, &b) in d.iter().enumerate() {
        run = if i > 0 && d[i - 1] == b { run + 1 } else { 1 };
        best = best.max(run);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        parse_region("US").expect("US is a region")
    }

    #[test]
    fn repeating_patterns_from_the_contract() {
        for nsn in ["5555555555", "1212121212", "1231231231", "4150000000", "555555"] {
            assert!(has_repeating_digits(nsn), "{nsn}");
        }
        // Too short, a run of only 6, not periodic.
        for nsn in ["4155550123", "12121", "4150000001", "12312313"] {
            assert!(!has_repeating_digits(nsn), "{nsn}");
        }
    }

    #[test]
    fn parses_national_and_international_forms_to_e164() {
        let p = parse("(415) 555-2671", us()).expect("valid");
        assert_eq!(p.e164, "+14155552671");
        assert_eq!(parse("+44 20 7946 0958", us()).expect("valid").e164, "+442079460958");
        assert_eq!(p.key(), 14155552671);
    }

    #[test]
    fn errors_in_contract_order() {
        assert_eq!(parse("  ", us()), Err(PhoneError::Missing));
        assert_eq!(parse("hello", us()), Err(PhoneError::Unparseable));
        assert_eq!(parse("+1 555 555 5555", us()), Err(PhoneError::RepeatingDigits));
        assert_eq!(parse("+1 123 456 7890", us()), Err(PhoneError::Invalid));
    }

    #[test]
    fn only_regions_with_numbering_plans() {
        assert!(parse_region("gb").is_some());
        assert!(parse_region("XX").is_none());
        assert!(parse_region("ZZ").is_none());
        assert!(parse_region("").is_none());
    }

    #[test]
    fn numbers_longer_than_e164_allows_are_invalid() {
        // libphonenumber finds this valid and formats it as +4920613127961950:
        // its key overlapped the process bits of the duplicate memory, so the
        // same number under two different processes was a duplicate.
        let de = parse_region("DE").expect("DE is a region");
        assert_eq!(parse("(2061 (312) 796-1950", de), Err(PhoneError::Invalid));
        assert_eq!(parse("+49 2061 3127961950", us()), Err(PhoneError::Invalid));
        for raw in ["+49 30 901820", "+49 151 12345678", "+44 20 7946 0958", "(415) 555-2671"] {
            let p = parse(raw, de).expect("valid");
            assert!(p.e164.len() <= 1 + E164_MAX_DIGITS, "{raw}: {}", p.e164);
        }
    }

    #[test]
    fn never_rewrites_digits_into_another_number() {
        // A wrong-length number must be refused, not "repaired".
        assert!(parse("+1 115169715329", us()).is_err());
    }
}
