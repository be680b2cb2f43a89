//! Noticing that another tab upgraded or deleted the database.
//!
//! IndexedDB asks every open connection to close (`versionchange`) before
//! it upgrades or deletes a database; one that stays open blocks the other
//! tab. rexie closes its own connection silently, so the store keeps a
//! second, plain connection just to hear the event: it closes both and
//! tells the engine, which reports it to the app and stops, instead of
//! failing each later call with a storage error.

use std::rc::Rc;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbVersionChangeEvent};

use crate::core::{Result, SyncError};

/// Why the database went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Another connection opened a newer version.
    Upgraded,
    /// The database is being deleted.
    Deleted,
}

/// The listening connection.
pub struct Watch {
    db: IdbDatabase,
    _handler: Closure<dyn FnMut(IdbVersionChangeEvent)>,
}

impl Watch {
    /// Opens the listening connection; `on_lost` runs once, on the event.
    pub async fn open(name: &str, on_lost: Rc<dyn Fn(Lost)>) -> Result<Watch> {
        let storage = |e: JsValue| super::idb::storage("watch", e);
        let factory: IdbFactory =
            Reflect::get(&js_sys::global(), &"indexedDB".into()).map_err(storage)?.unchecked_into();
        let request: IdbOpenDbRequest = factory.open(name).map_err(storage)?;
        let opened = Promise::new(&mut |resolve, reject| {
            request.set_onsuccess(Some(&resolve));
            request.set_onerror(Some(&reject));
        });
        let db: IdbDatabase = wasm_bindgen_futures::JsFuture::from(opened)
            .await
            .map_err(storage)?
            .dyn_into::<web_sys::Event>()
            .ok()
            .and_then(|e| e.target())
            .and_then(|t| Reflect::get(&t, &"result".into()).ok())
            .and_then(|r| r.dyn_into().ok())
            .ok_or_else(|| SyncError::Storage("IndexedDB watch: no database".into()))?;
        let own = db.clone();
        let handler = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |e: IdbVersionChangeEvent| {
            own.close();
            on_lost(if e.new_version().is_none() { Lost::Deleted } else { Lost::Upgraded });
        });
        db.set_onversionchange(Some(handler.as_ref().unchecked_ref()));
        Ok(Watch { db, _handler: handler })
    }

    pub fn close(&self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}
