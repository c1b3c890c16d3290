//! Opening an input: the file, a pipe or stdin, the format (from
//! `--format` or the name), gzip (from the content's magic bytes, so
//! `--format csv` on a gzipped stdin works too), and under everything a
//! counter for the progress display and the SHA-256 of the bytes as read, so
//! that a pipe is read once and still identified.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::facts::{InputDigest, InputFacts, hex};
use super::{Format, InputError, InputSpec};

/// Read buffer size: large enough that the per-read overhead (and the
/// progress counter's atomic add) is negligible.
pub(super) const BUF_SIZE: usize = 64 * 1024;

/// An opened text input, decompressed, not yet decoded or parsed.
pub(super) struct Opened {
    pub reader: Box<dyn BufRead + Send>,
    pub progress: Arc<AtomicU64>,
    pub total: Option<u64>,
    /// Whether the input is a regular file, which can be opened again
    /// (resume); a pipe, `<(...)`, `-` or `/dev/stdin` is not.
    pub regular: bool,
}

/// The display name of an input path.
pub(super) fn display_name(path: &Path) -> String {
    if is_stdin(path) { "standard input".to_owned() } else { path.display().to_string() }
}

pub(super) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether `path` names a regular file that reading again gives again:
/// not `-`, and not a pipe or a terminal, even one reached through
/// `/dev/stdin` or `/dev/fd/N`.
pub(super) fn is_regular(path: &Path, meta: &std::fs::Metadata) -> bool {
    meta.is_file() && !is_stdin(path) && !path.starts_with("/dev") && !path.starts_with("/proc")
}

/// Opens the file (or stdin) of a text format: counted, hashed, gunzipped.
pub(super) fn open(
    spec: &InputSpec,
    name: &str,
    gz_by_name: bool,
    facts: &Arc<InputFacts>,
) -> Result<Opened, InputError> {
    let progress = Arc::new(AtomicU64::new(0));
    let (raw, total, regular): (Box<dyn Read + Send>, Option<u64>, bool) = if is_stdin(&spec.path) {
        (Box::new(io::stdin()), None, false)
    } else {
        let (file, meta) = open_file(&spec.path, name)?;
        let regular = is_regular(&spec.path, &meta);
        (Box::new(file), regular.then_some(meta.len()), regular)
    };
    let mut counted = Counting::new(raw, Arc::clone(&progress), Arc::clone(facts));
    let open_err = |source| InputError::Open { path: name.to_owned(), source };
    let magic = Prefixed::read_from(&mut counted, 2).map_err(open_err)?;
    let is_gzip = magic.head() == [0x1f, 0x8b];
    if gz_by_name && !is_gzip {
        return Err(InputError::NotFormat {
            path: name.to_owned(),
            expected: "gzip-compressed",
            detail: "the name ends in .gz but the content is not gzip; rename or recompress it".into(),
        });
    }
    let joined = BufReader::with_capacity(BUF_SIZE, magic.then(counted));
    let reader: Box<dyn BufRead + Send> = if is_gzip {
        Box::new(BufReader::with_capacity(BUF_SIZE, MultiGzDecoder::new(joined)))
    } else {
        Box::new(joined)
    };
    Ok(Opened { reader, progress, total, regular })
}

/// Opens a path that must be a file (or a pipe), not a directory.
pub(super) fn open_file(path: &Path, name: &str) -> Result<(File, std::fs::Metadata), InputError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => InputError::NotFound { path: name.to_owned() },
        _ => InputError::Open { path: name.to_owned(), source },
    })?;
    let meta = file.metadata().map_err(|source| InputError::Open { path: name.to_owned(), source })?;
    if meta.is_dir() {
        return Err(InputError::Open {
            path: name.to_owned(),
            source: io::Error::new(io::ErrorKind::IsADirectory, "it is a directory, not a file"),
        });
    }
    Ok((file, meta))
}

/// The format from `--format`, else from the name (`.gz` stripped). Returns
/// whether the name ends in `.gz`.
pub(super) fn resolve_format(spec: &InputSpec, name: &str) -> Result<(Format, bool), InputError> {
    let file_name = spec.path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase());
    let file_name = file_name.as_deref().unwrap_or("");
    let (stem, gz) = match file_name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (file_name, false),
    };
    if let Some(format) = spec.format {
        return Ok((format, gz && !is_stdin(&spec.path)));
    }
    if is_stdin(&spec.path) {
        return Err(InputError::StdinNeedsFormat);
    }
    let ext = Path::new(stem).extension().and_then(|e| e.to_str()).unwrap_or("");
    let format = match ext {
        "csv" => Format::Csv,
        "tsv" | "tab" => Format::Tsv,
        "json" => Format::Json,
        "ndjson" | "jsonl" => Format::Ndjson,
        "xlsx" | "xlsm" => Format::Xlsx,
        "xls" => Format::Xls,
        "ods" => Format::Ods,
        _ if spec.existing => Format::Lines,
        _ => return Err(InputError::UnknownFormat { path: name.to_owned() }),
    };
    Ok((format, gz))
}

