#[unidist::actor]
struct Counter(u64);

fn main() {}
