//! Logs under systemd: when stderr is journald's stream (`JOURNAL_STREAM` names its device and
//! inode), each event is written as one line with its syslog priority prefix (`<3>` error … `<7>`
//! debug), which journald reads as the entry's priority (`journalctl -p warning` finds the
//! warnings), and a message's line breaks are escaped so one event stays one entry. journald
//! stamps the time itself.

use std::io::Write;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Whether stderr is the stream `JOURNAL_STREAM` names (`DEVICE:INODE`, decimal).
pub fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.trim().parse::<u64>(), ino.trim().parse::<u64>()) else {
        return false;
    };
    // SAFETY: fstat on the process's own stderr descriptor into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev as u64 == dev && st.st_ino as u64 == ino
}

/// The syslog priority of a level (sd-daemon(3)).
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One event's formatted text as one journal line: `<N>` then the text with its line breaks
/// escaped (`\n`, `\r`) and one final newline.
pub fn line(priority: u8, text: &[u8]) -> Vec<u8> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() + 5);
    let _ = write!(out, "<{priority}>");
    for &b in text {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            // journald's stream protocol ends a line at a NUL too.
            0 => out.extend_from_slice(b"\\0"),
            b => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

/// Writes a message the command prints itself, not a log event (`error: …`, `warning: …`), to
/// stderr: under journald as one entry with its `priority` (3 error, 4 warning), else as is.
pub fn report(priority: u8, text: &str) {
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let mut err = std::io::stderr().lock();
    let _ = if journal {
        err.write_all(&line(priority, text.as_bytes()))
    } else {
        writeln!(err, "{text}")
    };
}

/// Writes each event to stderr as one [`line`] (buffered per event, written at once).
pub struct JournalStderr;

/// The buffer of one event.
pub struct Entry {
    priority: u8,
    buf: Vec<u8>,
}

impl Write for Entry {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = std::io::stderr()
                .lock()
                .write_all(&line(self.priority, &self.buf));
        }
    }
}

impl<'a> MakeWriter<'a> for JournalStderr {
    type Writer = Entry;

    fn make_writer(&'a self) -> Entry {
        Entry {
            priority: 6,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Entry {
        Entry {
            priority: priority(meta.level()),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_is_one_prefixed_line() {
        assert_eq!(line(4, b"WARN a\nb\r\n"), b"<4>WARN a\\nb\\r\n");
        assert_eq!(line(3, b"x"), b"<3>x\n");
        assert_eq!(line(6, b"a\0b"), b"<6>a\\0b\n");
        assert_eq!(
            [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE
            ]
            .map(|l| priority(&l)),
            [3, 4, 6, 7, 7]
        );
    }

    #[test]
    fn only_the_named_stream_is_the_journal() {
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("not:numbers")));
        assert!(!stderr_is_journal(Some("1")));
        assert!(!stderr_is_journal(Some("0:0")));
    }
}
