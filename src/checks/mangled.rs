//! Phone numbers a spreadsheet damaged. A phone typed into a General cell
//! becomes a number: Excel keeps 15 significant digits (a longer number's
//! last digits become zeros), and a CSV saved from it may write the number
//! in scientific notation (`4.91701E+11`), rounded. Either way the digits
//! are no longer the phone's, and libphonenumber may still accept them, so
//! such values are rejected before parsing, with the fix: format the column
//! as Text and export again.

use crate::input::PhoneCell;

/// The most digits a spreadsheet number keeps exactly.
const SPREADSHEET_DIGITS: usize = 15;

/// Why `raw` (a row's phone value) was damaged by a spreadsheet, if it was.
pub(super) fn reason(raw: &str, cell: PhoneCell) -> Option<String> {
    let raw = raw.trim();
    if cell == PhoneCell::Number {
        let digits = raw.bytes().filter(u8::is_ascii_digit).count();
        if digits > SPREADSHEET_DIGITS {
            return Some(format!(
                "the phone cell holds the number {raw}, of {digits} digits: a spreadsheet keeps \
                 {SPREADSHEET_DIGITS}, so the digits after the 15th were lost; format the phone column \
                 as Text, enter or paste the numbers again, and export again"
            ));
        }
    }
    is_scientific(raw).then(|| {
        format!(
            "\"{raw}\" is a number in scientific notation: a spreadsheet rounded the phone number and \
             its last digits are lost; format the phone column as Text in the spreadsheet and export \
             again"
        )
    })
}

/// `[+-]digits[.digits](E|e)[+-]digits`, the way a spreadsheet writes a
/// large number in a narrow column or a CSV.
fn is_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once(['E', 'e']) else {
        return false;
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(mantissa),
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    mantissa_ok && digits(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_notation_is_caught_in_any_input() {
        for s in ["4.91701E+11", "4,91701E+11", "4.9e11", "1E+15", "-4.9E-3"] {
            assert!(reason(s, PhoneCell::Text).is_some(), "{s}");
        }
        for s in ["+49 170 1234567", "E+11", "4.9E", "0049 1701 E", "1-800-FLOWERS", "4915112345678"] {
            assert_eq!(reason(s, PhoneCell::Text), None, "{s}");
        }
    }

    #[test]
    fn numbers_past_15_digits_are_caught_only_in_number_cells() {
        assert!(
            reason("4915112345678900", PhoneCell::Number)
                .is_some_and(|r| r.contains("format the phone column as Text"))
        );
        assert_eq!(reason("491511234567890", PhoneCell::Number), None);
        assert_eq!(reason("4915112345678900", PhoneCell::Text), None);
    }
}
