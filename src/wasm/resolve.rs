//! Per-table `resolve(local, remote)` hooks from the config: an app's own
//! merge for conflicts. Each side is the record, or `null` for a delete. The
//! hook returns the merged record (written as a new local write, so every
//! device converges on it), or `null`/`undefined` to keep what LWW chose.
//! A hook that throws is reported as `sync.error:action`; LWW's result stays.

use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::provider::from_js_error;
use crate::core::decode::{Shape, WireValue};
use crate::core::SyncError;
use crate::engine::Resolver;

/// The hooks declared in `config.tables[i].resolve`, by table name.
pub fn resolvers(config: &JsValue) -> Result<Vec<(String, Resolver<JsValue>)>, SyncError> {
    let tables = Reflect::get(config, &"tables".into()).unwrap_or(JsValue::UNDEFINED);
    let mut out = Vec::new();
    for (i, table) in js_sys::Array::from(&tables).iter().enumerate() {
        let Some(hook) = table.field("resolve") else { continue };
        if hook.shape() == Shape::Null {
            continue;
        }
        let hook: Function = hook
            .dyn_into()
            .map_err(|_| SyncError::invalid(format!("config.tables[{i}].resolve"), "must be a function"))?;
        let name = table.field("name").and_then(|n| n.as_string()).unwrap_or_default();
        out.push((
            name,
            Rc::new(move |local: Option<&JsValue>, remote: Option<&JsValue>| {
                let side = |v: Option<&JsValue>| v.cloned().unwrap_or(JsValue::NULL);
                let merged = hook.call2(&JsValue::NULL, &side(local), &side(remote)).map_err(|e| from_js_error(&e))?;
                Ok(match merged.shape() {
                    Shape::Absent | Shape::Null => None,
                    _ => Some(merged),
                })
            }) as Resolver<JsValue>,
        ));
    }
    Ok(out)
}
