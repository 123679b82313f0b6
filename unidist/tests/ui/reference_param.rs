#[unidist::remote]
fn count(text: &str, extra: Vec<&u8>) -> usize {
    text.len() + extra.len()
}

fn main() {}
