//! JSON arrays of objects and NDJSON, both streamed one element at a time.
//!
//! The array reader never holds more than one element: a small scanner
//! finds each element's bytes (tracking strings, escapes and nesting, and
//! counting lines so every row knows where it starts), then `serde_json`
//! parses just that element. An element that does not parse is a malformed
//! row carrying its text; the scan stays in step because element boundaries
//! do not depend on the element being valid. An element (or an NDJSON
//! line) larger than [`MAX_ROW_BYTES`] is scanned to its end without being
//! kept, and becomes one malformed row. Only a file that ends inside the
//! array (cut short) stops the read, after the rows before it.

use std::io::{self, BufRead};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::decode::REPLACEMENT;
use super::facts::InputFacts;
use super::headers::{ColumnRole, Field, KeyCache};
use super::lines::NonBlankLines;
use super::table::set_field;
use super::{Fields, InputError, MAX_ROW_BYTES, Provenance, Raw, Row};

/// How many distinct keys are remembered for a "not a lead file" message.
const KEYS_SHOWN: usize = 21;

/// Turns JSON objects into rows: the fields by key, `leadctl_*` keys
/// dropped, values of the wrong type reported.
pub(super) struct ObjectMapper {
    keys: KeyCache,
    /// The fields some object so far had a key for (bits of [`Field::bit`]).
    seen: u8,
    /// While the file is being judged at open: the first distinct keys.
    collected: Option<Vec<String>>,
    /// Whether the text is decoded from another encoding (U+FFFD marks bad bytes).
    facts: Arc<InputFacts>,
}

impl ObjectMapper {
    pub(super) fn new(keys: KeyCache, facts: &Arc<InputFacts>) -> ObjectMapper {
        ObjectMapper { keys, seen: 0, collected: Some(Vec::new()), facts: Arc::clone(facts) }
    }

    /// Whether some object so far had a key feeding `field`.
    pub(super) fn has_seen(&self, field: Field) -> bool {
        self.seen & field.bit() != 0
    }

    /// The first distinct keys seen; stops collecting them.
    pub(super) fn take_keys(&mut self) -> Vec<String> {
        self.collected.take().unwrap_or_default()
    }

    /// A row from one parsed JSON value, `text` being its bytes as read.
    pub(super) fn row(&mut self, line: u64, text: &[u8], value: Value) -> Row {
        let bytes = u32::try_from(text.len()).unwrap_or(u32::MAX);
        let mut row = match value {
            Value::Object(object) => {
                let provenance = provenance(&object);
                let (raw, fields) = self.object(object);
                Row { ordinal: 0, line, bytes, raw: Raw::Json(raw), fields, provenance }
            }
            other => {
                let reason = format!("a JSON {}, not an object", kind(&other));
                Row { ordinal: 0, line, bytes, raw: Raw::Other(other), fields: Err(reason), provenance: None }
            }
        };
        if row.fields.is_ok() && self.facts.decodes() && memchr::memmem::find(text, REPLACEMENT).is_some() {
            row.fields = Err("it has bytes that are not valid in the file's encoding; pass --encoding with the \
                              right one"
                .into());
        }
        row
    }

