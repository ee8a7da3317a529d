//! Fewer names on a batch's command line. libtest compares every test of the binary with
//! every name it is given, so `--exact` and k names cost n·k in a binary of n tests, before
//! the first test runs. A
//! batch that holds whole modules can say so with one substring filter per module
//! (`m07::`, without `--exact`), which costs n·(modules).
//!
//! The filters are checked against every test the binary has (`universe`: the run's and
//! the ones it does not run, ignored ones included), as libtest applies them (a test runs
//! if its name contains any filter): they are used only if they select exactly the batch,
//! so a module prefix that also occurs inside other names (`a::m07::x`) never runs a test
//! the batch does not hold. A test outside whole modules (the batch's edges cut its module)
//! is its own filter, its whole name, in the same process, when no other test of the binary
//! has that name inside its own; the others keep their exact names, in a batch of their own.
//! So a chunk of a binary's queue costs one process, not one for its whole modules and one
//! more for the cut ones at each end.

use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;

/// The most names outside whole modules that become filters of their own: libtest compares
/// every test with every filter, so more would cost tests × names again.
const NAMED_FILTERS_MAX: usize = 256;

/// Filters that select exactly the batch's `covered` tests, and the names (`rest`) that
/// need `--exact` in a process of their own.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compact<'a> {
    /// Substring filters: one per module wholly in the batch (or a prefix of several), and
    /// the whole names of the batch's other tests that no other test's name contains.
    pub filters: Vec<String>,
    /// The batch's tests the filters select.
    pub covered: Vec<&'a str>,
    /// The batch's other tests.
    pub rest: Vec<&'a str>,
}

/// Every test name of a binary, and how many tests each module prefix holds.
#[derive(Debug, Default)]
pub struct Universe<'s> {
    names: Vec<&'s str>,
    /// The same names, sorted, to count those under a prefix.
    sorted: Vec<&'s str>,
    totals: HashMap<&'s str, usize>,
    /// How many names contain a word, for the doctest words asked so far (a worker asks
    /// about the same file names and items batch after batch).
    containing: std::cell::RefCell<HashMap<String, usize>>,
}

impl<'s> Universe<'s> {
    /// Every test name of the binary.
    pub fn names(&self) -> &[&'s str] {
        &self.names
    }

