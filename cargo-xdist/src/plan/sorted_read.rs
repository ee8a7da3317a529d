//! Reading a JSON object into a `BTreeMap` in one build rather than one insertion per entry:
//! the files a run keeps (the duration history, the outcome record) hold an entry per test,
//! written in key order, and inserting 100,000 long, mostly alike keys one by one costs a
//! search down the tree, string comparison after string comparison, for each.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// Reads a map (for `#[serde(deserialize_with = "...")]`); a key given twice keeps its last
/// value, as one insertion per entry would.
pub fn btree_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Entries<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry::<String, V>()? {
                entries.push(entry);
            }
            // Sorts (stably: a repeated key's last value wins), then builds the tree at once.
            Ok(entries.into_iter().collect())
        }
    }

    deserializer.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(deserialize_with = "btree_map")]
        map: BTreeMap<String, u32>,
    }

    #[test]
    fn reads_what_one_insertion_per_entry_reads() {
        let json = r#"{"map": {"b 2": 1, "a 10": 2, "a 1": 3, "b 2": 4, "": 5, "a 9": 6}}"#;
        let ours: File = serde_json::from_str(json).unwrap();
        let plain: BTreeMap<String, BTreeMap<String, u32>> = serde_json::from_str(json).unwrap();
        assert_eq!(ours.map, plain["map"]);
        assert_eq!(ours.map["b 2"], 4, "the last of a repeated key");
        assert!(serde_json::from_str::<File>(r#"{"map": [1, 2]}"#).is_err());
    }
}
