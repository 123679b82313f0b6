fn main() {
    #[unidist::remote]
    fn square(x: u64) -> u64 {
        x * x
    }

    unidist::init();
    let _ = square::remote(3);
}
