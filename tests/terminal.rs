//! leadctl in a pseudo-terminal, as an operator sees it: the bar tells the
//! truth (rows sorted, not rows read) and never wraps, at 80 and at 40
//! columns and across a resize; the final table arrives alone, with no bar
//! fragment left; `--initialize` asks before it starts calls (and sends
//! nothing when the answer is no).
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{World, leads_csv};

fn winsize(cols: u16) -> nix::pty::Winsize {
    nix::pty::Winsize { ws_row: 24, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

/// Runs `leadctl ARGS` with stdin, stdout and stderr on a new pseudo-terminal
/// `cols` wide.
fn spawn_in_pty(world: &World, args: &[&str], cols: u16) -> (Child, std::fs::File) {
    let pty = nix::pty::openpty(Some(&winsize(cols)), None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut cmd = world.cmd();
    cmd.env("LEADCTL_API_URL", world.sandbox().url())
        .env("LEADCTL_API_KEY", world.sandbox().api_key())
        .env("LEADCTL_PROJECT_ID", world.sandbox().project_id())
        .env("TERM", "xterm-256color")
        .args(args)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    let child = cmd.spawn().expect("spawn leadctl");
    (child, std::fs::File::from(pty.master))
}

/// Makes the terminal `cols` wide, as dragging the window's edge does.
fn resize(master: &std::fs::File, cols: u16) {
    let ws = winsize(cols);
    // SAFETY: TIOCSWINSZ reads one `winsize` from a valid pointer; the fd is open.
    let rc = unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0, "resize the pty");
}

/// Reads the terminal until `pattern` shows (or the child closes it).
fn read_until(master: &mut std::fs::File, seen: &mut String, pattern: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while !seen.contains(pattern) {
        if Instant::now() > deadline {
            return false;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => return seen.contains(pattern), // EIO: the child closed the terminal
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    true
}

/// What was written to the terminal, cut at every carriage return, line
/// feed and escape sequence: each piece is text drawn in one go.
fn pieces(stream: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = stream.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => out.push(String::new()),
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_some() {
                    while chars.next_if(|c| !('\u{40}'..='\u{7e}').contains(c)).is_some() {}
                }
                chars.next();
                out.push(String::new());
            }
            c => out.last_mut().expect("one piece at least").push(c),
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The frames of the bar among the pieces (every frame has an ETA field).
fn frames(stream: &str) -> Vec<String> {
    pieces(stream).into_iter().filter(|p| p.contains("ETA ")).collect()
}

/// A terminal `cols` wide, enough of one to see what stays on screen:
/// printing with autowrap, carriage return, line feed, cursor up/down,
/// erase in line. Rows grow downwards without scrolling.
struct Screen {
    cols: usize,
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    fn new(cols: usize) -> Screen {
        Screen { cols, rows: vec![Vec::new()], row: 0, col: 0 }
    }

    fn line(&mut self) -> &mut Vec<char> {
        while self.rows.len() <= self.row {
            self.rows.push(Vec::new());
        }
        &mut self.rows[self.row]
    }

    fn feed(&mut self, stream: &str) {
        let mut chars = stream.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => self.col = 0,
                '\n' => self.row += 1,
                '\u{1b}' if chars.next_if_eq(&'[').is_some() => {
                    let mut params = String::new();
                    while let Some(p) = chars.next_if(|c| !('\u{40}'..='\u{7e}').contains(c)) {
                        params.push(p);
                    }
                    let n: usize = params.parse().unwrap_or(0);
                    match chars.next() {
                        Some('A') => self.row = self.row.saturating_sub(n.max(1)),
                        Some('B') => self.row += n.max(1),
                        Some('K') => {
                            let col = self.col;
                            let line = self.line();
                            match n {
                                0 => line.truncate(col),
                                1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                                _ => line.clear(),
                            }
                        }
                        _ => {} // colours, cursor visibility: nothing on screen
                    }
                }
                '\u{1b}' => {
                    chars.next();
                }
                c => {
                    if self.col == self.cols {
                        self.row += 1;
                        self.col = 0;
                    }
                    let col = self.col;
                    let line = self.line();
                    if line.len() <= col {
                        line.resize(col + 1, ' ');
                    }
                    line[col] = c;
                    self.col += 1;
                }
            }
        }
    }

    fn text(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.iter().collect::<String>().trim_end().to_owned()).collect()
    }
}

/// A number as the bar writes it: `1,234`.
fn number(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// What a frame says: its percentage, rows done, the total (and whether it
/// is an estimate), and the counts by file when they are shown.
#[derive(Debug)]
struct Frame {
    percent: Option<u64>,
    done: u64,
    total: Option<(u64, bool)>,
    files: Option<u64>,
}

fn parse(frame: &str) -> Frame {
    let words: Vec<&str> = frame.split_whitespace().collect();
    let percent = words.iter().find_map(|w| w.strip_suffix('%')).and_then(number);
    // The first number that is not the clock, the percentage or the rate.
    let rows = words.iter().find(|w| {
        w.starts_with(|c: char| c.is_ascii_digit()) && !w.contains(':') && !w.ends_with('%') && !w.ends_with("/s")
    });
    let rows = rows.expect("a rows field");
    let (done, total) = match rows.split_once('/') {
        Some((d, t)) => (d, Some((number(t.trim_start_matches('~')).expect("total"), t.starts_with('~')))),
        None => (*rows, None),
    };
    // The three counts, when all are shown in full (not as `6.0k`).
    let count = |labels: [&str; 2]| {
        let at = words.iter().position(|w| labels.contains(w))?;
        words.get(at + 1).and_then(|n| number(n))
    };
    let files = [["acc", "accepted"], ["rej", "rejected"], ["retry", "retryable"]].map(count).into_iter().sum();
    Frame { percent, done: number(done).expect("rows done"), total, files }
}

/// The rate-limited run: the sandbox answers 4 requests a second (a burst
/// of 4) and leadctl sends 120 rows 5 at a time, so it spends a few seconds
/// sending, paused by 429s, after reading the file at once.
const ROWS: u64 = 120;

fn rate_limited_world() -> World {
    World::with_sandbox(|c| {
        c.rate_per_sec = 4.0;
        c.burst = 4;
    })
}

fn upload_args(world: &World) -> Vec<String> {
    let file = world.file("l.csv", leads_csv(ROWS as usize, "proc_sales"));
    let out = world.path("out");
    let args =
        ["upload", file.to_str().expect("utf-8"), "--batch-size", "5", "--out-dir", out.to_str().expect("utf-8")];
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Runs the rate-limited upload at `cols` columns (resized to `then` after
/// the first frame, when given) and returns everything it wrote.
fn rate_limited_run(cols: u16, then: Option<u16>) -> (String, usize) {
    let world = rate_limited_world();
    let args = upload_args(&world);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, mut master) = spawn_in_pty(&world, &args, cols);
    let mut seen = String::new();
    let mut resized_at = 0;
    if let Some(to) = then {
        assert!(read_until(&mut master, &mut seen, "ETA ", Duration::from_secs(30)), "no bar: {seen:?}");
        resized_at = seen.len();
        resize(&master, to);
    }
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(60));
    read_until(&mut master, &mut seen, "\n", Duration::from_secs(5));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(world.state().requests.iter().any(|r| r.status == Some(429)), "the run was rate limited");
    (seen, resized_at)
}

/// Every frame fits `cols`, and says no more than the truth: its
/// percentage never passes the share of the file's rows sorted by more
/// than rounding, its counts by file add up to its rows done, and it never
/// says `ETA 0s` before the end.
fn assert_frames_tell_the_truth(frames: &[String], cols: usize) {
    for f in frames {
        assert!(console::measure_text_width(f) < cols, "{cols} columns, frame {f:?}");
        let p = parse(f);
        assert!(p.done <= ROWS, "{f:?}");
        if let Some(percent) = p.percent {
            assert!(percent <= p.done * 100 / ROWS + 2, "{percent}% with {} of {ROWS} rows sorted: {f:?}", p.done);
        }
        if let Some((total, estimate)) = p.total {
            assert!(estimate || total == ROWS, "{f:?}");
        }
        if let Some(files) = p.files {
            assert_eq!(files, p.done, "counts by file add up to rows done: {f:?}");
        }
        if p.done < ROWS {
            assert!(!f.contains("ETA 0s"), "rows left but ETA 0s: {f:?}");
        }
    }
}

/// The bar moved through the run: percentages between the ends.
fn assert_progress_was_shown(frames: &[String]) {
    let mut shown: Vec<u64> = frames.iter().filter_map(|f| parse(f).percent).filter(|p| (1..100).contains(p)).collect();
    shown.dedup();
    assert!(shown.len() >= 3, "the bar showed progress along the way: {frames:#?}");
}

/// The end: no bar left on screen, and the table's lines start at column 0.
fn assert_the_table_stands_alone(stream: &str, cols: usize) {
    let mut screen = Screen::new(cols);
    screen.feed(stream);
    let text = screen.text();
    assert!(!text.iter().any(|r| r.contains("ETA ")), "a bar fragment is left on screen: {text:#?}");
    let table = text.iter().position(|r| r.starts_with("read ")).expect("the table");
    assert_eq!(text[table], format!("read       {ROWS}"), "{text:#?}");
    let labels: Vec<&str> = text[table..].iter().filter_map(|r| r.split_whitespace().next()).collect();
    for label in ["accepted", "rejected", "retryable"] {
        assert!(labels.contains(&label), "{label} in {text:#?}");
    }
    assert!(text[table..].iter().any(|r| r.starts_with(&format!("accepted   {ROWS}"))), "{text:#?}");
}

#[test]
fn at_80_columns_the_bar_tells_the_truth_and_the_table_stands_alone() {
    let (seen, _) = rate_limited_run(80, None);
    let frames = frames(&seen);
    assert_frames_tell_the_truth(&frames, 80);
    assert_progress_was_shown(&frames);
    assert!(frames.iter().any(|f| parse(f).files.is_some()), "80 columns show the counts by file: {frames:#?}");
    assert!(frames.iter().any(|f| f.contains("paused ")), "the 429 pause is shown: {frames:#?}");
    assert_the_table_stands_alone(&seen, 80);
}

#[test]
fn at_40_columns_the_essentials_fit() {
    let (seen, _) = rate_limited_run(40, None);
    let frames = frames(&seen);
    assert_frames_tell_the_truth(&frames, 40);
    assert_progress_was_shown(&frames);
    for f in &frames {
        let p = parse(f);
        assert!(p.percent.is_some() || p.total.is_none(), "{f:?}");
    }
    assert_the_table_stands_alone(&seen, 40);
}

#[test]
fn a_resize_takes_effect_at_the_next_frame() {
    let (seen, resized_at) = rate_limited_run(120, Some(40));
    let before = frames(&seen[..resized_at]);
    assert!(before.iter().any(|f| f.len() > 40), "120 columns use the room: {before:#?}");
    let after = frames(&seen[resized_at..]);
    // A frame drawn just before the resize may still be on its way.
    let wide = after.iter().position(|f| f.len() < 40).expect("frames at the new width");
    assert!(wide <= 2, "{after:#?}");
    assert_frames_tell_the_truth(&after[wide..], 40);
}

#[test]
fn initialize_asks_first_and_no_means_nothing_is_sent() {
    let world = World::with_sandbox(|_| {});
    let file = world.file("l.csv", leads_csv(7, "proc_sales"));
    let f = file.to_str().expect("utf-8");

    let (mut child, mut master) = spawn_in_pty(&world, &["upload", f, "--initialize", "--out-dir", "o1"], 80);
    let mut seen = String::new();
    assert!(read_until(&mut master, &mut seen, "Type yes", Duration::from_secs(20)), "no prompt: {seen}");
    assert!(seen.contains("phone calls to 7 leads"), "{seen}");
    master.write_all(b"no\r").expect("answer");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    assert!(world.state().requests.is_empty(), "no means nothing is sent");

    let (mut child, mut master) = spawn_in_pty(&world, &["upload", f, "--initialize", "--out-dir", "o2"], 80);
    let mut seen = String::new();
    assert!(read_until(&mut master, &mut seen, "Type yes", Duration::from_secs(20)), "no prompt: {seen}");
    master.write_all(b"yes\r").expect("answer");
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(20));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{seen}");
    assert_eq!(world.state().call_attempts.len(), 7, "yes starts the calls");

    // --yes skips the question.
    let file2 = world.file("m.csv", leads_csv(12, "proc_support"));
    let (mut child, mut master) = spawn_in_pty(
        &world,
        &["upload", file2.to_str().expect("utf-8"), "--initialize", "--yes", "--out-dir", "o3"],
        80,
    );
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "retryable  ", Duration::from_secs(20));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{seen}"); // the first 7 phones already have a call attempt
    assert!(!seen.contains("Type yes"), "--yes must not ask: {seen}");
    assert_eq!(world.state().call_attempts.len(), 12);
}
