//! Compiles the Storefront `.proto` files into Rust clients and servers (tonic + prost) and writes
//! the encoded file descriptor set that servers use for gRPC reflection.

use std::{env, error::Error, path::PathBuf};

/// Every API file, relative to the crate root (which is also the protoc include root, so the
/// descriptor names are `storefront/<service>/v1/<service>.proto`).
const PROTOS: &[&str] = &[
    "storefront/auth/v1/auth.proto",
    "storefront/user/v1/user.proto",
    "storefront/product/v1/product.proto",
    "storefront/inventory/v1/inventory.proto",
];

/// File stem of the descriptor set in `OUT_DIR`; `lib.rs` includes `<stem>.bin`.
const DESCRIPTOR_SET: &str = "storefront_descriptor";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    // tonic-prost-build 0.14 does not emit rerun-if-changed itself, so without these lines any
    // file change in the package would rerun protoc, and a new .proto would not.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=storefront");

    // The vendored protoc and its bundled google/protobuf/*.proto, so no system protoc is needed.
    // Passed through the prost config rather than the PROTOC env var: setting env vars is
    // `unsafe` in edition 2024 and the workspace forbids unsafe code, build scripts included.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let well_known_include = protoc_bin_vendored::include_path()?;

    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| manifest_dir.join(p)).collect();
    let includes = [manifest_dir, well_known_include];

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join(format!("{DESCRIPTOR_SET}.bin")))
        .compile_with_config(config, &protos, &includes)?;
    Ok(())
}
