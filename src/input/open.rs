//! Opening an input: the file or stdin, the format (from `--format` or the
//! name), gzip (from the content's magic bytes, so `--format csv` on a
//! gzipped stdin works too), and a byte counter under everything for the
//! progress display.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::{Format, InputError, InputSpec};

/// Read buffer size: large enough that the per-read overhead (and the
/// progress counter's atomic add) is negligible.
const BUF_SIZE: usize = 64 * 1024;

/// An opened input, decompressed, not yet parsed.
pub(super) struct Opened {
    pub reader: Box<dyn BufRead + Send>,
    pub format: Format,
    pub progress: Arc<AtomicU64>,
    pub total: Option<u64>,
    /// How messages name the input: the path, or `standard input`.
    pub name: String,
}

/// The display name of an input path.
pub(super) fn display_name(path: &Path) -> String {
    if is_stdin(path) { "standard input".to_owned() } else { path.display().to_string() }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub(super) fn open(spec: &InputSpec) -> Result<Opened, InputError> {
    let name = display_name(&spec.path);
    let (format, gz_by_name) = resolve_format(spec, &name)?;
    if format == Format::Lines && !spec.existing {
        return Err(InputError::LinesNeedExisting { path: name });
    }
    let progress = Arc::new(AtomicU64::new(0));
    let (raw, total): (Box<dyn Read + Send>, Option<u64>) = if is_stdin(&spec.path) {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(&spec.path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => InputError::NotFound { path: name.clone() },
            _ => InputError::Open { path: name.clone(), source },
        })?;
        let meta = file.metadata().map_err(|source| InputError::Open { path: name.clone(), source })?;
        if meta.is_dir() {
            return Err(InputError::Open {
                path: name,
                source: io::Error::new(io::ErrorKind::IsADirectory, "it is a directory, not a file"),
            });
        }
        (Box::new(file), meta.is_file().then_some(meta.len()))
    };
    let mut counted = Counting { inner: raw, count: Arc::clone(&progress) };
    let open_err = |source| InputError::Open { path: name.clone(), source };
    let magic = Prefixed::read_from(&mut counted, 2).map_err(open_err)?;
    let is_gzip = magic.head() == [0x1f, 0x8b];
    if gz_by_name && !is_gzip {
        return Err(InputError::NotFormat {
            path: name,
            expected: "gzip-compressed",
            detail: "the name ends in .gz but the content is not gzip; rename or recompress it".into(),
        });
    }
    let joined = BufReader::with_capacity(BUF_SIZE, magic.then(counted));
    let mut decoded: Box<dyn Read + Send> =
        if is_gzip { Box::new(MultiGzDecoder::new(joined)) } else { Box::new(joined) };
    // The BOM is dropped here, once for every format.
    let mut head = Prefixed::read_from(&mut decoded, BOM.len()).map_err(open_err)?;
    if head.head() == BOM {
        head.len = 0;
    }
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(BUF_SIZE, head.then(decoded)));
    Ok(Opened { reader, format, progress, total, name })
}

/// The format from `--format`, else from the name (`.gz` stripped). Returns
/// whether the name ends in `.gz`.
fn resolve_format(spec: &InputSpec, name: &str) -> Result<(Format, bool), InputError> {
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
        _ if spec.existing => Format::Lines,
        _ => return Err(InputError::UnknownFormat { path: name.to_owned() }),
    };
    Ok((format, gz))
}

/// The UTF-8 byte order mark, which some tools write before CSV and JSON.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Up to 3 bytes read ahead from the start of a stream (to sniff gzip or a
/// BOM), served again before the rest of the stream.
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

/// Counts the bytes read from the underlying (possibly compressed) input.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
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
