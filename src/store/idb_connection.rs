//! The store's one IndexedDB connection, and noticing that another tab
//! upgraded or deleted the database.
//!
//! IndexedDB asks every open connection to close (`versionchange`) before
//! it upgrades or deletes a database; one that stays open blocks the other
//! tab. The store opens its connection itself, so it can hear the event on
//! the connection it works on: it closes it and tells the engine, which
//! reports it to the app and stops, instead of failing each later call with
//! a storage error. (A second connection only for listening, as rexie keeps
//! its connection to itself, doubled the cost of opening every transaction
//! in Chromium.)

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

/// The open connection, with its `versionchange` listener.
pub struct Connection {
    db: IdbDatabase,
    _handler: Closure<dyn FnMut(IdbVersionChangeEvent)>,
}

impl Connection {
    /// Opens the database at its current version; `on_lost` runs once, on
    /// the event, after the connection has closed.
    pub async fn open(name: &str, on_lost: Rc<dyn Fn(Lost)>) -> Result<Connection> {
        let storage = |e: JsValue| super::idb::storage("open", e);
        let factory: IdbFactory =
            Reflect::get(&js_sys::global(), &"indexedDB".into()).map_err(storage)?.unchecked_into();
        let request: IdbOpenDbRequest = factory.open(name).map_err(storage)?;
        let opened = Promise::new(&mut |resolve, reject| {
            request.set_onsuccess(Some(&resolve));
            request.set_onerror(Some(&reject));
        });
        wasm_bindgen_futures::JsFuture::from(opened).await.map_err(|_| {
            request
                .error()
                .ok()
                .flatten()
                .map_or_else(|| SyncError::Storage("IndexedDB open failed".into()), |e| storage(e.into()))
        })?;
        let db: IdbDatabase = request
            .result()
            .ok()
            .and_then(|r| r.dyn_into().ok())
            .ok_or_else(|| SyncError::Storage("IndexedDB open: no database".into()))?;
        let own = db.clone();
        let handler = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |e: IdbVersionChangeEvent| {
            own.close();
            on_lost(if e.new_version().is_none() { Lost::Deleted } else { Lost::Upgraded });
        });
        db.set_onversionchange(Some(handler.as_ref().unchecked_ref()));
        Ok(Connection { db, _handler: handler })
    }

    /// The connection as the `idb` crate works on it.
    pub fn database(&self) -> idb::Database {
        idb::Database::from(self.db.clone())
    }

    /// The connection itself, for what the `idb` crate does not cover.
    pub fn raw(&self) -> &IdbDatabase {
        &self.db
    }

    pub fn close(&self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}
