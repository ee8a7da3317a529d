//! Length-prefixed frames on a byte stream: a little-endian `u32` length, then that many
//! bytes of bincode 2. The one place that knows the serialization format.

use std::io::{self, Read, Write};

use bincode::{Decode, Encode};

/// No frame may be larger than this; a length prefix above it is rejected before any
/// allocation.
pub const MAX_FRAME_LEN: u32 = 256 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The pipe failed.
    #[error("pipe error: {0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a frame.
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame needed.
        expected: usize,
        /// Bytes the stream held.
        got: usize,
    },
    /// The length prefix exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(u32),
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ MAX_FRAME_LEN as usize }>()
}

/// Encodes `message` as one frame (length prefix included).
pub fn encode_frame<T: Encode>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; 4];
    bincode::encode_into_std_write(message, &mut buf, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = u32::try_from(buf.len() - 4).map_err(|_| FrameError::TooLarge(u32::MAX))?;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(buf)
}

/// Writes `message` as one frame and flushes.
pub fn write_frame<T: Encode>(out: &mut impl Write, message: &T) -> Result<(), FrameError> {
    queue_frame(out, message)?;
    out.flush()?;
    Ok(())
}

/// Writes `message` as one frame without flushing (for a buffered writer that the caller
/// flushes after a burst of frames).
pub fn queue_frame<T: Encode>(out: &mut impl Write, message: &T) -> Result<(), FrameError> {
    out.write_all(&encode_frame(message)?)?;
    Ok(())
}

/// Decodes the payload of one frame (without its length prefix). Trailing bytes are an error.
pub fn decode_payload<T: Decode<()>>(payload: &[u8]) -> Result<T, FrameError> {
    let (message, used) = bincode::decode_from_slice(payload, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    Ok(message)
}

/// The payload length a frame's 4-byte prefix announces, checked against [`MAX_FRAME_LEN`]
/// (for readers that fetch the bytes themselves, e.g. asynchronously).
pub fn payload_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len as usize)
}

/// Reads one frame. `Ok(None)` means the stream ended cleanly between frames.
pub fn read_frame<T: Decode<()>>(input: &mut impl Read) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; 4];
    let got = read_full(input, &mut prefix)?;
    if got == 0 {
        return Ok(None);
    }
    if got < 4 {
        return Err(FrameError::Truncated { expected: 4, got });
    }
    let len = payload_len(prefix)?;
    let mut payload = Vec::new();
    let got = input.take(len as u64).read_to_end(&mut payload)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    decode_payload(&payload).map(Some)
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests;
