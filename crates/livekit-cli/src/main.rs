//! The `livekit` command.

mod bench;
mod capture_jobs;
mod compose;
mod control;
mod demo;
mod jobs;
mod keys;
mod live;
mod print_command;
mod probe;
mod record;
mod studio_job;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use livekit_cli::config;
use livekit_cli::{Failure, Verbosity, exit_code, parse_arguments, usage};

/// Live video from the command line: compose sources, record and stream.
#[derive(Debug, Parser)]
#[command(name = "livekit", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    /// Configuration file (livekit.toml, or PyLivestream's pylivestream.json / .ini, converted
    /// on every run: `livekit config import` writes a livekit.toml from it once).
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
    /// Run a studio (empty, or from a scene file) driven over HTTP: a control page in the
    /// browser, a JSON API, WebSocket events, Prometheus metrics; until Ctrl-C.
    Studio(studio_job::StudioArgs),
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
    ///
    /// `livekit bench --help` lists them. They are a program of their own, livekit-bench, found
    /// next to livekit (cargo build -p livekit-bench).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Bench(bench::BenchArgs),
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
    /// Write a livekit.toml once from PyLivestream's pylivestream.json (or .ini): each site's
    /// key goes into NAME.key beside it (mode 600, named by the site's key_file; never in the
    /// TOML, never printed); the settings with no livekit equivalent are named once, here.
    Import {
        /// PyLivestream's pylivestream.json (2.x) or pylivestream.ini (1.x).
        file: PathBuf,
        /// The configuration file to write, in the current folder unless a path is given (the
        /// key files go beside it).
        #[arg(long, value_name = "FILE", default_value = "livekit.toml")]
        out: PathBuf,
        /// Overwrite an existing configuration file or key file.
        #[arg(long)]
        force: bool,
    },
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
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { livekit_cli::quiet_graphics_stack() };
    let cli: Cli = match parse_arguments(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli.verbosity.init_logging();
    let Verbosity { verbose, quiet } = cli.verbosity;
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
        Command::Bench(args) => return bench::run(&args, cli.verbosity),
        Command::Demo(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| demo::run(&loaded.config, &args, quiet)),
        Command::Compose(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| compose::run(&loaded.config, &args, quiet)),
        Command::Preview(args) => compose::preview(&args),
        Command::Studio(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| studio_job::run(&loaded.config, &args, quiet)),
        Command::Probe(args) => probe::run(&args),
        Command::Config(command) => config_command(&command, cli.config.as_deref()),
        Command::StreamFile(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| jobs::stream_file(&loaded.config, &args, quiet)),
        Command::StreamFiles(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| jobs::stream_files(&loaded.config, &args, quiet)),
        Command::StreamScreen(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_screen(&loaded.config, &args, quiet)),
        Command::StreamCamera(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_camera(&loaded.config, &args, quiet)),
        Command::StreamMicrophone(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::stream_microphone(&loaded.config, &args, quiet)),
        Command::Devices => capture_jobs::devices(verbose > 0),
        Command::CaptureScreen(args) => load_config(cli.config.as_deref())
            .and_then(|loaded| capture_jobs::capture_screen(&loaded.config, &args, quiet)),
    };
    exit_code(result)
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
        ConfigCommand::Import { file, out, force } => {
            let imported = config::import(file, out, *force).map_err(usage)?;
            for warning in &imported.warnings {
                tracing::warn!("{warning}");
            }
            println!("wrote {}", imported.config.display());
            for key_file in &imported.key_files {
                println!("wrote {} (mode 600)", key_file.display());
            }
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
