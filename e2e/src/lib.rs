//! Black-box tests live in `tests/e2e/`; run them with `cargo xtask test`, which first builds
//! the web app (`frontend/dist`) and the `prompt-manager` binary they start.
