pub struct Opaque(u32);

#[unidist::remote]
fn open(x: Opaque) -> u32 {
    x.0
}

fn main() {}
