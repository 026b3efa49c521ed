//! Opening and reading a small file the user named on the command line
//! (`audit --passwords`, `monitor --alerts`, `proxy serve --config`). The
//! path may name anything: a directory, a named pipe no program writes to
//! (whose `open` blocks until a writer comes, which may be never), or
//! `/dev/zero` (which never ends). Each of these is one error line instead
//! of a hang or a read to the end of memory.
//!
//! # Platform specific behavior
//! A FIFO opened with `O_NONBLOCK` for reading opens at once; `poll(2)` then
//! reports it readable once a writer wrote or came and went, and never while
//! no writer ever opened it (Linux keeps `POLLHUP` for a FIFO a writer has
//! left). A pipe given as `<(command)` reads as `/dev/fd/N`, which is no path
//! on any file system: its writer is the command, so it is read as it is.
//! See: <https://man7.org/linux/man-pages/man7/fifo.7.html>

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a named pipe may stay without a writer before it is given up
/// on: long enough for a writer started alongside porthole
/// (`mkfifo p; producer > p & porthole … p`), short of a hang.
pub const FIFO_WRITER_WAIT: Duration = Duration::from_secs(5);

/// Opens `path` for reading. A directory or a socket is refused by name; a
/// named pipe is opened only once a writer has written into it or closed
/// it, within [`FIFO_WRITER_WAIT`]. The file returned reads blocking.
pub fn open(path: &Path) -> io::Result<File> {
    let metadata = std::fs::metadata(path)?;
    let file_type = metadata.file_type();
    if file_type.is_dir() || file_type.is_socket() {
        let kind = crate::file_kind::not_a_regular_file(file_type).unwrap_or("a special file");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{kind}, not a file")));
    }
    if file_type.is_fifo() && is_named(path) {
        return open_named_pipe(path, FIFO_WRITER_WAIT);
    }
    File::open(path)
}

/// Reads all of `path` (see [`open`]) when it holds at most `limit` bytes;
/// a longer file (or a device that never ends) is an error once `limit`
/// bytes have been read, not at the end of memory.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path)?.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {} KiB", limit.div_ceil(1024)),
        ));
    }
    Ok(bytes)
}

/// Whether `path` resolves to a file on a file system, as a `mkfifo` pipe
/// does; `/dev/fd/N` of an anonymous pipe resolves to `pipe:[INODE]`, which
/// names nothing.
fn is_named(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|resolved| resolved.starts_with("/"))
}

/// Opens the named pipe at `path` without blocking, waits up to `wait` for
/// a writer's data or close, then returns it reading blocking.
fn open_named_pipe(path: &Path, wait: Duration) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsRawFd;
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())?;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // An interrupting signal reports nothing ready: wait again for what
        // is left of the deadline.
        if super::poll::readable(&[fd.as_raw_fd()], left)?[0] {
            break;
        }
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("a named pipe no program wrote into within {}s", wait.as_secs()),
            ));
        }
    }
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::Mode;

    #[test]
    fn a_named_pipe_without_a_writer_is_given_up_on() {
        let directory = tempfile::tempdir().expect("temp dir");
        let fifo = directory.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).expect("mkfifo");
        let error = open_named_pipe(&fifo, Duration::from_millis(50)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    }

    #[test]
    fn a_named_pipe_with_a_writer_is_read_to_its_end() {
        let directory = tempfile::tempdir().expect("temp dir");
        let fifo = directory.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).expect("mkfifo");
        let writer_path = fifo.clone();
        // The writer's open blocks until the reader is there: no timing.
        let writer = std::thread::spawn(move || std::fs::write(writer_path, b"ops:hunter2\n"));
        let bytes = read(&fifo, 1024).expect("read");
        writer.join().expect("writer").expect("write");
        assert_eq!(bytes, b"ops:hunter2\n");
    }

    #[test]
    fn a_device_that_never_ends_is_cut_at_the_limit() {
        let error = read(Path::new("/dev/zero"), 4096).unwrap_err();
        assert_eq!(error.to_string(), "larger than 4 KiB");
        let error = read(Path::new("/"), 4096).unwrap_err();
        assert_eq!(error.to_string(), "a directory, not a file");
    }
}
