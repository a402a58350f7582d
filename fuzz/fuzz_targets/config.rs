#![no_main]
//! `livekit_cli::fuzzing::config_toml` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::config_toml(data));
