//! Bounded reads of user files. Every file a user names (models, `.npy` data, a build
//! directory's manifest, report and Verilog) is read through [`read`] with a size limit, so a
//! huge file, a device such as `/dev/zero` or a pipe that never ends is refused with a clear
//! error instead of being read until memory runs out.
//!
//! Limits (docs/reliability.md, "Round 2"): [`MAX_MODEL_BYTES`] for models and the text files
//! of a build directory, [`MAX_DATA_BYTES`] for `.npy` data (read by `sim::io`, which checks
//! the size the header declares against it before reading the data).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest model file (native JSON, QONNX, Keras export) and build-directory file: 256 MiB.
/// The largest model within the operation limit (2 million operations, `passes::limits`) is a
/// few tens of MB even as JSON text.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Largest `.npy` data file: 1 GiB (134 million float64 values).
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// Reads all of `path`, refusing files longer than `limit` bytes (checked on the file's size
/// first for regular files, then while reading, for devices and pipes); `what` names the kind
/// of file in the error (e.g. "model file").
pub fn read(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Data {
            file: path.display().to_string(),
            message: format!("is a directory, not a {what}"),
        });
    }
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(path, what, limit, Some(meta.len())));
    }
    let mut bytes = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        0
    });
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(path, what, limit, None));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String> {
    String::from_utf8(read(path, limit, what)?).map_err(|e| Error::Data {
        file: path.display().to_string(),
        message: format!(
            "is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// The error for a file beyond `limit` (`len`: its size, when known).
pub fn too_large(path: &Path, what: &str, limit: u64, len: Option<u64>) -> Error {
    let size = match len {
        Some(n) => format!("is {n} bytes long"),
        None => "is longer than that (a device or an endless stream?)".to_string(),
    };
    Error::Data {
        file: path.display().to_string(),
        message: format!(
            "a {what} may be at most {limit} bytes ({} MiB); this one {size}",
            limit >> 20
        ),
    }
}