    /// The binary's test names: the run's and the ones it does not run.
    pub fn new(names: Vec<&'s str>) -> Self {
        let mut totals: HashMap<&str, usize> = HashMap::new();
        for name in &names {
            for prefix in prefixes(name) {
                *totals.entry(prefix).or_default() += 1;
            }
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        Self { names, sorted, totals, containing: Default::default() }
    }

    /// How many of the binary's test names contain `word`.
    fn count_containing(&self, word: &str) -> usize {
        if let Some(&count) = self.containing.borrow().get(word) {
            return count;
        }
        let count = self.names.iter().filter(|u| u.contains(word)).count();
        self.containing.borrow_mut().insert(word.to_string(), count);
        count
    }

    /// How many of the binary's tests libtest selects with these substring filters.
    fn selected_by<S: AsRef<str>>(&self, filters: &[S]) -> usize {
        let filters: Vec<&str> = filters.iter().map(AsRef::as_ref).collect();
        if filters.len() <= 16 {
            return self.names.iter().filter(|u| filters.iter().any(|f| u.contains(f))).count();
        }
        // Filters that end in `::` (modules): look up each substring of a name that ends
        // there; the others (merged prefixes, few) one by one.
        let (modules, others): (Vec<&str>, Vec<&str>) =
            filters.iter().partition(|f| f.ends_with("::"));
        let set: HashSet<&str> = modules.into_iter().collect();
        self.names
            .iter()
            .filter(|u| {
                others.iter().any(|f| u.contains(f))
                    || u.match_indices("::").any(|(i, _)| {
                        let end = i + 2;
                        (0..end)
                            .filter(|&s| u.is_char_boundary(s))
                            .any(|s| set.contains(&u[s..end]))
                    })
            })
            .count()
    }
}

/// Splits `batch` into module filters and exact names, or `None` when no module is whole
/// in it (or its filters would select more than the batch).
pub fn compact<'a>(batch: &[&'a str], universe: &Universe<'_>) -> Option<Compact<'a>> {
    // Below this, exact names cost little: n·k with k small.
    const WORTH_IT: usize = 64;
    if batch.len() < WORTH_IT {
        return None;
    }
    let mut held: HashMap<&str, usize> = HashMap::new();
    for name in batch {
        for prefix in prefixes(name) {
            *held.entry(prefix).or_default() += 1;
        }
    }
    // Each test under its outermost module that the batch holds whole.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut filters: Vec<&str> = Vec::new();
    let mut covered = Vec::new();
    let mut rest = Vec::new();
    for &name in batch {
        match prefixes(name).find(|p| held.get(p) == universe.totals.get(p)) {
            Some(prefix) => {
                if seen.insert(prefix) {
                    filters.push(prefix);
                }
                covered.push(name);
            }
            None => rest.push(name),
        }
    }
    if covered.len() < WORTH_IT {
        return None;
    }
    let mut sorted_batch = batch.to_vec();
    sorted_batch.sort_unstable();
    let merged = merge_siblings(&filters, &sorted_batch, &universe.sorted);
    // As libtest will select: any test of the binary whose name contains a filter. A merged
    // prefix that also occurs inside other names falls back to the modules' own filters.
    let exact = |filters: &[String]| universe.selected_by(filters) == covered.len();
    let mut filters = if exact(&merged) {
        merged
    } else {
        let unmerged: Vec<String> = filters.into_iter().map(String::from).collect();
        if !exact(&unmerged) {
            return None;
        }
        unmerged
    };
    let (named, rest) = named_alone(rest, universe);
    filters.extend(named.iter().map(|name| name.to_string()));
    covered.extend(named);
    Some(Compact { filters, covered, rest })
}

/// Splits `rest` into the names that, as substring filters, select only their own test
/// (no other test of the binary contains them), and the others; all stay others when there
/// are more than [`NAMED_FILTERS_MAX`].
fn named_alone<'a>(rest: Vec<&'a str>, universe: &Universe<'_>) -> (Vec<&'a str>, Vec<&'a str>) {
    if rest.is_empty() || rest.len() > NAMED_FILTERS_MAX {
        return (Vec::new(), rest);
    }
    let Ok(searcher) = AhoCorasick::new(&rest) else { return (Vec::new(), rest) };
    let mut inside_another = vec![false; rest.len()];
    for name in &universe.names {
        for found in searcher.find_overlapping_iter(*name) {
            // A match of the whole name is the test itself.
            if found.start() != 0 || found.end() != name.len() {
                inside_another[found.pattern().as_usize()] = true;
            }
        }
    }
    let (alone, others): (Vec<_>, Vec<_>) =
        rest.into_iter().zip(inside_another).partition(|(_, inside)| !inside);
    (alone.into_iter().map(|(n, _)| n).collect(), others.into_iter().map(|(n, _)| n).collect())
}

