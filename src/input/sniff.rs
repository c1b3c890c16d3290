//! The delimiter of a `.csv` given without `--delimiter`: Excel writes `;`
//! in most of Europe (where `,` is the decimal mark), and exports from other
//! tools use TAB or `|`.
//!
//! Each candidate parses the first records of the file (quotes respected);
//! it qualifies when it splits the header into more than one field and
//! nearly every row into as many. Among those that qualify, the one giving
//! the most fields wins, `,` first on a tie; with none, `,`.

use csv_core::{ReadRecordResult, ReaderBuilder};

/// The candidates, in tie-breaking order.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Records looked at (the header and the first rows).
const SAMPLE_RECORDS: usize = 50;

/// The delimiter for a sample of the file's start (`eof`: the sample is
/// the whole file). `None` when no candidate qualifies.
pub(super) fn sniff(sample: &[u8], eof: bool) -> Option<u8> {
    let mut best: Option<(usize, u8)> = None;
    for delimiter in CANDIDATES {
        let counts = field_counts(sample, eof, delimiter);
        let Some((&header, rows)) = counts.split_first() else {
            continue;
        };
        let matching = rows.iter().filter(|&&n| n == header).count();
        // A malformed row or two among the first ones must not hide the
        // delimiter: nine in ten rows must agree with the header.
        let qualifies = header > 1 && matching * 10 >= rows.len() * 9;
        if qualifies && best.is_none_or(|(fields, _)| header > fields) {
            best = Some((header, delimiter));
        }
    }
    best.map(|(_, delimiter)| delimiter)
}

/// The number of fields of each complete record in the sample (a record
/// cut by the end of the sample is left out, unless the sample is the
/// whole file).
fn field_counts(sample: &[u8], eof: bool, delimiter: u8) -> Vec<usize> {
    let mut reader = ReaderBuilder::new().delimiter(delimiter).build();
    let mut output = vec![0u8; sample.len().max(1)];
    let mut ends = [0usize; 1024];
    let mut input = sample;
    let mut counts = Vec::new();
    let mut fields = 0;
    while counts.len() < SAMPLE_RECORDS {
        let (result, nin, _, nend) = reader.read_record(input, &mut output, &mut ends);
        input = &input[nin..];
        fields += nend;
        match result {
            ReadRecordResult::Record => {
                counts.push(fields);
                fields = 0;
            }
            // More than 1024 fields: not a lead file's header, whatever it is.
            ReadRecordResult::OutputEndsFull => return counts,
            ReadRecordResult::InputEmpty if !eof => break,
            ReadRecordResult::InputEmpty | ReadRecordResult::OutputFull => {}
            ReadRecordResult::End => break,
        }
        if input.is_empty() && !eof {
            break;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_delimiter_that_splits_rows_evenly() {
        assert_eq!(sniff(b"name;phone;amount\nJos\xc3\xa9;+4930123;3,50\nAda;+4930124;1,00\n", true), Some(b';'));
        assert_eq!(sniff(b"name,phone\nAda,1\n", true), Some(b','));
        assert_eq!(sniff(b"name\tphone\tnote\nAda\t1\ta, b; c\n", true), Some(b'\t'));
        assert_eq!(sniff(b"name|phone\nAda|1\n", true), Some(b'|'));
        assert_eq!(sniff(b"phone\n1\n2\n", true), None);
    }

    #[test]
    fn quotes_are_respected_and_commas_win_ties() {
        assert_eq!(sniff(b"name,note\n\"Ada\",\"a;b\"\n\"Bob\",\"c;d\"\n", true), Some(b','));
        assert_eq!(sniff(b"a,b;c\n1,2;3\n", true), Some(b','));
    }

    #[test]
    fn a_record_cut_by_the_sample_is_left_out() {
        assert_eq!(sniff(b"a;b;c\n1;2;3\n4;5", false), Some(b';'));
        assert_eq!(field_counts(b"a;b;c\n1;2;3\n4;5", false, b';'), [3, 3]);
        assert_eq!(field_counts(b"a;b;c\n1;2;3\n4;5", true, b';'), [3, 3, 2]);
    }

    #[test]
    fn one_bad_row_in_ten_does_not_hide_the_delimiter() {
        let mut s = String::from("name;phone\n");
        for i in 0..20 {
            s.push_str(&format!("n{i};{i}\n"));
        }
        s.push_str("broken;row;here\n");
        assert_eq!(sniff(s.as_bytes(), true), Some(b';'));
    }
}
