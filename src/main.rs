use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rtl4ml::cli::Cli::parse();
    match rtl4ml::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", rtl4ml::text::escape_message(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
