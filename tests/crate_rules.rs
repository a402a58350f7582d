//! The crate rules of ARCHITECTURE.md, checked against `cargo metadata`: dependencies point one
//! way, and the table cannot drift from the code.
//!
//! - Every workspace package has a row in the table of ARCHITECTURE.md.
//! - No package has a normal or build dependency on a crate its row lists under "must not
//!   depend on" (dev-dependencies are for tests, which may use everything), nor one that breaks
//!   the rules below, which hold whatever the table says.
//! - The row of `livekit-core` names every module of core.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Rules that hold whatever the table says: (package, crates it must not depend on).
const RULES: &[(&str, &[&str])] = &[
    (
        "livekit-core",
        &[
            "livekit-av",
            "livekit-sources",
            "livekit-sinks",
            "livekit-compositor",
            "livekit-studio",
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
            "ffmpeg-next",
            "cpal",
            "wgpu",
            "winit",
            "image",
        ],
    ),
    (
        "livekit-av",
        &[
            "livekit-sources",
            "livekit-sinks",
            "livekit-compositor",
            "livekit-studio",
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
            "wgpu",
            "winit",
        ],
    ),
    (
        "livekit-sources",
        &[
            "livekit-sinks",
            "livekit-compositor",
            "livekit-studio",
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
        ],
    ),
    (
        "livekit-sinks",
        &[
            "livekit-sources",
            "livekit-compositor",
            "livekit-studio",
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
        ],
    ),
    (
        "livekit-compositor",
        &[
            "livekit-sources",
            "livekit-sinks",
            "livekit-studio",
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
        ],
    ),
    (
        "livekit-testkit",
        &[
            "livekit-core",
            "livekit-av",
            "livekit-sources",
            "livekit-sinks",
            "livekit-compositor",
        ],
    ),
    (
        "livekit-studio",
        &[
            "livekit-control",
            "livekit-cli",
            "livekit-testkit",
            "livekit-bench",
        ],
    ),
    (
        "livekit-control",
        &["livekit-cli", "livekit-testkit", "livekit-bench"],
    ),
    ("livekit-cli", &["livekit-testkit", "livekit-bench"]),
    (
        "livekit",
        &["livekit-testkit", "livekit-cli", "livekit-bench"],
    ),
];

struct Package {
    /// Names of normal and build dependencies.
    deps: BTreeSet<String>,
}

fn metadata() -> BTreeMap<String, Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let mut packages = BTreeMap::new();
    for package in json["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().expect("dependency name").to_owned())
            .collect();
        packages.insert(name, Package { deps });
    }
    packages
}

/// The crate table of ARCHITECTURE.md: package -> (whole row, its "must not depend on" cell).
fn table() -> BTreeMap<String, (String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("ARCHITECTURE.md");
    // The table of the "## Crates" section (other tables, of threads, name no packages).
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Crates"))
        .expect("a \"## Crates\" section in ARCHITECTURE.md");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let Some(name) = cells[0].split('`').nth(1) else {
            continue;
        };
        if cells.len() < 4 || !name.starts_with("livekit") {
            continue;
        }
        rows.insert(
            name.to_owned(),
            (line.to_owned(), cells[cells.len() - 1].to_owned()),
        );
    }
    rows
}

/// The names in backticks in `text`.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// What breaks the rules: each line names the package and the dependency.
fn violations(
    packages: &BTreeMap<String, Package>,
    table: &BTreeMap<String, (String, String)>,
) -> Vec<String> {
    let mut broken = Vec::new();
    for (name, package) in packages {
        let Some((_, must_not)) = table.get(name) else {
            broken.push(format!("{name}: no row in the table of ARCHITECTURE.md"));
            continue;
        };
        let mut forbidden: BTreeSet<&str> = quoted(must_not).collect();
        for (rule_for, crates) in RULES {
            if rule_for == name {
                forbidden.extend(crates.iter().copied());
            }
        }
        for dep in &package.deps {
            if forbidden.contains(dep.as_str()) {
                broken.push(format!("{name} depends on {dep}, which it must not"));
            }
        }
    }
    for name in table.keys() {
        if !packages.contains_key(name) {
            broken.push(format!(
                "ARCHITECTURE.md has a row for {name}, which is not a package"
            ));
        }
    }
    broken
}

#[test]
fn every_package_has_a_row_and_keeps_its_rules() {
    let broken = violations(&metadata(), &table());
    assert!(
        broken.is_empty(),
        "crate rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_core_row_names_every_module_of_core() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/livekit-core/src/lib.rs");
    let lib = std::fs::read_to_string(lib).expect("core's lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 5, "modules read from lib.rs: {modules:?}");
    let table = table();
    let (row, _) = table.get("livekit-core").expect("a row for livekit-core");
    let named: BTreeSet<&str> = quoted(row).collect();
    let missing: Vec<&&str> = modules
        .iter()
        .filter(|m| !named.contains(**m) && !named.contains(format!("{m}.rs").as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's livekit-core row does not name these modules of core: {missing:?}"
    );
}

#[test]
fn the_rules_catch_a_forbidden_dependency() {
    // The check itself, on the real table with one made-up edge each way: sources using sinks
    // (forbidden by the rules), and a package the table does not know.
    let mut packages = metadata();
    packages
        .get_mut("livekit-sources")
        .expect("livekit-sources")
        .deps
        .insert("livekit-sinks".into());
    packages.insert(
        "livekit-unlisted".into(),
        Package {
            deps: BTreeSet::new(),
        },
    );
    let broken = violations(&packages, &table());
    assert_eq!(
        broken,
        [
            "livekit-sources depends on livekit-sinks, which it must not",
            "livekit-unlisted: no row in the table of ARCHITECTURE.md",
        ]
    );
}
