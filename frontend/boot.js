// Loads the WebAssembly app built by `cargo xtask frontend` (wasm-bindgen, target web).
import init from "/app.js";
await init({ module_or_path: "/app_bg.wasm" });
