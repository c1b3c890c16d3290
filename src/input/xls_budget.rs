//! What an xls workbook will cost in memory, counted before calamine reads
//! it (the xls half of `sheet_budget`). `Xls::new` builds every sheet
//! whole: it reserves room for the cells a sheet's DIMENSIONS record claims
//! (a row count of four billion aborts the process), and sizes each sheet's
//! range by the rows and columns its cell records name (two cells at A1
//! and at row 65,536, column 65,536 make 4 billion cells). So the workbook
//! stream is walked first, record by record, summing what calamine would
//! reserve, keep and lay out, and a workbook over the budget is refused.
//!
//! The stream lies in an OLE compound file; `Compound` reads just enough of
//! that format to get it, with every sector number and chain checked
//! against the file's size. A file that is not a readable xls passes:
//! calamine then says what is wrong with it.

use std::io::{Read, Seek, SeekFrom};

use calamine::Data;

use super::sheet_budget::{MAX_SHEET_BYTES, Over};

/// A cell as calamine gathers it (position and value), and as its range
/// lays it out.
const GATHERED: u64 = (std::mem::size_of::<Data>() + 8) as u64;
const LAID_OUT: u64 = std::mem::size_of::<Data>() as u64;
/// A formula as gathered (position and text) and as laid out.
const FORMULA: u64 = (std::mem::size_of::<String>() + 8) as u64;
const FORMULA_LAID_OUT: u64 = std::mem::size_of::<String>() as u64;

/// Checks that the xls workbook `file` fits the budget; leaves the file at
/// its start. `Err` names the sheet over it.
pub(super) fn check<R: Read + Seek>(file: &mut R) -> std::io::Result<Result<(), Over>> {
    let stream = Compound::open(file).and_then(|c| c.stream(file, &["Workbook", "Book"]));
    file.rewind()?;
    let Some(stream) = stream else { return Ok(Ok(())) };
    Ok(walk(&stream))
}

/// The sums of one sheet.
#[derive(Default)]
struct Sheet {
    reserved: u64,
    cells: u64,
    text: u64,
    area: Area,
    formulas: u64,
    formula_area: Area,
}

/// The rows and columns the cells name, from the first to the last.
#[derive(Default, Clone, Copy)]
struct Area(Option<(u32, u32, u32, u32)>);

impl Area {
    fn add(&mut self, row: u32, col: u32) {
        self.0 = Some(match self.0 {
            None => (row, row, col, col),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(col), c1.max(col)),
        });
    }

    fn cells(self) -> u64 {
        self.0.map_or(0, |(r0, r1, c0, c1)| u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1))
    }
}

impl Sheet {
    fn bytes(&self) -> u64 {
        let gathered = self.reserved.max(self.cells).saturating_mul(GATHERED);
        gathered
            .saturating_add(self.text)
            .saturating_add(self.area.cells().saturating_mul(LAID_OUT))
            .saturating_add(self.formulas.saturating_mul(FORMULA))
            .saturating_add(self.formula_area.cells().saturating_mul(FORMULA_LAID_OUT))
    }

    fn cell(&mut self, data: &[u8], text: u64) {
        if let (Some(row), Some(col)) = (u16_at(data, 0), u16_at(data, 2)) {
            self.cells += 1;
            self.text = self.text.saturating_add(text);
            self.area.add(u32::from(row), u32::from(col));
        }
    }
}

/// Walks the workbook's globals (sheet positions, shared strings), then
/// each sheet's records as calamine does.
fn walk(stream: &[u8]) -> Result<(), Over> {
    let mut sheets = Vec::new();
    let mut strings: Vec<u64> = Vec::new();
    let mut records = Records { stream, at: 0 };
    while let Some((typ, data)) = records.next() {
        match typ {
            0x0085 => {
                if let Some(pos) = u32_at(data, 0) {
                    let name_len = data.get(6).copied().unwrap_or(0);
                    let name = String::from_utf8_lossy(data.get(8..8 + usize::from(name_len)).unwrap_or(&[]));
                    sheets.push((pos as usize, name.into_owned()));
                }
            }
            0x00FC => strings = shared_string_lengths(data, &mut records),
            0x000A => break,
            _ => {}
        }
    }
    let mut total = 0u64;
    for (pos, name) in sheets {
        let sheet = read_sheet(stream.get(pos..).unwrap_or(&[]), &strings);
        total = total.saturating_add(sheet.bytes());
        if total > MAX_SHEET_BYTES {
            let cells = sheet.reserved.max(sheet.area.cells()).max(sheet.cells);
            return Err(Over { sheet: name, cells, format: "an .xls" });
        }
    }
    Ok(())
}

