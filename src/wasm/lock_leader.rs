//! Leadership by the Web Lock `tidesync:<dbName>`, kept honest by a
//! heartbeat, so that a frozen, hibernated or hung tab cannot stall sync.
//!
//! The engine holding the lock leads (pushes and pulls). A lock alone cannot
//! tell a frozen holder from a live one: the browser keeps a frozen tab's
//! lock, and every other tab would wait forever. So the holder also renews
//! the lease row of [`super::lease`] every [`RENEW_MS`] (its heartbeat), and:
//!
//! - a follower that finds the lease unrenewed for [`TTL_MS`] asks for the
//!   lock with `steal: true` (the browser takes it from the silent holder)
//!   and leads;
//! - the old holder, once it runs again, finds the lease renewed by another
//!   engine, at its next heartbeat or right before its next push batch (the
//!   push guard), and stands down before it sends anything; the browser has
//!   also rejected its lock request (`AbortError`), and it queues for the
//!   lock again as a follower;
//! - a leader whose page is frozen or goes to the back/forward cache
//!   (`freeze`, `pagehide`) lets the lock go at once, so the next engine in
//!   the queue leads without waiting for the lease to lapse, and queues again
//!   on `resume` or `pageshow`.
//!
//! Any lock grant that belongs to an older request of this engine (a normal
//! request granted after a steal, say) is let go at once. A batch a frozen
//! leader had in flight goes back to pending under the next leader and is
//! pushed again; the server applies each op id once, so nothing is doubled.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::lease::{self, Lease, RENEW_MS, TTL_MS};
use super::sync::WebDriver;
use crate::engine::Platform;

/// One engine's place in the queue for the database's Web Lock.
pub struct LockLeader {
    locks: JsValue,
    name: String,
    driver: Rc<WebDriver>,
    lease: Rc<Lease>,
    /// Settles the promise that holds the current grant: releases the lock.
    release: RefCell<Option<Function>>,
    /// Numbers this engine's lock requests; only the latest one counts.
    generation: Cell<u32>,
    /// When this follower first found no live lease (a holder that never
    /// wrote one yet is given [`TTL_MS`] to do so).
    unheld_since: Cell<Option<u64>>,
    /// The page is frozen or in the back/forward cache: no heartbeat, no
    /// request until it resumes.
    parked: Cell<bool>,
}

impl LockLeader {
    /// Queues for the lock and starts the heartbeat.
    pub fn start(locks: JsValue, name: String, driver: Rc<WebDriver>, lease: Rc<Lease>) -> Rc<LockLeader> {
        let me = Rc::new(LockLeader {
            locks,
            name,
            driver,
            lease,
            release: RefCell::new(None),
            generation: Cell::new(0),
            unheld_since: Cell::new(None),
            parked: Cell::new(false),
        });
        me.request(false);
        me.clone().heartbeat();
        me
    }

    fn closed(&self) -> bool {
        self.driver.engine().is_closed()
    }

    /// Whether this engine holds the lock now.
    pub fn holding(&self) -> bool {
        self.release.borrow().is_some()
    }

