//! Where the programs the benchmarks run are: the reference tools' scripts (`../shared/peers`
//! beside the repository: the FFmpeg tee command, PyLivestream, GStreamer's compositor) and the
//! `livekit` program next to this one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The scripts' folder: `given` (`--peers DIR`), else `$LIVEKIT_PEERS_DIR`, else
/// `../shared/peers` beside the repository. It must hold `script`; the error says that
/// `needed_by` (`--compare`, `bench stream`) needs it.
pub fn peers_dir(given: Option<&Path>, script: &str, needed_by: &str) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None => match std::env::var_os("LIVEKIT_PEERS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers"),
        },
    };
    if !dir.join(script).is_file() {
        bail!(
            "{needed_by} needs the reference scripts: {} has no {script} (give --peers DIR)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// The `livekit` program that `needed_by` (`bench stream`) runs: the one next to this program.
pub fn livekit_program(needed_by: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the livekit-bench executable")?;
    let livekit = me.with_file_name(format!("livekit{}", std::env::consts::EXE_SUFFIX));
    if !livekit.is_file() {
        bail!(
            "{needed_by}: the livekit program was not found next to livekit-bench ({}; build it: cargo build -p livekit-cli)",
            livekit.display()
        );
    }
    Ok(livekit)
}
