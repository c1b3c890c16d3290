//! How numbers and times read on the progress line: digits grouped by
//! thousands and elapsed as a clock (indicatif's formats), a compact form
//! for narrow terminals and remaining time in the two largest units (ours:
//! they must never read as more done or less left than is true).

use std::time::Duration;

/// `1234567` → `1,234,567` (indicatif's `HumanCount`).
pub fn group(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// At most four characters: `999`, `1.2k`, `12k`, `123k`, `1.2M`, `12M`.
pub fn compact(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")];
    for (size, unit) in UNITS {
        if n >= size {
            // Truncated, not rounded: a count never reads as more than it is.
            let whole = n / size;
            return if whole < 10 {
                format!("{whole}.{}{unit}", n % size * 10 / size)
            } else {
                format!("{whole}{unit}")
            };
        }
    }
    n.to_string()
}

/// Elapsed time as a clock: `00:01:05`, `1d 03:03:00` (indicatif's
/// `FormattedDuration`).
pub fn clock(d: Duration) -> String {
    indicatif::FormattedDuration(d).to_string()
}

/// A span in its two largest units, rounded up (a countdown never says
/// 0s while something is left): `25s`, `4m05s`, `1h25m`, `3d02h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (20_000, "20,000"), (1_234_567, "1,234,567")];
        for (n, want) in cases {
            assert_eq!(group(n), want);
        }
    }

    #[test]
    fn compact_fits_four_characters_and_never_rounds_up() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1.0k"),
            (1999, "1.9k"),
            (12_345, "12k"),
            (999_999, "999k"),
            (1_000_000, "1.0M"),
            (25_000_000, "25M"),
            (3_000_000_000, "3.0G"),
        ];
        for (n, want) in cases {
            assert_eq!(compact(n), want, "{n}");
        }
    }

    #[test]
    fn clock_and_span() {
        assert_eq!(clock(Duration::from_secs(65)), "00:01:05");
        assert_eq!(clock(Duration::from_secs(27 * 3600 + 180)), "1d 03:03:00");
        let cases =
            [(0.0, "0s"), (0.2, "1s"), (25.0, "25s"), (245.0, "4m05s"), (5100.0, "1h25m"), (266_400.0, "3d02h")];
        for (secs, want) in cases {
            assert_eq!(span(Duration::from_secs_f64(secs)), want, "{secs}");
        }
    }
}
