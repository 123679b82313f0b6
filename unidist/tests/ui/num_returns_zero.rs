#[unidist::remote(num_returns = 0)]
fn nothing(x: u32) -> u32 {
    x
}

fn main() {}
