//! [`BoundedOutput`]: a byte buffer that keeps the head and the tail of what it is given and
//! counts what it dropped, so a test that prints gigabytes costs kilobytes.

/// Keeps the first `keep` bytes and the last `keep` bytes.
#[derive(Clone, Debug)]
pub struct BoundedOutput {
    keep: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl BoundedOutput {
    /// An empty buffer keeping `keep` bytes at each end.
    pub fn new(keep: usize) -> Self {
        Self { keep, head: Vec::new(), tail: Default::default(), dropped: 0 }
    }

    /// Appends bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        let room = self.keep.saturating_sub(self.head.len());
        if room > 0 && self.tail.is_empty() {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() > self.keep {
            let skip = bytes.len() - self.keep;
            self.dropped += (skip + self.tail.len()) as u64;
            self.tail.clear();
            bytes = &bytes[skip..];
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.keep);
        self.dropped += overflow as u64;
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// The kept bytes, with a marker where bytes were dropped.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!("\n[... {} bytes of output truncated by cargo-xdist ...]\n", self.dropped)
                    .as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut b = BoundedOutput::new(8);
        b.push(b"abc");
        b.push(b"def");
        assert_eq!(b.into_bytes(), b"abcdef");
    }

    #[test]
    fn large_output_keeps_head_and_tail() {
        let mut b = BoundedOutput::new(4);
        for chunk in [&b"0123"[..], b"45", b"6789", b"ab"] {
            b.push(chunk);
        }
        let out = String::from_utf8(b.into_bytes()).unwrap();
        assert!(out.starts_with("0123\n[... 4 bytes"), "{out}");
        assert!(out.ends_with("89ab"), "{out}");
    }
}
