struct Index(Vec<String>);

#[unidist::actor]
impl Index {
    fn new() -> Self {
        Index(Vec::new())
    }

    fn insert(&mut self, word: &str) -> usize {
        self.0.push(word.to_string());
        self.0.len()
    }
}

fn main() {}
