#[unidist::remote]
fn sum((a, b): (u32, u32), ref c: u32) -> u32 {
    a + b + c
}

fn main() {}
