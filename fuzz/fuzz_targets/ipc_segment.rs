#![no_main]
//! `livekit_cli::fuzzing::ipc_segment` (see that module).
libfuzzer_sys::fuzz_target!(|data: &[u8]| livekit_cli::fuzzing::ipc_segment(data));
