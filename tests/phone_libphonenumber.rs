//! leadctl's phone verdicts against Google's libphonenumber: 20,000 phone
//! strings across ten regions (valid numbers with changed digits, random
//! digits, odd formatting, `00` and national prefixes, other default
//! regions), with the verdicts libphonenumber's Python port `phonenumbers`
//! gave them under the API's rules (`benches/phone_corpus.py` wrote them).
//! Every verdict must agree: a number that libphonenumber refuses must not
//! be sent, and a valid one must become the same E.164 number.

use leadctl::phone;

#[test]
fn verdicts_agree_with_libphonenumber() {
    // benches/phone_corpus.py wrote the corpus with Google's libphonenumber
    // (its Python port): 20,000 strings across ten regions and their verdicts.
    let corpus = include_str!("data/phone_libphonenumber.tsv");
    let (mut checked, mut differ) = (0, Vec::new());
    for line in corpus.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split('\t');
        let (Some(raw), Some(region), Some(expected)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("corpus line {line:?}");
        };
        let region = phone::parse_region(region).expect("a region");
        let ours = match phone::parse(raw, region) {
            Ok(p) => p.e164,
            Err(phone::PhoneError::Unparseable) => "unparseable".into(),
            Err(phone::PhoneError::RepeatingDigits) => "repeating".into(),
            Err(phone::PhoneError::Invalid) => "invalid".into(),
            Err(phone::PhoneError::Missing) => "missing".into(),
        };
        checked += 1;
        if ours != expected {
            differ.push(format!("{raw:?} ({region:?}): libphonenumber {expected}, leadctl {ours}"));
        }
    }
    assert_eq!(checked, 20_000);
    assert!(differ.is_empty(), "{} of {checked} differ:\n{}", differ.len(), differ[..differ.len().min(20)].join("\n"));
}
