struct Counter(u64);

#[unidist::actor]
impl Counter {
    fn new(start: u64) -> Result<Counter, String> {
        Ok(Counter(start))
    }

    fn get(&self) -> u64 {
        self.0
    }
}

fn main() {}
