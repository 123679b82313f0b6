struct Counter(u64);

#[unidist::actor]
impl Counter {
    fn get(&self) -> u64 {
        self.0
    }
}

fn main() {}
