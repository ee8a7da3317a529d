//! What the scheduler is told about each test: its binary id and name (scopes), its source
//! file (`loadfile`), its group (`loadgroup`) and its recorded duration (history).

use xdist_core::testlist::TestList;
use xdist_sched::TestMeta;

use crate::config::filterset::BinaryFacts;
use crate::config::groups::Groups;
use crate::plan::history::History;
use crate::plan::source_files::SourceFiles;

/// One [`TestMeta`] per test of `list`, in order; source files only with `source_files`
/// (`loadfile` alone reads them, and finding them costs file lookups per module).
pub fn test_metas(
    list: &TestList,
    groups: &Groups,
    history: Option<&History>,
    source_files: bool,
) -> Vec<TestMeta> {
    let mut sources = SourceFiles::default();
    let facts: Vec<BinaryFacts> = list.binaries.iter().map(BinaryFacts::of).collect();
    list.tests
        .iter()
        .enumerate()
        .map(|(i, test)| {
            let binary = &list.binaries[test.binary as usize];
            let id = list.test_id(i);
            TestMeta {
                binary_id: binary.id.clone(),
                name: test.name.clone(),
                source_file: source_files
                    .then(|| sources.file_of(&binary.src_path, &test.name))
                    .flatten(),
                group: groups
                    .group_of(&id, &facts[test.binary as usize].query(&binary.id, &test.name))
                    .map(String::from),
                duration: history.and_then(|h| h.get(&id)),
                first: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::list;

    #[test]
    fn source_files_are_looked_up_only_when_asked() {
        let list = list(&["a::b::c", "d"]);
        let groups = Groups::default();
        let files = |asked| {
            test_metas(&list, &groups, None, asked)
                .into_iter()
                .map(|m| m.source_file)
                .collect::<Vec<_>>()
        };
        // No `src/a.rs` beside the fixture's root: the root holds both.
        let root = Some("src/lib.rs".to_string());
        assert_eq!(files(true), vec![root.clone(), root]);
        assert_eq!(files(false), vec![None, None]);
    }
}
