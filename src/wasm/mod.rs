//! The wasm-bindgen layer: the only place that knows about JS.

use wasm_bindgen::prelude::*;

/// The version of the tidesync package.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}
