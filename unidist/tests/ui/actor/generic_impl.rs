struct Cache<T>(Vec<T>);

#[unidist::actor]
impl<T: Send + 'static> Cache<T> {
    fn new() -> Self {
        Cache(Vec::new())
    }
}

fn main() {}
