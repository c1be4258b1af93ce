//! The web app is embedded from `frontend/dist` (see `src/spa.rs`): rebuild when it changes,
//! including when `cargo xtask frontend` creates it after a first build without it.

fn main() {
    println!("cargo::rerun-if-changed=../../frontend/dist");
}
