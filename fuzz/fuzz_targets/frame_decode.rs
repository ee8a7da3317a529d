//! Feeds arbitrary bytes to the frame decoder, as a hostile or broken worker (or controller)
//! would: it must return frames or an error, never panic, hang or allocate without bound.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use xdist_core::codec::{decode_payload, read_frame};
use xdist_core::protocol::{FromWorker, ToWorker};

fuzz_target!(|data: &[u8]| {
    let mut stream = Cursor::new(data);
    while let Ok(Some(_)) = read_frame::<FromWorker>(&mut stream) {}
    let mut stream = Cursor::new(data);
    while let Ok(Some(_)) = read_frame::<ToWorker>(&mut stream) {}
    let _ = decode_payload::<FromWorker>(data);
    let _ = decode_payload::<ToWorker>(data);
});
