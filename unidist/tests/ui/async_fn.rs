#[unidist::remote]
async fn fetch(x: u32) -> u32 {
    x
}

fn main() {}
