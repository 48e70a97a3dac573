//! Running external programs (Verilator, Icarus, Yosys, nextpnr): one place that spawns them,
//! captures their output and shows progress.
//!
//! A long step shows a spinner on stderr with the step's name and the elapsed time — only when
//! stderr is a terminal and progress is not switched off ([`set_quiet`], the commands' `-q`,
//! or `RTL4ML_QUIET=1`), so logs, pipes and CI output stay clean. The spinner is cleared when
//! the program ends; the caller reports the result.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Switches the spinners off (or on again) for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether a spinner would be drawn now.
pub fn shows_progress() -> bool {
    !QUIET.load(Ordering::Relaxed)
        && std::env::var_os("RTL4ML_QUIET").is_none_or(|v| v.is_empty() || v == "0")
        && std::io::stderr().is_terminal()
}

/// Seconds a single external step may run before it is killed: `RTL4ML_TOOL_TIMEOUT` (0 for
/// no limit), default [`DEFAULT_TIMEOUT_S`].
pub fn timeout() -> Option<Duration> {
    let s = std::env::var("RTL4ML_TOOL_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT_S);
    (s > 0).then(|| Duration::from_secs(s))
}

/// Default limit of one external step (Verilator build, Yosys, nextpnr...): 4 hours, far
/// beyond any design rtl4ml accepts, so only a hung tool reaches it.
pub const DEFAULT_TIMEOUT_S: u64 = 4 * 3600;

/// Runs `cmd` to completion with its output captured, showing `step` (e.g. "verilator: build")
/// with a spinner, the elapsed time and the tool's latest output line while it runs. A step
/// that runs longer than [`timeout`] is killed and reported as `TimedOut`.
pub fn output(cmd: &mut Command, step: &str) -> std::io::Result<Output> {
    output_with_timeout(cmd, step, timeout())
}

/// [`output`] with an explicit limit (`None`: wait for ever).
pub fn output_with_timeout(
    cmd: &mut Command,
    step: &str,
    limit: Option<Duration>,
) -> std::io::Result<Output> {
    use std::io::Read;
    let progress = shows_progress();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let last_line = Arc::new(Mutex::new(String::new()));
    // One reader per stream (a tool that fills one pipe while we read the other would block).
    let reader = |mut r: Box<dyn Read + Send>| {
        let last = Arc::clone(&last_line);
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        all.extend_from_slice(&buf[..n]);
                        if progress {
                            if let Some(line) = latest_line(&all) {
                                *last.lock().unwrap_or_else(|e| e.into_inner()) = line;
                            }
                        }
                    }
                }
            }
            all
        })
    };
    let out_t = reader(Box::new(child.stdout.take().expect("piped")));
    let err_t = reader(Box::new(child.stderr.take().expect("piped")));
    let bar = progress.then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let start = Instant::now();
    let mut shown = String::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if limit.is_some_and(|l| start.elapsed() > l) {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{step} did not finish in {} s and was stopped (RTL4ML_TOOL_TIMEOUT sets \
                     the limit in seconds, 0 for none)",
                    limit.unwrap_or_default().as_secs()
                ),
            ));
        }
        if let Some(bar) = &bar {
            let line = last_line.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if line != shown {
                bar.set_message(format!("{step}: {line}"));
                shown = line;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// The last complete non-empty line of `bytes`, escaped and cut to 60 characters (for the
/// spinner).
fn latest_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(4096)..]);
    let line = text.lines().rev().skip(1).find(|l| !l.trim().is_empty())?;
    let line = crate::text::escape(line.trim());
    Some(line.chars().take(60).collect())
}

/// Is `tool` usable? "verilator" (needs `verilator`, `make` and a C++ compiler), "icarus" or
/// "iverilog" (needs `iverilog` and `vvp`); any other name is looked up on `PATH`.
pub fn tool_available(tool: &str) -> bool {
    match tool {
        "verilator" => {
            find_program("verilator").is_some()
                && find_program("make").is_some()
                && cxx_compiler_available()
        }
        "icarus" | "iverilog" => {
            find_program("iverilog").is_some() && find_program("vvp").is_some()
        }
        other => find_program(other).is_some(),
    }
}

/// The executable `name` (a path, or a program looked up on `PATH`), if there is one.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.components().count() > 1 {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

pub fn cxx_compiler_available() -> bool {
    if let Some(cxx) = std::env::var_os("CXX") {
        let cxx = cxx.to_string_lossy().into_owned();
        if let Some(first) = cxx.split_whitespace().next() {
            return find_program(first).is_some();
        }
    }
    ["g++", "c++", "clang++"]
        .iter()
        .any(|c| find_program(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_with_or_without_progress() {
        for quiet in [true, false] {
            set_quiet(quiet);
            let out = output(
                Command::new("sh").args(["-c", "echo out; echo err >&2"]),
                "sh",
            )
            .unwrap();
            assert!(out.status.success());
            assert_eq!(out.stdout, b"out\n");
            assert_eq!(out.stderr, b"err\n");
        }
        set_quiet(false);
    }

    #[test]
    fn a_step_past_its_limit_is_stopped() {
        let t0 = Instant::now();
        let e = output_with_timeout(
            Command::new("sh").args(["-c", "sleep 20"]),
            "sleep",
            Some(Duration::from_millis(200)),
        )
        .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("RTL4ML_TOOL_TIMEOUT"), "{e}");
        // Killed, not waited for (generous bound: the machine may be loaded).
        assert!(t0.elapsed() < Duration::from_secs(15));
    }

    #[test]
    fn large_outputs_on_both_streams_do_not_block() {
        let out = output_with_timeout(
            Command::new("sh").args([
                "-c",
                "i=0; while [ $i -lt 3000 ]; do echo line$i; echo err$i >&2; i=$((i+1)); done",
            ]),
            "sh",
            Some(Duration::from_secs(120)),
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3000);
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 3000);
        assert_eq!(latest_line(b"a\nb\nc"), Some("b".into()));
    }
}