    fn object(&mut self, mut object: Map<String, Value>) -> (Map<String, Value>, Result<Fields, String>) {
        let mut fields = Fields::default();
        let mut taken = 0u8;
        let mut has_leadctl = false;
        let mut problems: Vec<String> = Vec::new();
        if let Some(keys) = &mut self.collected {
            for key in object.keys() {
                if keys.len() < KEYS_SHOWN && !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        for (key, value) in &object {
            let role = self.keys.role(key);
            if let ColumnRole::Field(f) = role {
                self.seen |= f.bit();
            }
            let target = match role {
                ColumnRole::Field(f) if taken & f.bit() != 0 => ColumnRole::Custom,
                ColumnRole::Field(f) => {
                    taken |= f.bit();
                    ColumnRole::Field(f)
                }
                ColumnRole::Ignore => {
                    has_leadctl = true;
                    if key.eq_ignore_ascii_case(crate::vocab::column::REASON)
                        && value.as_str().is_some_and(crate::vocab::has_may_exist_mark)
                    {
                        fields.may_exist = true;
                    }
                    continue;
                }
                ColumnRole::Custom => ColumnRole::Custom,
            };
            match (target, value) {
                (_, Value::Null) => {}
                (ColumnRole::Field(f), Value::String(s)) => set_field(&mut fields, f, s.trim()),
                (ColumnRole::Field(f), Value::Number(n)) if f.accepts_number() => {
                    set_field(&mut fields, f, &n.to_string());
                }
                (ColumnRole::Field(f), other) => {
                    problems.push(format!("{} (key \"{key}\") is a {}; it must be a string", f.api_name(), kind(other)))
                }
                (_, Value::String(s)) if s.is_empty() => {}
                (_, Value::Object(_) | Value::Array(_)) => problems.push(format!(
                    "custom field \"{key}\" is a {}; custom values must be a string, number \
                     or boolean",
                    kind(value)
                )),
                (_, v) => {
                    fields.custom.insert(key.clone(), v.clone());
                }
            }
        }
        if has_leadctl {
            // Keys with an empty name are ignored for the lead but kept as read.
            object.retain(|k, _| !crate::vocab::is_leadctl_column(k));
        }
        let fields = if problems.is_empty() { Ok(fields) } else { Err(problems.join("; ")) };
        (object, fields)
    }
}

/// The origin an object of a file leadctl wrote carries (its
/// `leadctl_origin_file` and `leadctl_origin_line` keys), if it has one.
fn provenance(object: &Map<String, Value>) -> Option<Provenance> {
    // By the exact names leadctl writes: one lookup a row.
    let get = |name: &str| object.get(name);
    let line = match get(crate::vocab::column::ORIGIN_LINE)? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    Provenance::read(get(crate::vocab::column::ORIGIN_FILE)?.as_str()?, &line)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How much of an element or line that is too large is shown in its row.
const SHOWN_BYTES: usize = 200;

/// A malformed row for an element or NDJSON line of `size` bytes, larger
/// than [`MAX_ROW_BYTES`]; `start` is its first bytes, shown in the row.
fn too_large(line: u64, size: u64, start: &[u8]) -> Row {
    let start = String::from_utf8_lossy(&start[..start.len().min(SHOWN_BYTES)]);
    Row {
        ordinal: 0,
        line,
        bytes: u32::try_from(size).unwrap_or(u32::MAX),
        raw: Raw::Other(Value::String(format!("{}...", start.trim_end()))),
        fields: Err(super::table::too_large_reason(size, "")),
        provenance: None,
    }
}

/// "msg at line L column C" → "msg (line L+offset, column C)", so a
/// parse error inside an element names the line in the file.
fn parse_error(e: &serde_json::Error, first_line: u64) -> String {
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m);
    let line = first_line + (e.line() as u64).saturating_sub(1);
    format!("not valid JSON: {message} (line {line}, column {})", e.column())
}

/// A JSON array of objects, one element at a time.
pub(super) struct ArrayReader {
    input: Box<dyn BufRead + Send>,
    mapper: ObjectMapper,
    /// The line of the next unread byte.
    line: u64,
    element: Vec<u8>,
    /// The size of the element last scanned, when it was larger than
    /// [`MAX_ROW_BYTES`] (only its start is kept in `element`).
    too_large: Option<u64>,
    done: bool,
    name: String,
}

impl ArrayReader {
    /// Checks that the input starts with `[` (after whitespace).
    pub(super) fn open(
        input: Box<dyn BufRead + Send>,
        mapper: ObjectMapper,
        name: String,
    ) -> Result<ArrayReader, InputError> {
        let mut r = ArrayReader { input, mapper, line: 1, element: Vec::new(), too_large: None, done: false, name };
        let first = match r.skip(false) {
            Ok(first) => first,
            Err(source) => return Err(InputError::Open { path: r.name, source }),
        };
        let detail = match first {
            Some(b'[') => {
                r.input.consume(1);
                return Ok(r);
            }
            None => "it is empty".to_owned(),
            Some(b'{') => "it starts with `{`, not `[`; for one object a line, name it .ndjson \
                           or pass --format ndjson"
                .to_owned(),
            Some(_) => "it does not start with `[`".to_owned(),
        };
        Err(InputError::NotFormat { path: r.name, expected: "a JSON array", detail })
    }

    /// Skips whitespace (and commas, when `commas`), counting lines; returns
    /// the next byte without consuming it.
    fn skip(&mut self, commas: bool) -> io::Result<Option<u8>> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut used = 0;
            for &b in buf {
                match b {
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' => {}
                    b',' if commas => {}
                    _ => {
                        self.input.consume(used);
                        return Ok(Some(b));
                    }
                }
                used += 1;
            }
            self.input.consume(used);
        }
    }

