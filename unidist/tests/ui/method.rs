struct Counter(u32);

impl Counter {
    #[unidist::remote]
    fn bump(self) -> u32 {
        self.0 + 1
    }
}

fn main() {}
