//! A 200 answer parsed with memory bounded by the request, not by the body.
//!
//! An answer names each lead of the request once, in `leads` or in
//! `errors`. A body that is within the size cap can still hold millions of
//! tiny entries (`{"leads":[{},{},...]}`: 30 MiB is 10 million of them, a
//! few GiB once built), so the two arrays are read by a visitor that counts
//! their entries and stops at [`MAX_ENTRIES_PER_LEAD`] per lead sent. Such
//! an answer is unreadable (the leads may exist: the server did answer 200),
//! exactly like a body that does not parse. Unknown fields are skipped
//! without being built.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{BulkResponse, LeadError, LeadOk};

/// The most entries (`leads` and `errors` together) read per lead sent. A
/// well-formed answer has exactly one; a broken one may name a lead twice
/// (both arrays, or a repeated index), which `match_results` sorts out.
pub const MAX_ENTRIES_PER_LEAD: usize = 2;

/// Parses a version 1.2 answer to a request of `sent` leads, building at
/// most `MAX_ENTRIES_PER_LEAD * sent` entries; more is an error (with
/// serde_json's position), as is any body that is not such an answer.
pub fn parse(body: &[u8], sent: usize) -> Result<BulkResponse, serde_json::Error> {
    read(serde_json::Deserializer::from_slice(body), sent)
}

/// [`parse`] of a body held as the chunks it came in, without joining
/// them (a joined copy would hold the body twice).
pub fn parse_chunks(chunks: &[bytes::Bytes], sent: usize) -> Result<BulkResponse, serde_json::Error> {
    let reader = Chunks { chunks, at: 0, pos: 0 };
    read(serde_json::Deserializer::from_reader(reader), sent)
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    sent: usize,
) -> Result<BulkResponse, serde_json::Error> {
    let max = sent.saturating_mul(MAX_ENTRIES_PER_LEAD);
    let seed = Answer { sent, max, left: Cell::new(max) };
    let answer = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(answer)
}

/// The chunks of a body read in order.
struct Chunks<'a> {
    chunks: &'a [bytes::Bytes],
    /// The chunk being read, and the position in it.
    at: usize,
    pos: usize,
}

impl std::io::Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.get(self.at) {
            let rest = &chunk[self.pos.min(chunk.len())..];
            if rest.is_empty() {
                (self.at, self.pos) = (self.at + 1, 0);
                continue;
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// The answer's reader: how many entries may still be built.
struct Answer {
    sent: usize,
    max: usize,
    left: Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Answer {
    type Value = BulkResponse;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BulkResponse, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Answer {
    type Value = BulkResponse;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with `leads` and `errors` arrays")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BulkResponse, A::Error> {
        let (mut leads, mut errors) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Leads if leads.is_some() => return Err(de::Error::duplicate_field("leads")),
                Key::Errors if errors.is_some() => return Err(de::Error::duplicate_field("errors")),
                Key::Leads => leads = Some(map.next_value_seed(Entries::<LeadOk>::new(&self))?),
                Key::Errors => errors = Some(map.next_value_seed(Entries::<LeadError>::new(&self))?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(BulkResponse { leads: leads.unwrap_or_default(), errors: errors.unwrap_or_default() })
    }
}

/// A key of the answer object; any other key is skipped.
enum Key {
    Leads,
    Errors,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "leads" => Key::Leads,
                    "errors" => Key::Errors,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// One of the two arrays, its entries counted against the answer's budget.
struct Entries<'a, T> {
    answer: &'a Answer,
    entry: PhantomData<T>,
}

impl<'a, T> Entries<'a, T> {
    fn new(answer: &'a Answer) -> Self {
        Entries { answer, entry: PhantomData }
    }
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Entries<'_, T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Entries<'_, T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let answer = self.answer;
        // The size hint is the server's word; the budget is what is kept.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(answer.left.get()));
        while let Some(entry) = seq.next_element::<T>()? {
            let Some(left) = answer.left.get().checked_sub(1) else {
                return Err(de::Error::custom(format_args!(
                    "more entries than the {} a request of {} leads can have",
                    answer.max, answer.sent
                )));
            };
            answer.left.set(left);
            out.push(entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_answer_and_skips_what_it_does_not_know() {
        let body = br#"{"leads":[{"index":0,"leadId":"ld_1","extra":{"deep":[1,2,3]}}],
                        "errors":[{"index":1,"error":"Invalid phone number format"}],"note":[{},{}]}"#;
        let got = parse(body, 2).expect("parses");
        assert_eq!(got, serde_json::from_slice::<BulkResponse>(body).expect("the derived reader agrees"));
        assert_eq!(parse(b"{}", 3).expect("empty"), BulkResponse::default());
    }

    #[test]
    fn stops_at_twice_the_leads_sent() {
        let entries = |n: usize| format!("{{\"leads\":[{}]}}", vec!["{}"; n].join(","));
        assert_eq!(parse(entries(6).as_bytes(), 3).expect("six entries for three leads").leads.len(), 6);
        let e = parse(entries(7).as_bytes(), 3).expect_err("seven are too many");
        assert!(e.to_string().contains("more entries than the 6 a request of 3 leads can have"), "{e}");
        let split = br#"{"leads":[{},{},{}],"errors":[{"error":"x"},{"error":"y"}]}"#;
        assert!(parse(split, 2).is_err(), "both arrays count against one budget");
        assert!(parse(br#"{"leads":[{}]}"#, 0).is_err(), "an empty request has no entries to answer");
    }

    #[test]
    fn chunks_read_as_the_whole_body() {
        let body: &[u8] = br#"{"leads":[{"index":0,"leadId":"ld_1"}],"errors":[{"index":1,"error":"x"}]}"#;
        let chunks: Vec<bytes::Bytes> = body.chunks(5).map(bytes::Bytes::copy_from_slice).collect();
        let mut with_empty = chunks.clone();
        with_empty.insert(2, bytes::Bytes::new());
        assert_eq!(parse_chunks(&with_empty, 2).expect("chunks"), parse(body, 2).expect("whole"));
        assert!(parse_chunks(&chunks[..chunks.len() - 1], 2).is_err(), "a body cut short");
    }

    #[test]
    fn what_does_not_parse_is_an_error() {
        assert!(parse(b"{\"leads\":[{}]", 5).is_err());
        assert!(parse(b"{\"leads\":[],\"leads\":[]}", 5).is_err());
        assert!(parse(b"[]", 5).is_err());
        assert!(parse(b"{} trailing", 5).is_err());
        assert!(parse(b"{\"leads\":null}", 5).is_err());
    }
}
