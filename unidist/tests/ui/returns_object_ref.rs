#[unidist::remote]
fn leak(x: u32) -> unidist::ObjectRef<u32> {
    unidist::put(x)
}

fn main() {}
