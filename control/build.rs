//! Generates the gRPC server and client for KEDA's externalscaler.proto.
//!
//! The proto is parsed by protox (a protobuf compiler in Rust), so building
//! needs no `protoc` on the machine: a fresh checkout builds with cargo alone.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/externalscaler.proto");
    let descriptors = protox::compile(["externalscaler.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(descriptors)?;
    Ok(())
}
