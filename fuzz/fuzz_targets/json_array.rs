#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadctl::fuzzing::json_array(data));
