//! The `livekit` command.

mod bench;
#[cfg(target_os = "linux")]
mod bench_ipc;
mod bench_stream;
mod capture_jobs;
mod compose;
mod config;
mod demo;
mod jobs;
mod live;
mod print_command;
mod probe;
mod record;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live video from the command line: compose sources, record and stream.
#[derive(Debug, Parser)]
#[command(name = "livekit", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Configuration file (livekit.toml, or PyLivestream's pylivestream.json / .ini to import).
    /// Default: ./livekit.toml, then $XDG_CONFIG_HOME/livekit/livekit.toml, then built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a small graph from built-in sources and write what it made under `out/`.
    Demo(demo::DemoArgs),
    /// Render a scene file (TOML) to PNG files, or live: recorded, streamed, previewed and sent
    /// to a virtual camera.
    Compose(compose::ComposeArgs),
    /// Show a scene file live in a preview window.
    Preview(compose::PreviewArgs),
    /// Stream one media file (or URL) to one or more sites at once.
    StreamFile(jobs::StreamFileArgs),
    /// Stream a folder of media files (or one file) as ONE continuous stream to one or more
    /// sites at once.
    StreamFiles(jobs::StreamFilesArgs),
    /// Stream the screen (or an area of it) to one or more sites at once.
    StreamScreen(capture_jobs::StreamScreenArgs),
    /// Stream a camera to one or more sites at once.
    StreamCamera(capture_jobs::StreamCameraArgs),
    /// Stream a microphone, with a still picture, to one or more sites at once.
    StreamMicrophone(capture_jobs::StreamMicrophoneArgs),
    /// List cameras, microphones, the screen and its windows.
    Devices,
    /// Record the screen (or an area of it) to a file until Ctrl-C or --timeout.
    CaptureScreen(capture_jobs::CaptureScreenArgs),
    /// Benchmarks: our figure beside a reference tool's from the same run.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Show what a media file or URL holds (container, duration, streams, tags).
    Probe(probe::ProbeArgs),
    /// Write, show or locate the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Write a commented default configuration (to $XDG_CONFIG_HOME/livekit/livekit.toml unless
    /// a path is given).
    Init {
        /// Where to write it.
        path: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the configuration in effect (keys redacted) and where it came from.
    Show,
}

impl Command {
    /// Whether the command reads the configuration itself.
    fn loads_config(&self) -> bool {
        !matches!(
            self,
            Self::Bench(_) | Self::Preview(_) | Self::Probe(_) | Self::Devices
        )
    }
}

/// glibc raises its mmap threshold each time a large block is freed; after that, picture-sized
/// buffers (1.4 MB at 720p) come from the heap arenas, where freed ones stay resident next to
/// live ones. A fixed threshold keeps each on its own mapping, returned when freed: about 5 MB
/// less peak memory streaming 720p (`livekit bench stream`), no measurable CPU.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; called first thing in main, before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}

fn main() -> ExitCode {
    fixed_mmap_threshold();
    quiet_graphics_stack();
    let cli = match parse_arguments(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.verbose, cli.quiet);
    if matches!(cli.command, Command::Probe(_) | Command::Config(_)) {
        // These only print: a reader that goes away (`livekit probe FILE | head -1`) ends them
        // quietly, as it ends `ls`, instead of a panic on the closed pipe. Streaming jobs keep
        // SIGPIPE ignored so that a closed socket is an error for one destination only.
        // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // FFmpeg's own log can hold URLs with stream keys: route it through tracing, scrubbed.
    livekit_sinks::stream::route_ffmpeg_logs();
    // An explicit --config that cannot be read is an error for every command, even those that
    // do not use it: never ignore what the user asked for.
    if let (Some(path), false) = (&cli.config, cli.command.loads_config())
        && let Err(Failure::Usage(error) | Failure::Runtime(error)) = load_config(Some(path))
    {
        eprintln!("livekit: error: {error:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Demo(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| demo::run(&loaded.config, &args, cli.quiet)),
        Command::Bench(bench) => bench::run(&bench),
        Command::Compose(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| compose::run(&loaded.config, &args, cli.quiet)),
        Command::Preview(args) => compose::preview(&args),
        Command::Probe(args) => probe::run(&args),
        Command::Config(command) => config_command(&command, cli.config.as_deref()),
        Command::StreamFile(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| jobs::stream_file(&loaded.config, &args, cli.quiet)),
        Command::StreamFiles(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| jobs::stream_files(&loaded.config, &args, cli.quiet)),
        Command::StreamScreen(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_screen(&loaded.config, &args, cli.quiet)),
        Command::StreamCamera(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_camera(&loaded.config, &args, cli.quiet)),
        Command::StreamMicrophone(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_microphone(&loaded.config, &args, cli.quiet)),
        Command::Devices => capture_jobs::devices(cli.verbose > 0),
        Command::CaptureScreen(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::capture_screen(&loaded.config, &args, cli.quiet)),
    };
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

/// Parses the command line. Help and version print as usual; a bad argument prints ONE line
/// (`livekit: error: ...`, clap's message without its usage block) and gives exit code 2.
/// Negative numbers reach their parsers (which explain the allowed range) instead of being
/// taken for flags.
fn parse_arguments(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    fn negative_numbers(command: clap::Command) -> clap::Command {
        command
            .allow_negative_numbers(true)
            .mut_subcommands(negative_numbers)
    }
    let parsed = negative_numbers(Cli::command())
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
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

/// How a command failed, which sets the exit code.
#[derive(Debug)]
enum Failure {
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

fn usage(error: impl Into<anyhow::Error>) -> Failure {
    Failure::Usage(error.into())
}

/// Without `XDG_RUNTIME_DIR`, the Vulkan drivers' Wayland probe prints "error: XDG_RUNTIME_DIR
/// is invalid" on every adapter request (headless servers, containers, `sudo`). Give it a
/// private directory, as a login session would, before any thread starts.
fn quiet_graphics_stack() {
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
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // wgpu's probe of the GL backend logs an error on machines without a GL driver (headless
    // servers) even though Vulkan or the CPU backend then works: not something a user can act on.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},wgpu_hal::gles=off"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Loads the configuration (see [`config::load`]), logging its warnings. Errors are usage errors.
fn load_config(explicit: Option<&std::path::Path>) -> Result<config::Loaded, Failure> {
    let loaded = config::load(explicit).map_err(usage)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded)
}

fn config_command(
    command: &ConfigCommand,
    explicit: Option<&std::path::Path>,
) -> Result<(), Failure> {
    match command {
        ConfigCommand::Init { path, force } => {
            let path = match path {
                Some(path) => path.clone(),
                None => config::user_config_path().ok_or_else(|| {
                    usage(anyhow::anyhow!(
                        "neither XDG_CONFIG_HOME nor HOME is set: give a path to `livekit config init`"
                    ))
                })?,
            };
            config::init(&path, *force).map_err(usage)?;
            println!("wrote {}", path.display());
        }
        ConfigCommand::Show => {
            let loaded = load_config(explicit)?;
            match &loaded.path {
                Some(path) => println!("# from {}", path.display()),
                None => println!("# built-in defaults (no configuration file found)"),
            }
            print!("{}", config::show(&loaded.config));
        }
    }
    Ok(())
}
