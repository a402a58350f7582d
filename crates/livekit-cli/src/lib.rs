//! What the livekit programs (`livekit`, and `livekit-bench` behind `livekit bench`) share on
//! the command line, so that they answer alike: the `-v`/`-q` flags and logging, a bad argument
//! as ONE line (`livekit: error: ...`) with exit code 2, a failure while running with exit code
//! 1, and a quiet graphics stack on headless machines.
//!
//! The `livekit` command itself is the binary (`src/main.rs`); this library holds the glue, the
//! configuration file ([`config`]) and the fuzz targets' entry points ([`fuzzing`]).

pub mod config;
pub mod fuzzing;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;

/// `-v` / `-q`, global: how much a program logs.
#[derive(Debug, Clone, Copy, Args)]
pub struct Verbosity {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Verbosity {
    /// Logs to stderr through `tracing` at the level the flags ask for (`RUST_LOG` overrides).
    /// Without `-v` (and without `RUST_LOG`) a log line reads like the errors, `livekit:
    /// warning: ...`; with them, tracing's own format (time, level, fields). Either way a line
    /// is printed above the status line, never on it ([`set_status_line`]).
    pub fn init_logging(self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "debug",
            (false, _) => "trace",
        };
        // wgpu's probe of the GL backend logs an error on machines without a GL driver
        // (headless servers) even though Vulkan or the CPU backend then works: not something a
        // user can act on.
        let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
        let detailed = self.verbose > 0 || from_env.is_some();
        DETAILED.store(detailed, std::sync::atomic::Ordering::Relaxed);
        // Without -v, third-party noise a user cannot act on is hidden too: winit's warnings at
        // every preview window (XSETTINGS and the like on a bare X server), and the PulseAudio
        // client's "Reactor error: Client disconnected" when a microphone stream ends.
        let noise = if detailed {
            ""
        } else {
            ",winit=error,pulseaudio=off"
        };
        let filter = from_env.unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::new(format!("{level},wgpu_hal::gles=off{noise}"))
        });
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(StatusAwareWriter::default)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false);
        if detailed {
            builder.init();
        } else {
            builder.event_format(PlainFormat).init();
        }
    }
}

static DETAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the user asked for details (`-v`, or `RUST_LOG`): then third-party libraries'
/// own messages (ALSA's, winit's) are shown too.
pub fn detailed_logs() -> bool {
    DETAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// What prints a line while a status line is shown: it hides the status line, runs the given
/// print, and draws the status line again (indicatif's `ProgressBar::suspend`).
pub type StatusGuard = Box<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

static STATUS_LINE: std::sync::Mutex<Option<StatusGuard>> = std::sync::Mutex::new(None);

/// Sets (or, with `None`, removes) the status line that log lines must be printed above.
pub fn set_status_line(guard: Option<StatusGuard>) {
    if let Ok(mut slot) = STATUS_LINE.lock() {
        *slot = guard;
    }
}

/// Prints `text` to stderr above the status line, if one is shown.
pub fn print_above_status(text: &[u8]) {
    use std::io::Write;
    let mut write = || {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text);
        let _ = stderr.flush();
    };
    match STATUS_LINE.lock() {
        Ok(slot) => match slot.as_ref() {
            Some(guard) => guard(&mut write),
            None => write(),
        },
        Err(_) => write(),
    }
}

/// One log event's text, printed when it is complete ([`print_above_status`]).
#[derive(Default)]
struct StatusAwareWriter {
    line: Vec<u8>,
}

impl std::io::Write for StatusAwareWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for StatusAwareWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            print_above_status(&self.line);
        }
    }
}

/// The log format without `-v`: `livekit: warning: DESTINATION: MESSAGE: ERROR (k=v, ...)`.
struct PlainFormat;

/// The fields of one event, as [`PlainFormat`] shows them.
#[derive(Default)]
struct PlainFields {
    message: String,
    destination: Option<String>,
    error: Option<String>,
    others: Vec<String>,
}

impl tracing::field::Visit for PlainFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record(field.name(), format!("{value:?}"));
    }
}

impl PlainFields {
    fn record(&mut self, name: &str, value: String) {
        match name {
            "message" => self.message = value,
            "destination" => self.destination = Some(value),
            "error" => self.error = Some(value),
            other => self.others.push(format!("{other}={value}")),
        }
    }
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for PlainFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        let mut fields = PlainFields::default();
        event.record(&mut fields);
        write!(writer, "livekit: {level}: ")?;
        if let Some(destination) = &fields.destination {
            write!(writer, "{destination}: ")?;
        }
        write!(writer, "{}", fields.message)?;
        if let Some(error) = &fields.error {
            write!(writer, ": {error}")?;
        }
        if !fields.others.is_empty() {
            write!(writer, " ({})", fields.others.join(", "))?;
        }
        writeln!(writer)
    }
}

/// How a command failed, which sets the exit code.
#[derive(Debug)]
pub enum Failure {
    /// A bad argument, file or setting given by the user: exit code 2.
    Usage(anyhow::Error),
    /// Something went wrong while running: exit code 1.
    Runtime(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::Runtime(error.into())
    }
}

/// A usage failure (exit code 2): the user's argument, file or setting is wrong.
pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
    Failure::Usage(error.into())
}

/// How a command ends: exit code 0, or its error on one line (`livekit: error: ...`) with exit
/// code 2 ([`Failure::Usage`]) or 1 ([`Failure::Runtime`]).
pub fn exit_code(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(error)) => {
            eprintln!("livekit: error: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("livekit: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Parses a command line. Help and version print as usual; a bad argument prints ONE line
/// (`livekit: error: ...`, clap's message without its usage block) and gives exit code 2.
/// Negative numbers reach their parsers (which explain the allowed range) instead of being
/// taken for flags.
pub fn parse_arguments<C: clap::Parser>(
    args: impl IntoIterator<Item = OsString>,
) -> Result<C, ExitCode> {
    use clap::error::ErrorKind;
    fn negative_numbers(command: clap::Command) -> clap::Command {
        command
            .allow_negative_numbers(true)
            .mut_subcommands(negative_numbers)
    }
    let parsed = negative_numbers(C::command())
        .try_get_matches_from(args)
        .and_then(|matches| C::from_arg_matches(&matches));
    parsed.map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(2)
        }
        _ => {
            eprintln!("livekit: error: {}", one_line(&error.to_string()));
            ExitCode::from(2)
        }
    })
}

/// Clap's error text on one line: its message and any "tip", without the usage block.
fn one_line(text: &str) -> String {
    let mut parts = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        // "tip: to pass '--x' as a value, use '-- --x'" misleads more than it helps.
        if !line.is_empty() && !line.starts_with("tip: to pass") {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    parts.join(" ")
}

/// Without `XDG_RUNTIME_DIR`, the Vulkan drivers' Wayland probe prints "error: XDG_RUNTIME_DIR
/// is invalid" on every adapter request (headless servers, containers, `sudo`). Gives it a
/// private directory, as a login session would.
///
/// # Safety
///
/// It sets an environment variable: call it first thing in `main`, before any other thread
/// exists.
pub unsafe fn quiet_graphics_stack() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
            return;
        };
        let dir = std::env::temp_dir().join(format!("livekit-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a directory of ours that nobody else can enter.
        let made = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 == 0 && m.uid() == uid);
        if made {
            // SAFETY: no other thread exists (this function's contract).
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
