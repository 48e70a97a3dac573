//! Writing files without destroying anything a user owns (issue #14, docs/reliability.md
//! "Round 2: files"): which directories may be replaced, links never written through, atomic
//! file writes, outputs that would overwrite an input refused before any work.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

fn refuse(path: &Path, message: String) -> Error {
    Error::Data {
        file: path.display().to_string(),
        message,
    }
}

/// Whether `name` is a temporary that rtl4ml leaves only when killed mid-write
/// (`.NAME.rtl4ml-tmp-PID`, see [`write_atomic`]).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".rtl4ml-tmp-")
}

/// Fails if a component of `dir/sub` that exists is a symbolic link or not a directory
/// (what [`build_subdir`] refuses), without creating anything.
pub fn check_subdir(dir: &Path, sub: &str) -> Result<()> {
    let mut p = dir.to_path_buf();
    for c in Path::new(sub).components() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return build_subdir(dir, sub).map(|_| ()),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// The subdirectory `sub` of the build directory `dir` (`verify/verilator`, `synth/xilinx`),
/// created if missing. Refused when any component below `dir` is a symbolic link or not a
/// directory: files written there would land wherever the link points.
pub fn build_subdir(dir: &Path, sub: &str) -> Result<PathBuf> {
    let mut p = dir.to_path_buf();
    for c in Path::new(sub).components() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                let what = if m.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "not a directory"
                };
                return Err(refuse(
                    &p,
                    format!(
                        "is {what}; rtl4ml writes only into real directories of a build \
                         (remove it and run again)"
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&p).map_err(|e| Error::io(&p, e))?;
            }
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok(p)
}

/// Fails if `path` (a file rtl4ml is about to write inside a build directory) is a symbolic
/// link or not a regular file.
pub fn check_not_link(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refuse(
            path,
            "is a symbolic link; rtl4ml never writes through a link inside a build directory \
             (remove it and run again)"
                .into(),
        )),
        Ok(m) if !m.is_file() => Err(refuse(
            path,
            "exists and is not a regular file; refusing to replace it".into(),
        )),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory renamed over
/// it. A symbolic link at `path` is replaced, never written through.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write(bytes)?;
    f.commit()
}

/// A file written in pieces and put in place at once ([`write_atomic`] for output that does
/// not fit in memory): the pieces go to a temporary file next to `path`, [`AtomicFile::commit`]
/// syncs it and renames it over `path`. Dropped without a commit (an error on the way), the
/// temporary file is removed and `path` is untouched.
pub struct AtomicFile {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.rtl4ml-tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let f = self.file.as_mut().expect("not committed");
        f.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))
    }

    /// Flushes and syncs the temporary file and renames it over the path.
    pub fn commit(mut self) -> Result<()> {
        let f = self.file.take().expect("not committed");
        let synced = f
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all());
        if let Err(e) = synced {
            return Err(Error::io(&self.tmp, e));
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Committed: renamed away (a failed rename leaves the temporary file: remove it too).
        self.file.take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Whether two paths name the same existing file (same device and inode, links followed).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// Checks an output file before any work starts: `what` (the flag, e.g. `--output`) must not
/// be a directory, its parent directory must exist, and it must not be the same file as any
/// of `inputs` (`(flag, path)`).
pub fn check_output_file(what: &str, out: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    if std::fs::metadata(out).is_ok_and(|m| m.is_dir()) {
        return Err(refuse(
            out,
            format!("{what} is a directory; expected a file name to write"),
        ));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !std::fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
        return Err(refuse(
            out,
            format!(
                "{what}: the directory {} does not exist (create it first)",
                parent.display()
            ),
        ));
    }
    if let Some((flag, _)) = inputs.iter().find(|(_, p)| same_file(out, p)) {
        return Err(refuse(
            out,
            format!(
                "{what} is the same file as the input {flag}; refusing to overwrite an input \
                 (choose another output file)"
            ),
        ));
    }
    Ok(())
}
