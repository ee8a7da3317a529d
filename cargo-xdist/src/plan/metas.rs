//! What the scheduler is told about each test: its binary id and name (scopes), its source
//! file (`loadfile`), its group (`loadgroup`) and its recorded duration (history).

use xdist_core::testlist::TestList;
use xdist_sched::TestMeta;

use crate::config::filterset::BinaryFacts;
use crate::config::groups::Groups;
use crate::plan::history::History;
use crate::plan::source_files::SourceFiles;

/// One [`TestMeta`] per test of `list`, in order.
pub fn test_metas(list: &TestList, groups: &Groups, history: Option<&History>) -> Vec<TestMeta> {
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
                source_file: sources.file_of(&binary.src_path, &test.name),
                group: groups
                    .group_of(&id, &facts[test.binary as usize].query(&binary.id, &test.name))
                    .map(String::from),
                duration: history.and_then(|h| h.get(&id)),
                first: false,
            }
        })
        .collect()
}
