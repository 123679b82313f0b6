struct Counter(u64);

#[unidist::actor]
impl Counter {
    fn new() -> Self {
        Counter(0)
    }

    fn remote(&self) -> u64 {
        self.0
    }
}

fn main() {}