/// Sibling module filters (`t::m000::` … `t::m099::`) as the shortest common prefixes that
/// the batch holds whole (`t::m0`): libtest compares every test with every filter, so a
/// batch of a binary with hundreds of modules would otherwise cost tests × modules again.
/// A prefix is used only when every test of the binary under it is in the batch; the caller
/// still checks that the filters select exactly the batch's covered tests.
fn merge_siblings(filters: &[&str], batch: &[&str], universe: &[&str]) -> Vec<String> {
    let mut filters = filters.to_vec();
    filters.sort_unstable();
    let split = |f: &str| -> (usize, usize) {
        // The parent's end (after its `::`) and the filter's last component's end.
        let body = &f[..f.len() - 2];
        (body.rfind("::").map_or(0, |i| i + 2), body.len())
    };
    let whole = |prefix: &str| under(universe, prefix) == under(batch, prefix);
    let mut merged = Vec::new();
    let mut i = 0;
    while i < filters.len() {
        let (parent, end) = split(filters[i]);
        let mut best: Option<(usize, &str)> = None;
        // Top-level modules stay apart: a prefix such as `p` of `parser::` and `printer::`
        // would occur inside nearly every name.
        let siblings = if parent == 0 { &[][..] } else { &filters[i + 1..] };
        for (j, other) in siblings.iter().enumerate().map(|(k, o)| (i + 1 + k, o)) {
            let (other_parent, _) = split(other);
            if other_parent != parent || other[..parent] != filters[i][..parent] {
                break;
            }
            let common = common_prefix(&filters[i][parent..end], &other[parent..]);
            if common == 0 {
                break;
            }
            let prefix = &filters[i][..parent + common];
            if !whole(prefix) {
                break;
            }
            best = Some((j, prefix));
        }
        match best {
            Some((last, prefix)) => {
                merged.push(prefix.to_string());
                i = last + 1;
            }
            None => {
                merged.push(filters[i].to_string());
                i += 1;
            }
        }
    }
    merged
}

/// How many of `sorted` names start with `prefix`.
fn under(sorted: &[&str], prefix: &str) -> usize {
    let start = sorted.partition_point(|n| *n < prefix);
    sorted[start..].partition_point(|n| n.starts_with(prefix))
}

/// The length of the longest common prefix of `a` and `b`, on a char boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

/// Substring filters for doctests, whose names (`src/lib.rs - add (line 5)`) hold spaces
/// and cannot be passed whole (rustdoc splits `--test-args` at whitespace): for each name,
/// the word of it that the fewest of the binary's doctests contain (often the line number,
/// `5)`), so that the process runs few doctests besides the batch's. `None` if a name has
/// no word (the batch then runs every doctest).
pub fn doctest_words(batch: &[&str], universe: &Universe<'_>) -> Option<Vec<String>> {
    let mut words: Vec<String> = Vec::new();
    for name in batch {
        let best = name
            .split_whitespace()
            .filter(|w| *w != "-" && *w != "(line")
            .min_by_key(|w| universe.count_containing(w))?;
        if !words.iter().any(|w| w == best) {
            words.push(best.to_string());
        }
    }
    Some(words)
}

