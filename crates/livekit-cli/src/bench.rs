//! `livekit bench ...`: the benchmarks are a program of their own, `livekit-bench` (the
//! `livekit-bench` crate), so that `livekit` carries none of the test servers and tools they
//! run. This finds it next to `livekit` and hands it the rest of the command line unchanged.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::Args;
use livekit_cli::Verbosity;

/// `livekit bench` arguments: everything after `bench`, for `livekit-bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The benchmark and its options (`livekit bench --help` lists the benchmarks).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "BENCHMARK"
    )]
    args: Vec<OsString>,
}

/// The line printed when `livekit-bench` is not next to `livekit`.
const NOT_FOUND: &str = "livekit: bench: the livekit-bench program was not found next to livekit (build it: cargo build -p livekit-bench)";

/// The `livekit-bench` program next to this one, if it is there.
fn program() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let program = me.with_file_name(format!("livekit-bench{}", std::env::consts::EXE_SUFFIX));
    program.is_file().then_some(program)
}

/// Runs `livekit-bench` with `livekit`'s `-v`/`-q` (given before `bench`) and the arguments
/// after `bench`, and ends as it ends: on Unix `livekit` becomes it (exec: same process, same
/// signals, its exit code); elsewhere its exit code is returned. Exit code 2 and one line when
/// it is missing.
pub fn run(args: &BenchArgs, verbosity: Verbosity) -> ExitCode {
    let Some(program) = program() else {
        eprintln!("{NOT_FOUND}");
        return ExitCode::from(2);
    };
    let mut command = Command::new(&program);
    command.args(std::iter::repeat_n("-v", verbosity.verbose.into()));
    if verbosity.quiet {
        command.arg("-q");
    }
    command.args(&args.args);
    match become_it(command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("livekit: bench: cannot run {}: {error}", program.display());
            ExitCode::from(1)
        }
    }
}

/// Unix: this process becomes the program (exec), which then ends it; only an error returns.
/// Its help and usage lines read `livekit bench ...` (its `argv[0]`).
#[cfg(unix)]
fn become_it(mut command: Command) -> std::io::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    Err(command.arg0("livekit bench").exec())
}

/// Elsewhere: runs the program and returns its exit code.
#[cfg(not(unix))]
fn become_it(mut command: Command) -> std::io::Result<ExitCode> {
    let status = command.status()?;
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(ExitCode::from(code))
}
