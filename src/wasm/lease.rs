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
//! - The lease row of `sync_state` ([`crate::engine::lease`]) holds `{ holder, expiresAt }`,
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
//! - Each push batch claims once more, in the transaction that marks the
//!   batch in flight (the driver's push guard); if that fails it stops
//!   leading before sending anything.
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

use super::sync::WebDriver;
pub use crate::engine::lease::{claim, expiry, Claim, TTL_MS};
use crate::engine::Platform;

/// How often every engine claims (the holder: renews).
pub const RENEW_MS: u64 = 1_000;

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

    /// The driver's push guard: each batch renews the lease in its own
    /// transaction; a lost claim just stops pushing (the next tick follows).
    pub fn guard(&self) -> crate::engine::driver::PushGuard {
        crate::engine::driver::PushGuard {
            holder: self.holder.clone(),
            leading: Rc::new(|| true),
            lost: Rc::new(|| {}),
        }
    }
}
