#[unidist::remote(num_returns = 3)]
fn pair(x: u32) -> (u32, u32) {
    (x, x)
}

fn main() {}