/// `a::`, `a::b::` for `a::b::c`, outermost first.
fn prefixes(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices("::").map(move |(i, _)| &name[..i + 2])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the names and the batch: the filters select (as libtest selects, over
        /// the whole binary) exactly the covered tests, and covered and rest split the batch.
        #[test]
        fn filters_select_exactly_the_covered_tests(
            names in proptest::collection::btree_set("(a|b|ab|m7)(::(a|b|m7|x)){0,3}::t[0-9]{1,2}", 60..300),
            keep in proptest::collection::vec(any::<bool>(), 300),
            start in 0usize..100,
        ) {
            let universe: Vec<&str> = names.iter().map(String::as_str).collect();
            let batch: Vec<&str> = universe
                .iter()
                .enumerate()
                .filter(|(i, _)| *i >= start.min(universe.len()) && (keep[*i] || *i % 3 != 0))
                .map(|(_, n)| *n)
                .collect();
            if let Some(got) = compact(&batch, &Universe::new(universe.clone())) {
                let selected: Vec<&str> = universe
                    .iter()
                    .copied()
                    .filter(|u| got.filters.iter().any(|f| u.contains(f.as_str())))
                    .collect();
                let mut covered = got.covered.clone();
                covered.sort_unstable();
                prop_assert_eq!(selected, covered);
                let mut both: Vec<&str> = got.covered.iter().chain(&got.rest).copied().collect();
                both.sort_unstable();
                let mut want = batch.clone();
                want.sort_unstable();
                prop_assert_eq!(both, want);
            }
        }
    }

    fn names(modules: &[&str], per: usize) -> Vec<String> {
        modules.iter().flat_map(|m| (0..per).map(move |i| format!("{m}t{i:03}"))).collect()
    }

    #[test]
    fn whole_modules_become_filters_and_cut_ones_their_names_unless_inside_others() {
        let mut all = names(&["a::", "b::", "c::x::", "c::y::"], 100);
        // Not in the batch: holds `a::t095` inside its name.
        all.push("z::a::t0951".into());
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        // b, c (both submodules) whole; a's last 10.
        let batch: Vec<&str> = universe[90..400].to_vec();
        let got = compact(&batch, &Universe::new(universe.clone())).unwrap();
        let mut want: Vec<String> = vec!["b::".into(), "c::".into()];
        want.extend(universe[90..100].iter().filter(|n| **n != "a::t095").map(|n| n.to_string()));
        assert_eq!(got.filters, want);
        assert_eq!(got.covered.len(), 309);
        assert_eq!(got.rest, ["a::t095"], "`a::t095` would also run z::a::t0951");
    }

    #[test]
    fn a_prefix_found_inside_other_names_is_not_used() {
        let mut all = names(&["m07::", "other::"], 100);
        all.push("other::m07::t999".into());
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        let batch: Vec<&str> = universe[..100].to_vec();
        assert_eq!(
            compact(&batch, &Universe::new(universe.clone())),
            None,
            "`m07::` would run other::m07::t999"
        );
    }

    #[test]
    fn doctests_are_named_by_their_rarest_word() {
        let all = [
            "src/lib.rs - add (line 5)",
            "src/lib.rs - add (line 15)",
            "src/a.rs - a::add (line 9)",
            "src/a.rs - a::b (line 25)",
        ];
        let universe = Universe::new(all.to_vec());
        let words =
            doctest_words(&["src/lib.rs - add (line 15)", "src/a.rs - a::b (line 25)"], &universe);
        assert_eq!(words, Some(vec!["15)".to_string(), "a::b".to_string()]));
        let selected: Vec<&str> = all
            .iter()
            .copied()
            .filter(|n| words.as_ref().unwrap().iter().any(|w| n.contains(w.as_str())))
            .collect();
        assert_eq!(selected, [all[1], all[3]], "exactly the batch here");
    }

    #[test]
    fn sibling_modules_held_whole_merge_into_their_common_prefixes() {
        let modules: Vec<String> = (0..200).map(|m| format!("t::m{m:03}::")).collect();
        let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
        let all = names(&modules, 5);
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        // m000..m149 whole: m0 (m000..m099), then m10..m14; m15.. are not in the batch.
        let got = compact(&universe[..750], &Universe::new(universe.clone())).unwrap();
        assert_eq!(got.filters, ["t::m0", "t::m10", "t::m11", "t::m12", "t::m13", "t::m14"]);
        assert_eq!(got.covered.len(), 750);
        assert!(got.rest.is_empty());
    }

    #[test]
    fn many_modules_are_checked_as_well() {
        let modules: Vec<String> = (0..40).map(|m| format!("m{m:02}::")).collect();
        let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
        let mut all = names(&modules, 5);
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        let got = compact(&universe, &Universe::new(universe.clone())).unwrap();
        assert_eq!(got.filters.len(), 40, "top-level modules are not merged");
        all.push("zz::m03::t1".into());
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(compact(&universe[..200], &Universe::new(universe.clone())), None);
    }

    #[test]
    fn small_batches_and_batches_without_whole_modules_keep_names() {
        let all = names(&["a::", "b::"], 100);
        let universe: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(compact(&universe[..50], &Universe::new(universe.clone())), None);
        assert_eq!(compact(&universe[50..150], &Universe::new(universe.clone())), None);
        // An ignored test of the module (in the universe, not the batch) keeps it partial.
        let mut with_ignored = universe.clone();
        with_ignored.push("b::ignored");
        assert_eq!(compact(&universe[100..], &Universe::new(with_ignored)), None);
    }
}
