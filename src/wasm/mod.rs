//! The wasm-bindgen layer: the only place that knows about JS. It adapts
//! types (JS errors, events, the platform) and exports `SyncEngine`; all
//! engine logic lives in [`crate::engine`].

mod engine;
mod error;
mod lease;
mod memory_server;
mod notices;
mod platform;
mod provider;
mod relay;
mod resolve;
mod sync;
mod sync_api;
pub mod types;
mod wire_js;

pub use engine::SyncEngine;
pub use error::to_js_error;
pub use memory_server::{MemoryProvider, MemoryServer};
pub use platform::WebPlatform;

use wasm_bindgen::prelude::*;

/// The version of the tidesync package.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}
