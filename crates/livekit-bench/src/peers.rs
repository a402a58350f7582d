//! Where the reference tools' scripts are (`../shared/peers` beside the repository: the FFmpeg
//! tee command, PyLivestream, GStreamer's compositor), for the benchmarks that run them.

use std::path::{Path, PathBuf};

use anyhow::bail;

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
