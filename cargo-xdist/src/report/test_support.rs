//! What the reporter tests share: an in-memory writer and small test lists.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use xdist_core::testlist::{TestBinary, TestList};

/// A writer whose bytes stay readable after it was handed away.
#[derive(Clone, Default)]
pub struct Buffer(Rc<RefCell<Vec<u8>>>);

impl Buffer {
    /// What was written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A library binary `id`.
pub fn binary(id: &str) -> TestBinary {
    TestBinary {
        id: id.into(),
        path: format!("/bin/{id}"),
        cwd: "/src/demo".into(),
        env: vec![],
        runner: Vec::new(),
        args: Vec::new(),
        kind: "lib".into(),
        src_path: "src/lib.rs".into(),
        harness: xdist_core::protocol::Harness::Libtest,
    }
}

/// A list of binaries and their tests (`(name, ignored)`).
pub fn list_of(binaries: &[(&str, &[(&str, bool)])]) -> TestList {
    TestList::new(
        binaries
            .iter()
            .map(|(id, tests)| {
                (binary(id), tests.iter().map(|(n, ignored)| (n.to_string(), *ignored)).collect())
            })
            .collect(),
    )
}

/// One binary, `demo`, with `names`.
pub fn list(names: &[&str]) -> TestList {
    let tests: Vec<(&str, bool)> = names.iter().map(|n| (*n, false)).collect();
    list_of(&[("demo", &tests)])
}
