//! The `livekit` command.

mod bench;
mod compose;
mod record;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use livekit_core::{PipeEnd, Port, pipe};
use livekit_sinks::PngWriter;
use livekit_sources::{ImageFile, ImageSettings};

/// The logo the demo shows when no image is given (256x256, with alpha).
const LOGO_PNG: &[u8] = include_bytes!("../../../assets/logo.png");

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a small graph from built-in sources and write what it made under `out/`.
    Demo(DemoArgs),
    /// Render a scene file (TOML) to PNG files.
    Compose(compose::ComposeArgs),
    /// Show a scene file live in a preview window.
    Preview(compose::PreviewArgs),
    /// Benchmarks: our figure beside a reference tool's from the same run.
    #[command(subcommand)]
    Bench(bench::Bench),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Folder to write into.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Image to show instead of the built-in logo (PNG, JPEG, GIF, WebP or BMP).
    #[arg(long)]
    image: Option<PathBuf>,
}

fn main() -> ExitCode {
    quiet_graphics_stack();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Demo(args) => demo(&args),
        Command::Bench(bench) => bench::run(&bench),
        Command::Compose(args) => compose::run(&args),
        Command::Preview(args) => compose::preview(&args),
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// ImageFile -> Port (blocking) -> pipe thread -> PngWriter.
/// An animated image plays once; `demo.png` then holds its last frame.
fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let settings = ImageSettings {
        looping: false,
        ..ImageSettings::default()
    };
    let image = match &args.image {
        Some(path) => ImageFile::open_with(path, settings).map_err(usage)?,
        None => ImageFile::from_memory("built-in logo.png", LOGO_PNG, settings)?,
    };
    let (width, height, frames) = (image.width(), image.height(), image.frame_count());
    let port = Port::blocking(2);
    let path = args.out.join("demo.png");
    let writer = PngWriter::new(&path);
    let feed = pipe("demo-source", image, port.clone())?;
    let sink = pipe("demo-sink", port, writer)?;
    let fed = feed.join()?;
    let report = sink.join()?;
    if let PipeEnd::Target(error) = report.end {
        return Err(anyhow::Error::new(error).context("demo").into());
    }
    if report.frames == 0 || report.frames != fed.frames {
        return Err(anyhow::anyhow!(
            "demo: the source gave {} frames but {} were written",
            fed.frames,
            report.frames
        )
        .into());
    }
    println!(
        "wrote {} ({width}x{height} RGBA, alpha kept; the source had {frames} frame{}; graph: ImageFile -> Port -> PngWriter)",
        path.display(),
        if frames == 1 { "" } else { "s" }
    );
    Ok(())
}
