//! Map-reduce word count over a generated corpus: the root `put`s chunks of text, map tasks count
//! the words of one chunk each, and one reduce task merges the counts, taking the map results
//! as refs that travel worker to worker.
//!
//! `cargo run --release --example wordcount [chunks] [words per chunk]`

use std::collections::BTreeMap;

use unidist::{remote, ObjectRef};

const VOCABULARY: &[&str] = &[
    "the", "of", "and", "to", "in", "data", "rank", "task", "worker", "root", "object", "message",
    "cluster", "node", "memory", "result", "value", "queue", "batch", "stream",
];

/// A deterministic corpus: word `i` of chunk `c` picked by a hash, with a Zipf-like skew.
fn chunk(c: u64, words: u64) -> String {
    let mut text = String::new();
    for i in 0..words {
        let mut h = (c << 32 | i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        let r = (h % 1000) as f64 / 1000.0;
        let index = ((r * r) * VOCABULARY.len() as f64) as usize;
        text.push_str(VOCABULARY[index]);
        text.push(' ');
    }
    text
}

#[remote]
fn count_words(text: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

#[remote]
fn merge(parts: Vec<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for part in parts {
        for (word, n) in part {
            *total.entry(word).or_insert(0) += n;
        }
    }
    total
}

fn main() {
    unidist::init();
    let mut args = std::env::args().skip(1);
    let chunks: u64 = args.next().map_or(32, |a| a.parse().expect("chunks"));
    let words: u64 = args.next().map_or(100_000, |a| a.parse().expect("words per chunk"));

    let texts: Vec<ObjectRef<String>> =
        (0..chunks).map(|c| unidist::put(chunk(c, words))).collect();
    let counts: Vec<_> = texts.iter().map(count_words::remote).collect();
    let total = unidist::get(&merge::remote(&counts)).unwrap();

    let mut top: Vec<_> = total.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let counted: u64 = total.values().sum();
    println!(
        "{counted} words ({} distinct) in {chunks} chunks on {} workers",
        total.len(),
        unidist::num_workers()
    );
    for (word, n) in top.iter().take(5) {
        println!("{word:>10} {n}");
    }
    assert_eq!(counted, chunks * words, "every word is counted once");
    unidist::shutdown();
}