/// One sheet's substream, to its end (nested substreams skipped).
fn read_sheet(stream: &[u8], strings: &[u64]) -> Sheet {
    let mut s = Sheet::default();
    let (mut records, mut depth, mut seen_bof) = (Records { stream, at: 0 }, 0usize, false);
    while let Some((typ, data)) = records.next() {
        if depth > 0 {
            match typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        match typ {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x000A => break,
            0x0200 => s.reserved = s.reserved.saturating_add(dimensions(data)),
            0x0203 | 0x0205 | 0x027E => s.cell(data, 0),
            0x0204 | 0x00D6 => s.cell(data, u64::from(u16_at(data, 6).unwrap_or(0)) * 3),
            0x00FD => {
                let isst = u32_at(data, 6).unwrap_or(u32::MAX) as usize;
                s.cell(data, strings.get(isst).copied().unwrap_or(0));
            }
            0x00BD => {
                // MulRk: a row, the first column, 6 bytes a cell.
                let (row, first) = (u16_at(data, 0).unwrap_or(0), u16_at(data, 2).unwrap_or(0));
                let n = data.len().saturating_sub(6) / 6;
                for i in 0..n {
                    let col = u32::from(first) + i as u32;
                    s.cells += 1;
                    s.area.add(u32::from(row), col.min(u32::from(u16::MAX)));
                }
            }
            0x0006 => {
                if let (Some(row), Some(col)) = (u16_at(data, 0), u16_at(data, 2)) {
                    s.cells += 1;
                    s.area.add(u32::from(row), u32::from(col));
                    s.formulas += 1;
                    s.formula_area.add(u32::from(row), u32::from(col));
                    // A formula's text is written from its tokens: a few
                    // times their bytes at most.
                    s.text = s.text.saturating_add(4 * data.len() as u64);
                }
            }
            0x0207 => s.text = s.text.saturating_add(u64::from(u16_at(data, 0).unwrap_or(0)) * 3),
            _ => {}
        }
    }
    s
}

/// The cells calamine reserves for a DIMENSIONS record, computed as it
/// does (u32 arithmetic that wraps on a first row past the last).
fn dimensions(r: &[u8]) -> u64 {
    let (rf, rl, cf, cl) = match r.len() {
        10 => (u32::from(u16_at(r, 0).unwrap_or(0)), u32::from(u16_at(r, 2).unwrap_or(0)), u16_at(r, 4), u16_at(r, 6)),
        14 | 16 => (u32_at(r, 0).unwrap_or(0), u32_at(r, 4).unwrap_or(0), u16_at(r, 8), u16_at(r, 10)),
        _ => return 0,
    };
    let (mut cf, cl) = (u32::from(cf.unwrap_or(0)), u32::from(cl.unwrap_or(0)));
    if 0xFF < cf || cl < cf {
        cf = 0;
    }
    if rl < 1 || cl < 1 {
        return 1;
    }
    let rows = (rl - 1).wrapping_sub(rf).wrapping_add(1);
    let cols = (cl - 1).wrapping_sub(cf).wrapping_add(1);
    u64::from(rows).saturating_mul(u64::from(cols))
}

/// The length in UTF-8 (at most) of each shared string: the SST record and
/// the CONTINUE records after it, as one run of strings.
fn shared_string_lengths(first: &[u8], records: &mut Records<'_>) -> Vec<u64> {
    let mut parts = vec![first];
    while records.peek_type() == Some(0x003C) {
        if let Some((_, data)) = records.next() {
            parts.push(data);
        }
    }
    let declared = u32_at(first, 4).unwrap_or(0) as usize;
    let mut lengths = Vec::with_capacity(declared.min(first.len() + 64));
    let mut reader = Parts { parts, part: 0, at: 8 };
    while lengths.len() < declared {
        let (Some(cch), Some(flags)) = (reader.u16(), reader.u8()) else { break };
        let mut high = flags & 1 != 0;
        let runs = if flags & 8 != 0 { reader.u16().unwrap_or(0) } else { 0 };
        let ext = if flags & 4 != 0 { reader.u32().unwrap_or(0) } else { 0 };
        let mut left = usize::from(cch);
        let mut bytes = 0u64;
        while left > 0 {
            let width = if high { 2 } else { 1 };
            let here = reader.left_in_part() / width;
            if here == 0 {
                // A string continued in the next part starts with its flags again.
                if !reader.next_part() {
                    break;
                }
                high = reader.u8().is_some_and(|f| f & 1 != 0);
                continue;
            }
            let n = here.min(left);
            reader.skip(n * width);
            bytes += (n as u64) * if high { 3 } else { 1 };
            left -= n;
        }
        reader.skip_across(4 * usize::from(runs) + ext as usize);
        lengths.push(bytes);
    }
    lengths
}

/// The parts of a record continued by CONTINUE records, read in order.
struct Parts<'a> {
    parts: Vec<&'a [u8]>,
    part: usize,
    at: usize,
}

