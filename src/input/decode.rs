//! Text encodings: which one a file is in, and a reader that turns it into
//! UTF-8 as it streams, so every parser and every output sees UTF-8.
//!
//! A byte order mark decides (UTF-8, UTF-16LE, UTF-16BE); then `--encoding`;
//! then the bytes: valid UTF-8 is UTF-8, anything else is guessed by
//! chardetng (most often Windows-1252, what Excel writes on Windows) and
//! decoded by encoding_rs. The guess needs the first bytes that are not
//! ASCII, which may come after the first 64 KiB (an English list with one
//! `José` at row 20,000): until then the file is ASCII, which reads the same
//! in every candidate encoding, so it passes through and the decision is made
//! when that byte arrives.
//!
//! UTF-8 (the common case) is passed through with no copy and no work per
//! row; a byte that is not valid UTF-8 later makes its row malformed, as
//! before. A decoded file turns sequences that are not valid in its
//! encoding into U+FFFD, which the readers reject (`malformed_row`).

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8};

use super::InputError;
use super::facts::InputFacts;
use super::open::BUF_SIZE;

/// How much is read ahead to decide the encoding.
const WINDOW: usize = 64 * 1024;

/// The UTF-8 bytes of U+FFFD, what a decoder writes for a sequence that is
/// not valid in its encoding.
pub(super) const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// The encoding a text input is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EncodingUsed {
    /// The WHATWG name: `UTF-8`, `windows-1252`, `UTF-16LE`, `Shift_JIS`, ...
    pub name: &'static str,
    /// Why this one.
    pub source: EncodingSource,
}

impl EncodingUsed {
    fn new(encoding: &'static Encoding, source: EncodingSource) -> EncodingUsed {
        EncodingUsed { name: encoding.name(), source }
    }

    /// Whether the bytes pass through as they are (UTF-8).
    pub fn is_utf8(&self) -> bool {
        self.name == UTF_8.name()
    }
}

/// Why an input is read with its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingSource {
    /// The file starts with a byte order mark.
    Bom,
    /// `--encoding` (or the config file's `encoding`).
    Given,
    /// Guessed from bytes that are not valid UTF-8.
    Detected,
    /// No mark, no setting, and the bytes are UTF-8 (or, so far, ASCII).
    Default,
}

/// Parses an `--encoding` label.
pub(super) fn parse_label(label: &str) -> Result<&'static Encoding, InputError> {
    Encoding::for_label_no_replacement(label.trim().as_bytes())
        .ok_or_else(|| InputError::UnknownEncoding { label: label.to_owned() })
}

/// Wraps a text input in the decoding reader; records the encoding in
/// `facts`. Reads up to 64 KiB ahead.
pub(super) fn decoding(
    mut inner: Box<dyn BufRead + Send>,
    given: Option<&'static Encoding>,
    facts: &Arc<InputFacts>,
    name: &str,
) -> io::Result<Decoding> {
    let mut head = Vec::new();
    let eof = read_up_to(&mut inner, &mut head, WINDOW)?;
    let mut d = Decoding {
        inner,
        pending: head,
        pos: 0,
        mode: Mode::Undecided,
        out: Vec::new(),
        out_pos: 0,
        out_len: 0,
        flushed: false,
        ascii_known: 0,
        facts: Arc::clone(facts),
        name: name.to_owned(),
    };
    let used = if let Some((encoding, bom_len)) = Encoding::for_bom(&d.pending) {
        d.pos = bom_len;
        Some((encoding, EncodingSource::Bom))
    } else if let Some(encoding) = given {
        Some((encoding, EncodingSource::Given))
    } else if Encoding::ascii_valid_up_to(&d.pending) < d.pending.len() {
        Some(detect(&d.pending, eof))
    } else if eof {
        Some((UTF_8, EncodingSource::Default))
    } else {
        None
    };
    match used {
        Some((encoding, source)) => d.set_mode(encoding, source),
        // ASCII so far: UTF-8 unless a later byte says otherwise.
        None => facts.set_encoding(EncodingUsed::new(UTF_8, EncodingSource::Default)),
    }
    Ok(d)
}

/// The encoding of bytes that are not all ASCII: UTF-8 when they are
/// mostly UTF-8 (see [`mostly_utf8`]), else chardetng's guess.
fn detect(bytes: &[u8], eof: bool) -> (&'static Encoding, EncodingSource) {
    if mostly_utf8(bytes, eof) {
        return (UTF_8, EncodingSource::Default);
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, eof);
    (detector.guess(None, Utf8Detection::Deny), EncodingSource::Detected)
}

