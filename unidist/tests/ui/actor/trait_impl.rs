struct Counter(u64);

#[unidist::actor]
impl Default for Counter {
    fn default() -> Self {
        Counter(0)
    }
}

fn main() {}
