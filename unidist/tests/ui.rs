//! Every misuse of `#[remote]` and `#[actor]` is a compile error spanned on the culprit, with a message that
//! says what to do; each message is pinned in `tests/ui/<misuse>.stderr`.

#[test]
fn misuse_of_remote_is_a_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

#[test]
fn misuse_of_actor_is_a_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/actor/*.rs");
}
