//! The wasm-bindgen layer: the only place that knows about JS. It adapts
//! types (JS errors, events, the platform) and exports `SyncEngine`; all
//! engine logic lives in [`crate::engine`].
//!
//! Two wasm modules are built from it: the `engine` feature exports
//! `SyncEngine` (the `tidesync` package entry), the `testing` feature exports
//! `MemoryServer` (the `tidesync/testing` entry). The test doubles never reach
//! the main entry; `scripts/build` checks that they do not.

#[cfg(feature = "engine")]
mod engine;
mod error;
#[cfg(feature = "engine")]
mod lease;
#[cfg(feature = "engine")]
mod lock_leader;
#[cfg(feature = "testing")]
mod memory_server;
#[cfg(feature = "engine")]
mod notices;
#[cfg(feature = "engine")]
mod platform;
#[cfg(feature = "engine")]
mod provider;
#[cfg(feature = "engine")]
mod query;
#[cfg(feature = "engine")]
mod reader;
#[cfg(feature = "engine")]
mod relay;
#[cfg(feature = "engine")]
mod resolve;
#[cfg(feature = "engine")]
mod sync;
#[cfg(feature = "engine")]
mod sync_api;
#[cfg(feature = "engine")]
pub mod types;
#[cfg(feature = "testing")]
mod wire_answer;
mod wire_js;

#[cfg(feature = "engine")]
pub use engine::SyncEngine;
pub use error::to_js_error;
#[cfg(feature = "testing")]
pub use memory_server::{MemoryProvider, MemoryServer};
#[cfg(feature = "engine")]
pub use platform::WebPlatform;

use wasm_bindgen::prelude::*;

/// The version of the tidesync package.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}
