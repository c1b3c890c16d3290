//! The common case without libphonenumber's parser: a number written with
//! digits and the usual separators only (`+1 415 273 9164`, `(415) 273-9164`,
//! `4152739164`), in international form or in the national form of a region
//! whose prefixes are plain digits.
//!
//! For such a string the parser's work reduces to what is done here: drop the
//! separators, take the country code after `+` (or the default region's),
//! check that no international, national or country-code prefix could be
//! stripped, and read the national number. Validity is still decided by
//! libphonenumber (for the number the parser would have built, valid for
//! its country code's main region), so this path only skips the parser's
//! regular expressions and the search for the number's region.
//!
//! It answers only "valid, and this is its E.164 form"; anything else (an
//! invalid or repeating number, a letter, an extension, a prefix that the
//! parser might strip, a region whose prefixes are patterns) is `None`, and
//! the full parser decides. `tests/phone_paths.rs` compares the two paths on
//! millions of generated numbers across every region; the fuzz target
//! `phone_checks` compares them on every input it tries.

use rlibphonenumber::{PhoneNumber, PhoneNumberUtil, Region};

use super::{E164_MAX_DIGITS, has_repeating_digits, prefixes};

/// libphonenumber's bounds on a national significant number.
const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;

/// The E.164 form of `raw` (already trimmed) when this path can vouch for
/// it, else `None`.
pub(super) fn parse(util: &PhoneNumberUtil, raw: &str, default_region: Region) -> Option<String> {
    let mut buf = [0u8; E164_MAX_DIGITS + 3];
    let (plus, digits) = digits_of(raw, &mut buf)?;
    let (country_code, nsn) = if plus { international(util, digits)? } else { national(util, digits, default_region)? };
    if !(MIN_NSN..=MAX_NSN).contains(&nsn.len()) || nsn[0] == b'0' {
        // A leading zero is kept as "italian leading zeros": the full path.
        return None;
    }
    // Digits only, so this is UTF-8.
    let nsn_text = std::str::from_utf8(nsn).ok()?;
    if has_repeating_digits(nsn_text) {
        return None;
    }
    let national_number: u64 = nsn_text.parse().ok()?;
    let number = PhoneNumber { country_code, national_number, ..PhoneNumber::default() };
    // `is_valid_number` first finds the number's region: the first region of
    // the country code whose leading digits match or for which the number
    // is valid, and the code's main region comes first. So a number valid
    // for the main region is valid, and this skips the search (which, for
    // a region without leading digits such as US, checks every number type
    // once more). Not valid there (another region of +1, say): the full path.
    let main = util.get_region_for_country_code(country_code)?;
    if !util.is_valid_number_for_region(&number, main) {
        return None;
    }
    let mut code = itoa::Buffer::new();
    let code = code.format(country_code);
    if code.len() + nsn.len() > E164_MAX_DIGITS {
        return None;
    }
    let mut e164 = String::with_capacity(1 + code.len() + nsn.len());
    e164.push('+');
    e164.push_str(code);
    e164.push_str(nsn_text);
    Some(e164)
}

/// Whether `raw` is a `+` (only as its first character) and digits with
/// the separators ` -().`, and then its digits, written into `buf`.
fn digits_of<'b>(raw: &str, buf: &'b mut [u8]) -> Option<(bool, &'b [u8])> {
    let bytes = raw.as_bytes();
    let plus = bytes.first() == Some(&b'+');
    let mut n = 0;
    for &b in &bytes[usize::from(plus)..] {
        match b {
            b'0'..=b'9' => {
                *buf.get_mut(n)? = b;
                n += 1;
            }
            b' ' | b'-' | b'(' | b')' | b'.' => {}
            _ => return None,
        }
    }
    // The parser wants 3 digits to call it a number at all.
    (n >= 3).then_some((plus, &buf[..n]))
}

/// After `+`: the country code the parser would take (the first 1 to 3
/// digits that are one), and the rest, unless the code's main region could
/// strip a national prefix from it.
fn international<'d>(util: &PhoneNumberUtil, digits: &'d [u8]) -> Option<(i32, &'d [u8])> {
    if digits.len() <= MIN_NSN || digits[0] == b'0' {
        return None;
    }
    for len in 1..=3.min(digits.len()) {
        let code: i32 = std::str::from_utf8(&digits[..len]).ok()?.parse().ok()?;
        if let Some(region) = util.get_region_for_country_code(code) {
            // Non-geographic codes (`Region::World`) are not in the table:
            // the full path.
            let nsn = &digits[len..];
            let prefixes = prefixes::of(region)?;
            return (prefixes.code == code && prefixes.keeps(nsn)).then_some((code, nsn));
        }
    }
    None
}

/// Without `+`: the default region's country code and the digits as they
/// are, unless the parser could read an international prefix, the country
/// code or a national prefix at their start.
fn national<'d>(util: &PhoneNumberUtil, digits: &'d [u8], region: Region) -> Option<(i32, &'d [u8])> {
    let prefixes = prefixes::of(region)?;
    // The table and the library agree on the region's code (a stale table
    // after an update of the library: the full path).
    if util.get_country_code_for_region(region) != Some(prefixes.code) {
        return None;
    }
    let mut code = itoa::Buffer::new();
    let starts_with_code = digits.starts_with(code.format(prefixes.code).as_bytes());
    let starts_with_idd = prefixes.idd.iter().any(|idd| digits.starts_with(idd.as_bytes()));
    (!starts_with_code && !starts_with_idd && prefixes.keeps(digits)).then_some((prefixes.code, digits))
}

/// What the parser could strip from the start of a region's numbers, for
/// the regions where these are plain digits (`prefixes.rs`).
pub(super) struct Prefixes {
    pub(super) code: i32,
    /// The international (IDD) prefixes.
    pub(super) idd: &'static [&'static str],
    /// The national prefixes for parsing.
    pub(super) national: &'static [&'static str],
}

impl Prefixes {
    /// Whether the parser keeps `nsn` as it is: it starts with no national
    /// prefix.
    fn keeps(&self, nsn: &[u8]) -> bool {
        !self.national.iter().any(|p| nsn.starts_with(p.as_bytes()))
    }
}
