#![no_main]
//! `livekit_cli::fuzzing::scene_file` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::scene_file(data));
