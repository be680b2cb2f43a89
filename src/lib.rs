//! tidesync: offline-first, bidirectional sync for IndexedDB.
//!
//! - [`core`]: the pure, sans-IO rules (HLC, stamps, LWW, wire types).
//! - [`store`]: the `Store` trait, the memory store and the IndexedDB store.
//! - [`engine`]: the engine, generic over store and platform.
//! - `wasm` (wasm32 only): the JS API exported through wasm-bindgen.
//!
//! See docs/PROTOCOL.md for the public contract and README.md for the quickstart.

pub mod core;
pub mod engine;
pub mod store;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

/// The crate version, as the npm package reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
