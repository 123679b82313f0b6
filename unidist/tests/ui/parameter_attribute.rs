#[unidist::remote]
fn pick(#[cfg(any())] a: u32, b: u32) -> u32 {
    b
}

fn main() {}