    /// Reads one element's bytes into `self.element`: up to (not
    /// including) the `,` or `]` that ends it. `Ok(false)` at the end of
    /// the input inside the element.
    fn scan_element(&mut self) -> Result<bool, InputError> {
        self.element.clear();
        let mut size = 0u64;
        let mut over = false;
        let (mut depth, mut in_string, mut escape) = (0usize, false, false);
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(source) => {
                    return Err(InputError::Read { path: self.name.clone(), line: self.line, source });
                }
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let mut used = 0;
            let mut finished = false;
            for &b in buf {
                if b == b'\n' {
                    self.line += 1;
                }
                if in_string {
                    if escape {
                        escape = false;
                    } else if b == b'\\' {
                        escape = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b',' | b']' if depth == 0 => {
                            finished = true;
                            break;
                        }
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                used += 1;
                                finished = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                used += 1;
            }
            if !over {
                self.element.extend_from_slice(&buf[..used]);
            }
            self.input.consume(used);
            size += used as u64;
            if !over && self.element.len() > MAX_ROW_BYTES {
                // Scanned to its end, but not kept: only its start, to show.
                over = true;
                self.element.truncate(SHOWN_BYTES);
            }
            if finished {
                self.too_large = over.then_some(size);
                if over {
                    self.element.shrink_to(64 * 1024);
                }
                return Ok(true);
            }
        }
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        if self.done {
            return Ok(None);
        }
        let read_err = |r: &ArrayReader, source| InputError::Read { path: r.name.clone(), line: r.line, source };
        let next = self.skip(true).map_err(|e| read_err(self, e))?;
        match next {
            None => {
                return Err(self.cut_short("the file ends before the array's closing `]`"));
            }
            Some(b']') => {
                self.input.consume(1);
                self.done = true;
                return match self.skip(false).map_err(|e| read_err(self, e))? {
                    None => Ok(None),
                    Some(_) => Err(InputError::Broken {
                        path: self.name.clone(),
                        line: self.line,
                        detail: "there is more text after the array's closing `]`".into(),
                    }),
                };
            }
            Some(_) => {}
        }
        let first_line = self.line;
        if !self.scan_element()? {
            return Err(self.cut_short(&format!("the file ends inside the element that starts at line {first_line}")));
        }
        if let Some(size) = self.too_large {
            return Ok(Some(too_large(first_line, size, &self.element)));
        }
        let row = match serde_json::from_slice::<Value>(&self.element) {
            Ok(value) => self.mapper.row(first_line, &self.element, value),
            Err(e) => Row {
                ordinal: 0,
                line: first_line,
                bytes: u32::try_from(self.element.len()).unwrap_or(u32::MAX),
                raw: Raw::Other(Value::String(String::from_utf8_lossy(&self.element).trim_end().to_owned())),
                fields: Err(parse_error(&e, first_line)),
                provenance: None,
            },
        };
        Ok(Some(row))
    }

    pub(super) fn mapper(&mut self) -> &mut ObjectMapper {
        &mut self.mapper
    }

    fn cut_short(&mut self, detail: &str) -> InputError {
        self.done = true;
        InputError::Broken { path: self.name.clone(), line: self.line, detail: detail.to_owned() }
    }
}

/// NDJSON: one JSON object a line; blank lines are skipped.
pub(super) struct NdjsonReader {
    lines: NonBlankLines,
    mapper: ObjectMapper,
    /// The first row, read by `open` to check the format.
    pending: Option<Row>,
}

impl NdjsonReader {
    /// Reads the first non-blank line: it must be a JSON object, or the
    /// file is not NDJSON (a JSON array, a CSV misnamed ...).
    pub(super) fn open(
        input: Box<dyn BufRead + Send>,
        mapper: ObjectMapper,
        name: String,
    ) -> Result<NdjsonReader, InputError> {
        let mut r = NdjsonReader { lines: NonBlankLines::new(input, name), mapper, pending: None };
        let first = r.lines.next().map_err(|e| match e {
            InputError::Read { path, source, .. } => InputError::Open { path, source },
            other => other,
        })?;
        if let Some(line) = first {
            let text = r.lines.text().trim_ascii_start();
            let detail = match text.first() {
                Some(b'{') => None,
                Some(b'[') => Some("it starts with `[`: a JSON array; name it .json or pass --format json"),
                _ => Some("its first line is not a JSON object"),
            };
            if let Some(detail) = detail {
                return Err(InputError::NotFormat {
                    path: r.lines.name,
                    expected: "NDJSON (one JSON object a line)",
                    detail: detail.to_owned(),
                });
            }
            r.pending = Some(r.parse(line));
        }
        Ok(r)
    }

    fn parse(&mut self, line: u64) -> Row {
        if let Some(size) = self.lines.too_large() {
            return too_large(line, size, self.lines.text());
        }
        let text = self.lines.text();
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => self.mapper.row(line, text, value),
            Err(e) => Row {
                ordinal: 0,
                line,
                bytes: u32::try_from(text.len()).unwrap_or(u32::MAX),
                raw: Raw::Other(Value::String(String::from_utf8_lossy(text.trim_ascii_end()).into_owned())),
                fields: Err(parse_error(&e, line)),
                provenance: None,
            },
        }
    }

    pub(super) fn mapper(&mut self) -> &mut ObjectMapper {
        &mut self.mapper
    }

    pub(super) fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        if let Some(row) = self.pending.take() {
            return Ok(Some(row));
        }
        match self.lines.next()? {
            Some(line) => Ok(Some(self.parse(line))),
            None => Ok(None),
        }
    }
}
