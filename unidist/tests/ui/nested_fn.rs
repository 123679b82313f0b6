fn main() {
    #[unidist::remote]
    fn square(x: u64) -> u64 {
        x * x
    }

    unidist::init();
    let _ = square::remote(3);
}

// Names the stubs use are fine as function names, and a raw identifier too.
#[unidist::remote]
fn remote(x: u64) -> u64 {
    x
}

#[unidist::remote]
fn remote_with(x: u64) -> u64 {
    x
}

#[unidist::remote]
fn r#type(x: u64) -> u64 {
    x
}
