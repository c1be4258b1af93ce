//! Optimised WebAssembly builds drop the symbol-name section (about half the module, a fifth of
//! it gzipped): nobody downloading the app needs it. Debug builds keep it for readable panics.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    let optimised = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    if wasm && optimised {
        // Keep the sections wasm-bindgen reads; drop the rest (names, producers).
        for arg in ["--strip-all", "--keep-section=target_features", "--keep-section=__wasm_bindgen_unstable"]
        {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
