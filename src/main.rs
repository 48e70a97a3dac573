use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rtl4ml::cli::Cli::parse();
    match rtl4ml::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // stdout's reader went away (`rtl4ml report --json | head`): stop quietly.
        Err(e) if e.chain().any(|c| c.is::<rtl4ml::cli::BrokenPipe>()) => {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            rtl4ml::cli::write_stderr(format_args!(
                "error: {}\n",
                rtl4ml::text::escape_message(&format!("{e:#}"))
            ));
            std::process::ExitCode::FAILURE
        }
    }
}
