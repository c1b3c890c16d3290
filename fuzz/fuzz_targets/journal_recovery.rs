#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadctl::fuzzing::journal_recovery(data));