impl Parts<'_> {
    fn left_in_part(&self) -> usize {
        self.parts.get(self.part).map_or(0, |p| p.len().saturating_sub(self.at))
    }

    fn next_part(&mut self) -> bool {
        self.part += 1;
        self.at = 0;
        self.part < self.parts.len()
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.left_in_part() == 0 {
            self.next_part();
        }
        let p = self.parts.get(self.part)?;
        let b = p.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(b)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes::<2>().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn skip(&mut self, n: usize) {
        self.at += n;
    }

    /// Skips `n` bytes that may run on into the next parts.
    fn skip_across(&mut self, mut n: usize) {
        while n > 0 {
            let here = self.left_in_part().min(n);
            self.at += here;
            n -= here;
            if n > 0 && !self.next_part() {
                return;
            }
        }
    }
}

/// BIFF records: a type, a length, the data.
struct Records<'a> {
    stream: &'a [u8],
    at: usize,
}

impl<'a> Records<'a> {
    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let typ = u16_at(self.stream, self.at)?;
        let len = usize::from(u16_at(self.stream, self.at + 2)?);
        let data = self.stream.get(self.at + 4..self.at + 4 + len)?;
        self.at += 4 + len;
        Some((typ, data))
    }

    fn peek_type(&self) -> Option<u16> {
        u16_at(self.stream, self.at)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// An OLE compound file: its sector size, allocation table and directory.
struct Compound {
    sector: usize,
    sectors: usize,
    fat: Vec<u32>,
    /// Directory entries: name, type, first sector, size.
    entries: Vec<(String, u8, u32, u64)>,
    mini_cutoff: u64,
    mini_fat_start: u32,
}

const END_OF_CHAIN: u32 = 0xFFFF_FFFE;

impl Compound {
    fn open<R: Read + Seek>(file: &mut R) -> Option<Compound> {
        let len = file.seek(SeekFrom::End(0)).ok()?;
        let mut head = [0u8; 512];
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_exact(&mut head).ok()?;
        if head[..8] != [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] {
            return None;
        }
        let sector = 1usize.checked_shl(u32::from(u16_at(&head, 0x1E)?)).filter(|s| (512..=4096).contains(s))?;
        let sectors = usize::try_from(len).ok()? / sector;
        let mut c = Compound {
            sector,
            sectors,
            fat: Vec::new(),
            entries: Vec::new(),
            mini_cutoff: u64::from(u32_at(&head, 0x38)?),
            mini_fat_start: u32_at(&head, 0x3C)?,
        };
        // The allocation table's sectors: 109 in the header, then DIFAT sectors.
        let fat_count = (u32_at(&head, 0x2C)? as usize).min(sectors);
        let mut fat_sectors: Vec<u32> = (0..109).filter_map(|i| u32_at(&head, 0x4C + 4 * i)).collect();
        let (mut difat, mut guard) = (u32_at(&head, 0x44)?, 0);
        while (difat as usize) < sectors && fat_sectors.len() < fat_count && guard < sectors {
            let s = c.read_sector(file, difat)?;
            fat_sectors.extend((0..sector / 4 - 1).filter_map(|i| u32_at(&s, 4 * i)));
            difat = u32_at(&s, sector - 4)?;
            guard += 1;
        }
        fat_sectors.truncate(fat_count);
        for s in fat_sectors {
            let data = c.read_sector(file, s)?;
            c.fat.extend((0..sector / 4).filter_map(|i| u32_at(&data, 4 * i)));
        }
        let dir = c.chain(file, u32_at(&head, 0x30)?, u64::MAX)?;
        c.entries = dir
            .chunks_exact(128)
            .map(|e| {
                let name_len = usize::from(u16_at(e, 64).unwrap_or(0)).min(64);
                let name: Vec<u16> = (0..name_len / 2).filter_map(|i| u16_at(e, 2 * i)).collect();
                let name = String::from_utf16_lossy(&name).trim_end_matches('\0').to_owned();
                let size = u64::from(u32_at(e, 120).unwrap_or(0));
                (name, e[66], u32_at(e, 116).unwrap_or(END_OF_CHAIN), size)
            })
            .collect();
        Some(c)
    }

    fn read_sector<R: Read + Seek>(&self, file: &mut R, n: u32) -> Option<Vec<u8>> {
        if n as usize >= self.sectors {
            return None;
        }
        let mut buf = vec![0u8; self.sector];
        file.seek(SeekFrom::Start(((n as u64) + 1) * self.sector as u64)).ok()?;
        file.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// The bytes of the chain from `start`, at most `size`; a chain that
    /// loops or leaves the file ends where it does.
    fn chain<R: Read + Seek>(&self, file: &mut R, start: u32, size: u64) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let (mut n, mut steps) = (start, 0);
        while n != END_OF_CHAIN && (n as usize) < self.sectors && steps <= self.fat.len() && (out.len() as u64) < size {
            out.extend_from_slice(&self.read_sector(file, n)?);
            n = *self.fat.get(n as usize)?;
            steps += 1;
        }
        out.truncate(usize::try_from(size).unwrap_or(usize::MAX).min(out.len()));
        Some(out)
    }

    /// The first stream with one of `names` (a small one from the mini stream).
    fn stream<R: Read + Seek>(&self, file: &mut R, names: &[&str]) -> Option<Vec<u8>> {
        let (_, _, start, size) = self.entries.iter().find(|e| e.1 == 2 && names.contains(&e.0.as_str()))?;
        if *size >= self.mini_cutoff {
            return self.chain(file, *start, *size);
        }
        let root = self.entries.iter().find(|e| e.1 == 5)?;
        let mini = self.chain(file, root.2, root.3)?;
        let mini_fat: Vec<u32> = {
            let b = self.chain(file, self.mini_fat_start, u64::MAX)?;
            (0..b.len() / 4).filter_map(|i| u32_at(&b, 4 * i)).collect()
        };
        let (mut out, mut n, mut steps) = (Vec::new(), *start, 0);
        while n != END_OF_CHAIN && steps <= mini_fat.len() && (out.len() as u64) < *size {
            out.extend_from_slice(mini.get(n as usize * 64..(n as usize + 1) * 64)?);
            n = *mini_fat.get(n as usize)?;
            steps += 1;
        }
        out.truncate(usize::try_from(*size).unwrap_or(usize::MAX).min(out.len()));
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_as_calamine_reserves_them() {
        let biff8 = |rf: u32, rl: u32, cf: u16, cl: u16| {
            let mut r = Vec::new();
            r.extend_from_slice(&rf.to_le_bytes());
            r.extend_from_slice(&rl.to_le_bytes());
            r.extend_from_slice(&cf.to_le_bytes());
            r.extend_from_slice(&cl.to_le_bytes());
            r.extend_from_slice(&[0, 0]);
            dimensions(&r)
        };
        assert_eq!(biff8(0, 10, 0, 4), 40);
        assert_eq!(biff8(0, 0xFFFF_FFF0, 0, 9), 0xFFFF_FFF0 * 9);
        assert_eq!(biff8(5, 2, 0, 1), u64::from(u32::MAX - 2), "a first row past the last wraps");
    }

    #[test]
    fn the_fixture_workbook_is_found_read_and_fits() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/leads.xls");
        let mut file = std::fs::File::open(path).expect("fixture");
        let c = Compound::open(&mut file).expect("a compound file");
        let stream = c.stream(&mut file, &["Workbook", "Book"]).expect("its workbook stream");
        let mut records = Records { stream: &stream, at: 0 };
        let sheets = std::iter::from_fn(|| records.next()).take_while(|r| r.0 != 0x000A).filter(|r| r.0 == 0x0085);
        assert_eq!(sheets.count(), 2);
        let first = read_sheet(&stream, &[]);
        assert_eq!(first.cells, 0, "the globals hold no cells");
        assert!(matches!(check(&mut file), Ok(Ok(()))));
        assert_eq!(std::io::Seek::stream_position(&mut file).expect("position"), 0, "left at its start");
    }

    #[test]
    fn a_shared_string_continued_in_the_next_record_is_counted_whole() {
        // SST: 1 string, 6 characters, 3 in the SST record and 3 more in a
        // CONTINUE record that starts with the flags again (now 16-bit).
        let mut sst = vec![0u8; 8];
        sst[4] = 1;
        sst.extend_from_slice(&[6, 0, 0, b'a', b'b', b'c']);
        let cont = [1u8, b'd', 0, b'e', 0, b'f', 0];
        let mut stream = Vec::new();
        stream.extend_from_slice(&0x003Cu16.to_le_bytes());
        stream.extend_from_slice(&(cont.len() as u16).to_le_bytes());
        stream.extend_from_slice(&cont);
        let mut records = Records { stream: &stream, at: 0 };
        assert_eq!(shared_string_lengths(&sst, &mut records), [3 + 3 * 3]);
    }
}