/// Up to 3 bytes read ahead from the start of a stream (to sniff gzip),
/// served again before the rest of the stream.
struct Prefixed {
    head: [u8; 3],
    pos: usize,
    len: usize,
}

impl Prefixed {
    /// Reads `n` (at most 3) bytes, fewer only at the end of the input.
    fn read_from(r: &mut impl Read, n: usize) -> io::Result<Prefixed> {
        let mut p = Prefixed { head: [0; 3], pos: 0, len: 0 };
        while p.len < n {
            match r.read(&mut p.head[p.len..n]) {
                Ok(0) => break,
                Ok(k) => p.len += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(p)
    }

    fn head(&self) -> &[u8] {
        &self.head[..self.len]
    }

    fn then<R: Read>(self, rest: R) -> Then<R> {
        Then { prefix: self, rest }
    }
}

/// The prefix, then the rest. Unlike `Read::chain`, one `read` call fills
/// the caller's buffer from both, so a `BufReader` on top sees a full
/// first buffer, not just the prefix.
struct Then<R> {
    prefix: Prefixed,
    rest: R,
}

impl<R: Read> Read for Then<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let p = &mut self.prefix;
        if p.pos == p.len {
            return self.rest.read(buf);
        }
        let n = (p.len - p.pos).min(buf.len());
        buf[..n].copy_from_slice(&p.head[p.pos..p.pos + n]);
        p.pos += n;
        if n == buf.len() {
            return Ok(n);
        }
        // A failed read reads nothing, so the error can wait for the next
        // call; the prefix bytes are returned now.
        match self.rest.read(&mut buf[n..]) {
            Ok(k) => Ok(n + k),
            Err(_) => Ok(n),
        }
    }
}

/// Counts and hashes the bytes read from the underlying (possibly
/// compressed) input. At its end, the size and SHA-256 go to the facts:
/// the digest exists only for an input read to its end.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
    /// `None` once the end was reached and the digest given.
    hasher: Option<Sha256>,
    size: u64,
    facts: Arc<InputFacts>,
}

impl<R> Counting<R> {
    fn new(inner: R, count: Arc<AtomicU64>, facts: Arc<InputFacts>) -> Counting<R> {
        Counting { inner, count, hasher: Some(Sha256::new()), size: 0, facts }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(hasher) = self.hasher.take() {
                self.facts.set_digest(InputDigest { size: self.size, sha256: hex(&hasher.finalize()) });
            }
            return Ok(0);
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size += n as u64;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, existing: bool) -> InputSpec {
        InputSpec { path: path.into(), existing, ..InputSpec::default() }
    }

    #[test]
    fn format_from_the_name() {
        for (path, format, gz) in [
            ("a.csv", Format::Csv, false),
            ("dir.x/A.CSV.GZ", Format::Csv, true),
            ("a.tsv", Format::Tsv, false),
            ("a.json.gz", Format::Json, true),
            ("a.ndjson", Format::Ndjson, false),
            ("a.jsonl", Format::Ndjson, false),
        ] {
            assert_eq!(resolve_format(&spec(path, false), path).unwrap(), (format, gz), "{path}");
        }
        assert!(matches!(resolve_format(&spec("a.txt", false), "a.txt"), Err(InputError::UnknownFormat { .. })));
        for (path, format) in
            [("a.xlsx", Format::Xlsx), ("A.XLSM", Format::Xlsx), ("a.xls", Format::Xls), ("a.ods", Format::Ods)]
        {
            assert_eq!(resolve_format(&spec(path, false), path).unwrap(), (format, false), "{path}");
        }
        assert_eq!(resolve_format(&spec("ids.txt", true), "").unwrap(), (Format::Lines, false));
        assert_eq!(resolve_format(&spec("ids", true), "").unwrap(), (Format::Lines, false));
        assert_eq!(resolve_format(&spec("ids.csv", true), "").unwrap(), (Format::Csv, false));
    }

    #[test]
    fn stdin_needs_a_format_and_format_overrides_the_name() {
        assert!(matches!(resolve_format(&spec("-", false), "-"), Err(InputError::StdinNeedsFormat)));
        let mut s = spec("-", true);
        assert!(matches!(resolve_format(&s, "-"), Err(InputError::StdinNeedsFormat)));
        s.format = Some(Format::Ndjson);
        assert_eq!(resolve_format(&s, "-").unwrap(), (Format::Ndjson, false));
        let s = InputSpec { format: Some(Format::Tsv), ..spec("x.csv.gz", false) };
        assert_eq!(resolve_format(&s, "").unwrap(), (Format::Tsv, true));
    }
}
