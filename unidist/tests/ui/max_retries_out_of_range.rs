#[unidist::remote(max_retries = 300)]
fn flaky(x: u64) -> u64 {
    x
}

fn main() {}