/// Whether `bytes` are UTF-8: valid, or with at least as many valid
/// multi-byte characters as invalid sequences. A UTF-8 file with a stray bad
/// byte stays UTF-8 (the row with that byte is malformed) rather than being
/// read as Windows-1252 with every `é` turned into `Ã©`; text in a legacy
/// encoding almost never forms valid multi-byte sequences. A sequence cut
/// by the end of the window (`eof` false) is not counted.
fn mostly_utf8(bytes: &[u8], eof: bool) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    let mut rest = bytes;
    loop {
        let (good, next) = match std::str::from_utf8(rest) {
            Ok(_) => (rest, None),
            Err(e) => (&rest[..e.valid_up_to()], Some(e)),
        };
        valid += good.iter().filter(|&&b| b >= 0xC0).count();
        match next {
            None => break,
            Some(e) => match e.error_len() {
                Some(len) => {
                    invalid += 1;
                    rest = &rest[e.valid_up_to() + len..];
                }
                None if eof => {
                    invalid += 1;
                    break;
                }
                None => break,
            },
        }
    }
    invalid == 0 || (valid > 0 && valid >= invalid)
}

/// Reads from `r` into `buf` until it holds `limit` bytes or the input
/// ends; returns whether it ended.
pub(super) fn read_up_to(r: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    while buf.len() < limit {
        let available = match r.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let n = available.len().min(limit - buf.len());
        buf.extend_from_slice(&available[..n]);
        r.consume(n);
    }
    Ok(false)
}

/// Bytes read ahead, served again before the rest of the input.
pub(super) struct Replay {
    head: Vec<u8>,
    pos: usize,
    rest: Box<dyn BufRead + Send>,
}

impl Replay {
    pub(super) fn new(head: Vec<u8>, rest: Box<dyn BufRead + Send>) -> Replay {
        Replay { head, pos: 0, rest }
    }
}

impl BufRead for Replay {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.head.len() {
            return Ok(&self.head[self.pos..]);
        }
        self.rest.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if self.pos < self.head.len() {
            self.pos = (self.pos + amt).min(self.head.len());
        } else {
            self.rest.consume(amt);
        }
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

enum Mode {
    /// ASCII so far: bytes pass through up to the first other byte.
    Undecided,
    /// UTF-8: bytes pass through.
    PassThrough,
    Decode(Decoder),
}

/// The decoding reader: UTF-8 out, whatever the input's encoding.
pub(super) struct Decoding {
    inner: Box<dyn BufRead + Send>,
    /// Bytes read ahead (to decide), served before `inner`'s.
    pending: Vec<u8>,
    pos: usize,
    mode: Mode,
    /// Decoded bytes (only when decoding).
    out: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    /// The decoder has been told the input ended, and has said all it had.
    flushed: bool,
    /// Undecided: how many bytes at the front of `inner`'s buffer are known
    /// to be ASCII.
    ascii_known: usize,
    facts: Arc<InputFacts>,
    name: String,
}

impl Decoding {
    fn set_mode(&mut self, encoding: &'static Encoding, source: EncodingSource) {
        self.facts.set_encoding(EncodingUsed::new(encoding, source));
        self.mode = if encoding == UTF_8 {
            Mode::PassThrough
        } else {
            self.facts.set_decoding();
            Mode::Decode(encoding.new_decoder_without_bom_handling())
        };
    }

    /// Undecided, and the next byte of `inner` is not ASCII: reads a window
    /// from there and decides.
    fn decide_late(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.pos = 0;
        let eof = read_up_to(&mut self.inner, &mut self.pending, WINDOW)?;
        let (encoding, source) = detect(&self.pending, eof);
        if encoding != UTF_8 {
            tracing::warn!(
                "{}: the first bytes that are not ASCII come after the first 64 KiB and are not UTF-8; \
                 reading the file as {} (detected); pass --encoding if that is wrong",
                self.name,
                encoding.name()
            );
        }
        self.set_mode(encoding, source);
        Ok(())
    }

