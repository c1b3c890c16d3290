#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadctl::fuzzing::phone_checks(data));
