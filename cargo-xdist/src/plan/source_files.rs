//! The source file a test lives in, for `--dist loadfile`. Its module path is followed from
//! the target's root file through `name.rs` and `name/mod.rs` files on disk, as rustc finds
//! modules; the deepest file that exists is the test's file (an inline `mod tests { ... }`
//! stays in the file that holds it). Modules placed with `#[path]` are not followed.

use std::collections::HashMap;

use camino::{Utf8Path, Utf8PathBuf};

/// Resolves and remembers module files.
#[derive(Default)]
pub struct SourceFiles {
    /// (root file, module path) → file.
    cache: HashMap<(String, String), Option<Utf8PathBuf>>,
}

impl SourceFiles {
    /// The file holding test `name` of a target whose root file is `root`.
    pub fn file_of(&mut self, root: &str, name: &str) -> Option<String> {
        if root.is_empty() {
            return None;
        }
        let module = name.rsplit_once("::").map_or("", |(module, _)| module);
        let key = (root.to_string(), module.to_string());
        let file = self.cache.entry(key).or_insert_with(|| resolve(Utf8Path::new(root), module));
        file.as_ref().map(ToString::to_string)
    }
}

fn resolve(root: &Utf8Path, module: &str) -> Option<Utf8PathBuf> {
    let mut file = root.to_path_buf();
    let mut is_dir_owner = true; // the crate root and `mod.rs` own their directory
    for segment in module.split("::").filter(|s| !s.is_empty()) {
        let parent = file.parent()?.to_path_buf();
        let dir = if is_dir_owner { parent } else { parent.join(file.file_stem()?) };
        let flat = dir.join(format!("{segment}.rs"));
        let nested = dir.join(segment).join("mod.rs");
        if flat.is_file() {
            file = flat;
            is_dir_owner = false;
        } else if nested.is_file() {
            file = nested;
            is_dir_owner = true;
        } else {
            break;
        }
    }
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_resolve_to_their_files() {
        let dir = std::env::temp_dir().join(format!("xdist-sources-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for file in ["src/lib.rs", "src/a.rs", "src/a/b.rs", "src/c/mod.rs", "src/c/d.rs"] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let root = dir.join("src/lib.rs").to_string_lossy().into_owned();
        let mut files = SourceFiles::default();
        let rel = |p: Option<String>| {
            p.unwrap().strip_prefix(&*dir.to_string_lossy()).unwrap().to_string()
        };
        assert_eq!(rel(files.file_of(&root, "top_level_test")), "/src/lib.rs");
        assert_eq!(rel(files.file_of(&root, "tests::inline")), "/src/lib.rs");
        assert_eq!(rel(files.file_of(&root, "a::tests::x")), "/src/a.rs");
        assert_eq!(rel(files.file_of(&root, "a::b::tests::x")), "/src/a/b.rs");
        assert_eq!(rel(files.file_of(&root, "c::tests::x")), "/src/c/mod.rs");
        assert_eq!(rel(files.file_of(&root, "c::d::deeper::tests::x")), "/src/c/d.rs");
        assert_eq!(files.file_of("", "a::x"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