    /// Decodes the next piece into `out`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        let Mode::Decode(decoder) = &mut self.mode else {
            return Ok(false);
        };
        if self.out.is_empty() {
            self.out = vec![0; BUF_SIZE];
        }
        while !self.flushed {
            let from_pending = self.pos < self.pending.len();
            let src: &[u8] = if from_pending { &self.pending[self.pos..] } else { self.inner.fill_buf()? };
            let last = src.is_empty();
            let (result, read, written, _) = decoder.decode_to_utf8(src, &mut self.out, last);
            if from_pending {
                self.pos += read;
            } else {
                self.inner.consume(read);
            }
            // A finished decoder must not be called again.
            self.flushed = last && result == CoderResult::InputEmpty;
            if written > 0 {
                self.out_pos = 0;
                self.out_len = written;
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl BufRead for Decoding {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.mode {
                Mode::PassThrough => {
                    if self.pos < self.pending.len() {
                        return Ok(&self.pending[self.pos..]);
                    }
                    return self.inner.fill_buf();
                }
                Mode::Undecided => {
                    // What was read ahead at the start is all ASCII.
                    if self.pos < self.pending.len() {
                        return Ok(&self.pending[self.pos..]);
                    }
                    if self.ascii_known == 0 {
                        let (end, ascii) = {
                            let buf = self.inner.fill_buf()?;
                            (buf.is_empty(), Encoding::ascii_valid_up_to(buf))
                        };
                        if end {
                            return Ok(&[]);
                        }
                        if ascii == 0 {
                            self.decide_late()?;
                            continue;
                        }
                        self.ascii_known = ascii;
                    }
                    let buf = self.inner.fill_buf()?;
                    return Ok(&buf[..self.ascii_known.min(buf.len())]);
                }
                Mode::Decode(_) => {
                    if self.out_pos < self.out_len {
                        return Ok(&self.out[self.out_pos..self.out_len]);
                    }
                    if !self.refill()? {
                        return Ok(&[]);
                    }
                }
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        match self.mode {
            Mode::Decode(_) => self.out_pos = (self.out_pos + amt).min(self.out_len),
            Mode::PassThrough | Mode::Undecided if self.pos < self.pending.len() => {
                self.pos = (self.pos + amt).min(self.pending.len());
            }
            Mode::PassThrough | Mode::Undecided => {
                self.inner.consume(amt);
                self.ascii_known = self.ascii_known.saturating_sub(amt);
            }
        }
    }
}

impl Read for Decoding {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `bytes` through a reader with a tiny inner buffer, so
    /// decisions and sequences span many reads.
    fn decode(bytes: &[u8], given: Option<&str>) -> (Vec<u8>, EncodingUsed) {
        let inner: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(7, io::Cursor::new(bytes.to_vec())));
        let facts = Arc::new(InputFacts::default());
        let given = given.map(|l| parse_label(l).expect("label"));
        let mut d = decoding(inner, given, &facts, "t").expect("decoding");
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("read");
        (out, facts.encoding().expect("an encoding"))
    }

    #[test]
    fn utf8_passes_through_and_a_utf8_bom_is_dropped() {
        let (out, used) = decode("phone,name\n1,José\n".as_bytes(), None);
        assert_eq!(out, "phone,name\n1,José\n".as_bytes());
        assert_eq!((used.name, used.source), ("UTF-8", EncodingSource::Default));
        let (out, used) = decode(b"\xEF\xBB\xBFphone\n1\n", None);
        assert_eq!(out, b"phone\n1\n");
        assert_eq!(used.source, EncodingSource::Bom);
    }

    #[test]
    fn windows_1252_is_detected_and_decoded() {
        let (out, used) = decode(b"name,phone\nJos\xE9 N\xFA\xF1ez,1\nFran\xE7ois M\xFCller,2\n", None);
        assert_eq!(String::from_utf8(out).unwrap(), "name,phone\nJosé Núñez,1\nFrançois Müller,2\n");
        assert_eq!((used.name, used.source), ("windows-1252", EncodingSource::Detected));
    }

    #[test]
    fn utf16_with_a_bom_is_decoded_either_way_round() {
        let text = "phone,name\n1,Zoë\n";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
        }
        for (bytes, name) in [(le, "UTF-16LE"), (be, "UTF-16BE")] {
            let (out, used) = decode(&bytes, None);
            assert_eq!(String::from_utf8(out).unwrap(), text);
            assert_eq!((used.name, used.source), (name, EncodingSource::Bom));
        }
    }

    #[test]
    fn the_first_non_ascii_byte_decides_even_after_the_window() {
        let mut bytes = b"name,phone\n".to_vec();
        while bytes.len() < 3 * WINDOW {
            bytes.extend_from_slice(b"Ada,4155550100\n");
        }
        bytes.extend_from_slice(b"Jos\xE9,1\nN\xFA\xF1ez,2\n");
        let (out, used) = decode(&bytes, None);
        assert_eq!((used.name, used.source), ("windows-1252", EncodingSource::Detected));
        assert!(String::from_utf8(out).unwrap().ends_with("José,1\nNúñez,2\n"));
    }

    #[test]
    fn a_utf8_file_with_a_stray_bad_byte_stays_utf8() {
        let (out, used) = decode(b"name\nZo\xC3\xAB\nJos\xE9\n", None);
        assert_eq!(used.name, "UTF-8");
        assert_eq!(out, b"name\nZo\xC3\xAB\nJos\xE9\n");
        assert!(mostly_utf8(b"a\xC3", false));
        assert!(!mostly_utf8(b"a\xC3", true));
        assert!(!mostly_utf8(b"Jos\xE9 N\xFA\xF1ez", true));
    }

    #[test]
    fn a_given_encoding_wins_over_detection_but_not_over_a_bom() {
        let (out, used) = decode(b"a\n\x82\xA0\n", Some("shift_jis"));
        assert_eq!(String::from_utf8(out).unwrap(), "a\nあ\n");
        assert_eq!((used.name, used.source), ("Shift_JIS", EncodingSource::Given));
        let (_, used) = decode(b"\xEF\xBB\xBFa\n", Some("windows-1252"));
        assert_eq!((used.name, used.source), ("UTF-8", EncodingSource::Bom));
        assert!(matches!(parse_label("klingon"), Err(InputError::UnknownEncoding { .. })));
    }

    #[test]
    fn bad_sequences_become_replacement_characters() {
        let (out, _) = decode(b"a\n\x82\n", Some("shift_jis"));
        assert!(out.windows(3).any(|w| w == REPLACEMENT), "{out:?}");
    }
}
