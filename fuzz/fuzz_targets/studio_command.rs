#![no_main]
//! `livekit_cli::fuzzing::studio_command` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::studio_command(data));
