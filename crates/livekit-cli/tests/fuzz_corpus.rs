//! Every input the fuzz targets keep (`fuzz/corpus/TARGET/`, seeds and what `./dev fuzz`
//! found and minimized) and every crash they found (`fuzz/regressions/TARGET/`), replayed
//! through the same entry points (`livekit_cli::fuzzing`), so that CI keeps them fixed.

use std::path::{Path, PathBuf};

use livekit_cli::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_a_corpus_and_a_source_file() {
    for (name, _) in TARGETS {
        assert!(
            !files(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name} is empty"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
    // And no target folder without an entry point (a renamed target would stop being replayed).
    for dir in ["corpus", "regressions"] {
        let stray = files(&fuzz_dir().join(dir));
        assert!(stray.is_empty(), "files directly in fuzz/{dir}: {stray:?}");
        if let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir)) {
            for entry in entries {
                let name = entry.expect("an entry").file_name();
                let name = name.to_string_lossy();
                assert!(
                    TARGETS.iter().any(|(target, _)| *target == name),
                    "fuzz/{dir}/{name} belongs to no fuzz target"
                );
            }
        }
    }
}

#[test]
fn every_kept_fuzz_input_is_handled() {
    let mut replayed = 0;
    for (name, entry) in TARGETS {
        for dir in ["corpus", "regressions"] {
            for file in files(&fuzz_dir().join(dir).join(name)) {
                let data = std::fs::read(&file).expect("a corpus file");
                let outcome = std::panic::catch_unwind(|| entry(&data));
                assert!(outcome.is_ok(), "{name}: {} fails", file.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
}
