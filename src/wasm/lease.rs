//! The lease row in `sync_state`: leadership without Web Locks, and the
//! heartbeat of the Web Lock's holder.
//!
//! Exactly one engine per database pushes (and pulls). Where the browser has
//! `navigator.locks`, that is the engine holding the Web Lock
//! `tidesync:<dbName>`, which also renews this lease every [`RENEW_MS`] so
//! that the others can tell a frozen holder from a live one
//! ([`super::lock_leader`]). Insecure origins (plain `http:` other than
//! localhost) and older Safari have no `navigator.locks`; there the engines
//! agree through this lease alone:
//!
//! - The row [`LEASE_KEY`] of `sync_state` holds `{ holder, expiresAt }`,
//!   `holder` being a random id of one engine instance (not the device id,
//!   which all engines on a database share).
//! - Every engine tries to [`claim`] it every [`RENEW_MS`], each time in one
//!   small readwrite transaction (IndexedDB runs overlapping readwrite
//!   transactions one after another, across tabs too, so the read and the
//!   write are atomic). A claim succeeds when the row is absent, is this
//!   engine's own, or expired; it then sets `expiresAt = now + TTL_MS`. So the
//!   holder renews its lease every second, and another engine takes over
//!   only after the holder has been silent for [`TTL_MS`] (a tab that was
//!   killed, or frozen in the background).
//! - Right before each push batch the holder claims once more (the driver's
//!   push guard); if that fails it stops leading before sending anything.
//!   An engine whose timers were throttled past its lease therefore never
//!   pushes next to the new holder.
//! - A holder that closes posts `Leaving` with its lease id on the
//!   BroadcastChannel; the others may then take the row over at once
//!   instead of waiting for it to expire (closing cannot wait for a
//!   transaction).
//! - An engine that wins the lease first puts the ops a previous holder left
//!   in flight back to pending (as with the Web Lock), then leads.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;

use super::sync::WebDriver;
use crate::core::Result;
use crate::engine::{Engine, Platform};
use crate::store::{Access, Store, StoreTx};

/// The `sync_state` key of the lease.
pub const LEASE_KEY: &str = "leaderLease";
/// How long a claim holds without renewal.
pub const TTL_MS: u64 = 5_000;
/// How often every engine claims (the holder: renews).
pub const RENEW_MS: u64 = 1_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    holder: String,
    expires_at: u64,
}

impl Row {
    /// The row as `Serialize` wrote it; `None` (a free lease) if damaged.
    fn read(v: &serde_json::Value) -> Option<Row> {
        Some(Row { holder: v.get("holder")?.as_str()?.to_string(), expires_at: v.get("expiresAt")?.as_u64()? })
    }
}

/// How [`claim`] may take the lease.
pub enum Claim<'a> {
    /// Only if it is free: absent, this holder's own, expired, or held by
    /// the given holder, which said it left.
    IfFree(Option<&'a str>),
    /// Whoever holds it (the Web Lock says this engine leads now).
    TakeOver,
}

/// Takes or renews the lease for `holder`; `true` if `holder` holds it now.
pub async fn claim<S: Store, P: Platform>(engine: &Engine<S, P>, holder: &str, how: Claim<'_>) -> Result<bool> {
    if engine.is_closed() {
        return Ok(false);
    }
    let now = engine.platform().now_ms();
    let tx = engine.store().begin(Access::System, None).await?;
    let row = tx.get_state(LEASE_KEY).await?.and_then(|v| Row::read(&v));
    let free = match (&row, how) {
        (_, Claim::TakeOver) | (None, _) => true,
        (Some(r), Claim::IfFree(released)) => {
            r.holder == holder || r.expires_at <= now || released == Some(r.holder.as_str())
        }
    };
    if free {
        let row = Row { holder: holder.to_string(), expires_at: now + TTL_MS };
        tx.put_state(LEASE_KEY, serde_json::to_value(&row).unwrap_or_default()).await?;
    }
    tx.commit().await?;
    Ok(free)
}

/// When the lease runs out (`None`: no engine has taken it yet).
pub async fn expiry<S: Store, P: Platform>(engine: &Engine<S, P>) -> Result<Option<u64>> {
    let tx = engine.store().begin(Access::State, None).await?;
    let row = tx.get_state(LEASE_KEY).await?.and_then(|v| Row::read(&v));
    tx.commit().await?;
    Ok(row.map(|r| r.expires_at))
}

/// One engine's lease: its holder id and the loop that keeps claiming.
pub struct Lease {
    pub holder: String,
    /// A holder that announced it left (taken over on the next claim).
    released: RefCell<Option<String>>,
}

impl Lease {
    pub fn new(driver: &WebDriver) -> Rc<Lease> {
        let mut r = [0u8; 12];
        driver.engine().platform().fill_random(&mut r);
        let holder = r.iter().map(|b| format!("{b:02x}")).collect();
        Rc::new(Lease { holder, released: RefCell::new(None) })
    }

    /// Another engine closed while holding lease `holder`: claim now.
    pub fn released(&self, holder: String) {
        *self.released.borrow_mut() = Some(holder);
    }

    /// Claims once and updates the driver's leadership.
    async fn tick(&self, driver: &WebDriver) {
        let released = self.released.borrow_mut().take();
        let held = claim(driver.engine(), &self.holder, Claim::IfFree(released.as_deref())).await.unwrap_or(false);
        let leading = driver.state().leader;
        if held && !leading {
            if driver.engine().recover_in_flight().await.is_err() || driver.engine().is_closed() {
                return;
            }
            driver.set_leader(true);
        } else if !held && leading {
            driver.set_leader(false);
        }
    }

    /// Claims every [`RENEW_MS`] (at once after a `Leaving`) until the engine closes.
    pub fn run(self: Rc<Self>, driver: Rc<WebDriver>) {
        wasm_bindgen_futures::spawn_local(async move {
            let platform = driver.engine().platform().clone();
            while !driver.engine().is_closed() {
                self.tick(&driver).await;
                let mut waited = 0;
                while waited < RENEW_MS && self.released.borrow().is_none() && !driver.engine().is_closed() {
                    platform.sleep(50).await;
                    waited += 50;
                }
            }
        });
    }

    /// The driver's push guard: renews the lease right before a batch.
    pub fn guard(self: &Rc<Self>, driver: &Rc<WebDriver>) -> crate::engine::driver::PushGuard {
        let engine = driver.engine().clone();
        let holder = self.holder.clone();
        Rc::new(move || {
            let (engine, holder) = (engine.clone(), holder.clone());
            Box::pin(async move { claim(&engine, &holder, Claim::IfFree(None)).await.unwrap_or(false) })
        })
    }
}
