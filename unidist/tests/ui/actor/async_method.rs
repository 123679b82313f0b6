struct Counter(u64);

#[unidist::actor]
impl Counter {
    fn new() -> Self {
        Counter(0)
    }

    async fn add(&mut self, x: u64) -> u64 {
        self.0 += x;
        self.0
    }
}

fn main() {}
