#[unidist::remote(num_returns = 2)]
fn single(x: u32) -> Vec<u32> {
    vec![x, x]
}

fn main() {}
