//! Reading a file a user (or a host's saved project) named: whole, bounded, and only if it is a
//! regular file.
//!
//! `std::fs::read` trusts the path: on `/dev/zero` or `/dev/urandom` it grows its buffer until
//! the process runs out of memory, on a named pipe without a writer it blocks forever, and on a
//! directory it fails with a bare "Is a directory". A plugin that restores a saved voice path
//! must do none of these, so every parser of user files reads through [`read_user_file`].

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Reads `path` whole if it is a regular file (after following links) of at most `max_bytes`.
///
/// The errors are `io::Error`s whose message says what is wrong in words ("is a directory, not
/// a file", "is 3000000000 bytes, larger than a voice file can be (2147483648 bytes at most)");
/// `what` names the kind of file, with its article ("a voice file"). Callers prefix the path.
pub fn read_user_file(path: &Path, max_bytes: u64, what: &str) -> io::Result<Vec<u8>> {
    // `metadata` follows links and does not open the file, so a pipe is refused before an
    // `open` that would block waiting for its writer.
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "a device, pipe or socket" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is {kind}, not a file")));
    }
    let too_large = |len: u64| {
        io::Error::new(io::ErrorKind::InvalidData, format!("is {len} bytes, larger than {what} can be ({max_bytes} bytes at most)"))
    };
    if meta.len() > max_bytes {
        return Err(too_large(meta.len()));
    }
    // The file may grow between the check and the read: read one byte past the limit at most.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    fs::File::open(path)?.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_user_file(&path, 5, "a test file").unwrap(), b"12345");
    }

    #[test]
    fn refuses_a_file_over_the_limit_before_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        fs::write(&path, b"123456").unwrap();
        let e = read_user_file(&path, 5, "a test file").unwrap_err().to_string();
        assert_eq!(e, "is 6 bytes, larger than a test file can be (5 bytes at most)");
    }

    #[test]
    fn refuses_directories_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_user_file(dir.path(), 1 << 20, "a test file").unwrap_err().to_string();
        assert_eq!(e, "is a directory, not a file");
        // An endless device: reading it whole would exhaust memory.
        let e = read_user_file(Path::new("/dev/zero"), 1 << 20, "a test file").unwrap_err().to_string();
        assert_eq!(e, "is a device, pipe or socket, not a file");
    }

    #[test]
    fn a_missing_file_is_the_os_error() {
        let e = read_user_file(Path::new("/nonexistent/x"), 1, "a test file").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
