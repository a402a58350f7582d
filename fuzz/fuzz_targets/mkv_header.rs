#![no_main]
//! `livekit_cli::fuzzing::mkv_header` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::mkv_header(data));