    /// Asks for the lock (`steal`: take it from its holder at once).
    fn request(self: &Rc<Self>, steal: bool) {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let me = Rc::downgrade(self);
        let granted = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            // The lock is held until this promise settles.
            Promise::new(&mut |resolve, _| match me.upgrade() {
                Some(me) if me.generation.get() == generation && !me.closed() && !me.parked.get() => {
                    *me.release.borrow_mut() = Some(resolve);
                    me.lead();
                }
                _ => {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            })
        });
        let options = Object::new();
        if steal {
            let _ = Reflect::set(&options, &"steal".into(), &JsValue::TRUE);
        }
        let Ok(request) = Reflect::get(&self.locks, &"request".into()).and_then(|f| f.dyn_into::<Function>()) else {
            return;
        };
        let Ok(asked) = request.call3(&self.locks, &JsValue::from_str(&self.name), &options, &granted) else {
            return;
        };
        // A request whose lock is stolen rejects (AbortError).
        let me: Weak<LockLeader> = Rc::downgrade(self);
        let lost = Closure::once_into_js(move |_err: JsValue| {
            if let Some(me) = me.upgrade() {
                if me.generation.get() == generation {
                    me.lost();
                }
            }
        });
        if let Ok(catch) = Reflect::get(&asked, &"catch".into()).and_then(|f| f.dyn_into::<Function>()) {
            let _ = catch.call1(&asked, &lost);
        }
    }

    /// Granted: take the lease over, put back what a previous leader left in
    /// flight, then lead.
    fn lead(self: Rc<Self>) {
        wasm_bindgen_futures::spawn_local(async move {
            let engine = self.driver.engine();
            if lease::claim(engine, &self.lease.holder, lease::Claim::TakeOver).await.is_err() {
                // Storage failed: let the lock go and try again later.
                self.stand_down(false);
                engine.platform().sleep(RENEW_MS).await;
                if !self.closed() && !self.parked.get() {
                    self.request(false);
                }
                return;
            }
            let _ = engine.recover_in_flight().await;
            if !self.closed() && self.holding() {
                self.driver.set_leader(true);
            }
        });
    }

    /// The browser took the lock away (another engine stole it).
    fn lost(self: &Rc<Self>) {
        self.release.borrow_mut().take();
        self.driver.set_leader(false);
        if !self.closed() && !self.parked.get() {
            self.request(false);
        }
    }

    /// Stops leading and lets the lock go; `queue`: ask for it again.
    pub fn stand_down(self: &Rc<Self>, queue: bool) {
        // Older requests' grants and rejections are stale from here on.
        self.generation.set(self.generation.get() + 1);
        self.driver.set_leader(false);
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        if queue && !self.closed() && !self.parked.get() {
            self.request(false);
        }
    }

    /// The page is being frozen or hidden in the back/forward cache.
    pub fn park(self: &Rc<Self>) {
        self.parked.set(true);
        self.stand_down(false);
    }

    /// The page runs again.
    pub fn resume(self: &Rc<Self>) {
        if self.parked.replace(false) && !self.closed() {
            self.unheld_since.set(None);
            self.request(false);
        }
    }

    /// One heartbeat: the holder renews the lease (and stands down if
    /// another engine holds it now); a follower steals a lapsed lock.
    async fn beat(self: &Rc<Self>) {
        let engine = self.driver.engine();
        if self.holding() {
            if !matches!(lease::claim(engine, &self.lease.holder, lease::Claim::IfFree(None)).await, Ok(true)) {
                self.stand_down(true);
            }
            return;
        }
        let now = engine.platform().now_ms();
        let steal = match lease::expiry(engine).await {
            Err(_) => false,
            Ok(Some(at)) if at > now => {
                self.unheld_since.set(None);
                false
            }
            // The holder has not renewed for TTL_MS.
            Ok(Some(_)) => true,
            // No lease yet: a new holder gets TTL_MS to write one.
            Ok(None) => {
                let since = self.unheld_since.get().unwrap_or(now);
                self.unheld_since.set(Some(since));
                now.saturating_sub(since) >= TTL_MS
            }
        };
        if steal {
            self.unheld_since.set(None);
            self.request(true);
        }
    }

    /// Beats every [`RENEW_MS`] until the engine closes.
    fn heartbeat(self: Rc<Self>) {
        wasm_bindgen_futures::spawn_local(async move {
            let platform = self.driver.engine().platform().clone();
            while !self.closed() {
                if !self.parked.get() {
                    self.beat().await;
                }
                platform.sleep(RENEW_MS).await;
            }
        });
    }

    /// The driver's push guard: the lock is still held and the lease still
    /// this engine's (claimed in the batch's transaction); if not, it stands
    /// down first.
    pub fn guard(self: &Rc<Self>) -> crate::engine::driver::PushGuard {
        let (me, gone) = (Rc::downgrade(self), Rc::downgrade(self));
        crate::engine::driver::PushGuard {
            holder: self.lease.holder.clone(),
            leading: Rc::new(move || me.upgrade().is_some_and(|me| me.holding())),
            lost: Rc::new(move || {
                if let Some(me) = gone.upgrade() {
                    me.stand_down(true);
                }
            }),
        }
    }
}
