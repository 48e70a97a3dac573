//! Running external programs (Verilator, Icarus, Yosys, nextpnr): one place that spawns them,
//! captures their output and shows progress.
//!
//! A long step shows a spinner on stderr with the step's name and the elapsed time — only when
//! stderr is a terminal and progress is not switched off ([`set_quiet`], the commands' `-q`,
//! or `RTL4ML_QUIET=1`), so logs, pipes and CI output stay clean. The spinner is cleared when
//! the program ends; the caller reports the result.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Runs `cmd` to completion with its output captured, showing `step` (e.g. "verilator: build")
/// with a spinner and the elapsed time while it runs.
pub fn output(cmd: &mut Command, step: &str) -> std::io::Result<Output> {
    if !shows_progress() {
        return cmd.output();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(step.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let out = cmd.output();
    bar.finish_and_clear();
    out
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
}
