//! A program whose function table differs from `conformance`'s: started beside it in one job
//! (`mpiexec -n 1 conformance : -n 2 mismatch`), every rank's `init` must fail with one message.

#[unidist::remote]
fn only_here(x: u32) -> u32 {
    x + 1
}

fn main() {
    unidist::init();
    println!("{}", unidist::get(&only_here::remote(1)).unwrap());
    unidist::shutdown();
}
