#[unidist::remote(retries = 2)]
fn flaky(x: u32) -> u32 {
    x
}

fn main() {}
