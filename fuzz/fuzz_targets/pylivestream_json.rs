#![no_main]
//! `livekit_cli::fuzzing::pylivestream_json` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::pylivestream_json(data));
