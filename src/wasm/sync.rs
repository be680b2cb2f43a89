//! Runs the push scheduler in the page: one loop per engine, pushing only
//! while the engine leads its database, so exactly one engine (tab) pushes a
//! database's outbox. The leader is the engine holding the Web Lock
//! `tidesync:<dbName>`, or, where `navigator.locks` does not exist, the
//! holder of the lease row of [`super::lease`]. The others (followers) keep
//! capturing; every message from them on the BroadcastChannel (a change
//! notice, a push request) wakes the leader's loop, and their `syncNow` runs
//! through the leader ([`super::relay`]). When the leader closes, another
//! engine takes over. Also wires the `online` and `visibilitychange` events
//! to the scheduler.

#[cfg(feature = "testing")]
use std::cell::Cell;
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::lease::Lease;
use super::platform::WebPlatform;
use super::provider::JsProvider;
use super::relay::{Message, Relay};
use crate::engine::driver::Driver;
use crate::store::idb::IdbStore;

pub type WebDriver = Driver<IdbStore, WebPlatform, JsProvider>;

/// An event listener to remove on close: target, event name, callback.
type Listener = (JsValue, &'static str, Closure<dyn FnMut()>);

#[cfg(feature = "testing")]
thread_local! {
    static HIDE_WEB_LOCKS: Cell<bool> = const { Cell::new(false) };
}

/// Fault injection for tests: engines opened while this is set behave as if
/// `navigator.locks` did not exist (and lead by the lease).
#[cfg(feature = "testing")]
pub fn hide_web_locks(hide: bool) {
    HIDE_WEB_LOCKS.with(|h| h.set(hide));
}

/// Whether a test hid `navigator.locks` (never, outside the test build).
fn web_locks_hidden() -> bool {
    #[cfg(feature = "testing")]
    return HIDE_WEB_LOCKS.with(Cell::get);
    #[cfg(not(feature = "testing"))]
    false
}

/// The page-side handles of a running scheduler, released on close.
pub struct Runner {
    release_lock: Rc<RefCell<Option<Function>>>,
    listeners: Vec<Listener>,
    relay: Rc<Relay>,
    lease: Option<Rc<Lease>>,
    platform: WebPlatform,
}

impl Runner {
    /// Starts the loop and asks for the lock.
    pub fn start(driver: Rc<WebDriver>, platform: &WebPlatform, lock_name: String) -> Runner {
        let global: JsValue = js_sys::global().into();
        let wake = |d: &Rc<WebDriver>| {
            let d = d.clone();
            Closure::<dyn FnMut()>::new(move || d.wake_pull())
        };
        let mut listeners = Vec::new();
        for event in ["online", "offline"] {
            let c = wake(&driver);
            add_listener(&global, event, &c);
            listeners.push((global.clone(), event, c));
        }
        if let Ok(document) = Reflect::get(&global, &"document".into()) {
            if !document.is_undefined() {
                let d = driver.clone();
                let doc = document.clone();
                let c = Closure::<dyn FnMut()>::new(move || {
                    let state = Reflect::get(&doc, &"visibilityState".into()).ok().and_then(|v| v.as_string());
                    if state.as_deref() == Some("visible") {
                        d.wake_pull();
                    }
                });
                add_listener(&document, "visibilitychange", &c);
                listeners.push((document, "visibilitychange", c));
            }
        }
        let release_lock = Rc::new(RefCell::new(None));
        let locks = Reflect::get(&global, &"navigator".into())
            .ok()
            .and_then(|n| Reflect::get(&n, &"locks".into()).ok())
            .filter(|l| !l.is_undefined() && !l.is_null() && !web_locks_hidden());
        let lease = locks.is_none().then(|| Lease::new(&driver));
        let relay = Relay::new(platform.clone());

        let (d, r, l) = (driver.clone(), relay.clone(), lease.clone());
        platform.set_on_message(Rc::new(move |data: &JsValue| {
            let msg = Message::decode(data);
            if let (Some(Message::Leaving { lease: Some(holder) }), Some(l)) = (&msg, &l) {
                l.released(holder.clone());
            }
            // Anything else (a change notice, a push request, a leader
            // leaving) may mean ops to push.
            if !msg.as_ref().is_some_and(|m| r.handle(m, &d)) {
                d.wake();
            }
        }));

        let loop_driver = driver.clone();
        wasm_bindgen_futures::spawn_local(async move { loop_driver.run().await });

        if let Some(lease) = &lease {
            driver.set_push_guard(lease.guard(&driver));
            lease.clone().run(driver);
        } else if let Some(locks) = locks {
            let slot = release_lock.clone();
            let granted = Closure::once_into_js(move |_lock: JsValue| -> Promise {
                // Held until the returned promise settles, i.e. until close().
                Promise::new(&mut |resolve, _| {
                    *slot.borrow_mut() = Some(resolve);
                    lead(driver.clone());
                })
            });
            if let Ok(request) = Reflect::get(&locks, &"request".into()).and_then(|f| f.dyn_into::<Function>()) {
                let _ = request.call2(&locks, &JsValue::from_str(&lock_name), &granted);
            }
        }
        Runner { release_lock, listeners, relay, lease, platform: platform.clone() }
    }

    /// The engine's side of `syncNow` through the leader.
    pub fn relay(&self) -> Rc<Relay> {
        self.relay.clone()
    }

    /// Removes the listeners and releases the lock, so another engine takes over.
    pub fn stop(&mut self) {
        for (target, event, c) in self.listeners.drain(..) {
            if let Ok(remove) =
                Reflect::get(&target, &"removeEventListener".into()).and_then(|f| f.dyn_into::<Function>())
            {
                let _ = remove.call2(&target, &JsValue::from_str(event), c.as_ref());
            }
        }
        let held_lock = self.release_lock.borrow_mut().take();
        let leading = held_lock.is_some() || self.lease.is_some();
        if let Some(resolve) = held_lock {
            let _ = resolve.call0(&JsValue::NULL);
        }
        if leading {
            // Followers waiting on a syncNow ask the next leader; with a
            // lease, they may take it over without waiting for it to expire.
            Message::Leaving { lease: self.lease.as_ref().map(|l| l.holder.clone()) }.post(&self.platform);
        }
    }
}

/// Becomes the pusher: ops left in flight by a previous holder go back to
/// pending first, then the loop is woken.
fn lead(driver: Rc<WebDriver>) {
    wasm_bindgen_futures::spawn_local(async move {
        if driver.engine().is_closed() {
            return;
        }
        let _ = driver.engine().recover_in_flight().await;
        driver.set_leader(true);
    });
}

fn add_listener(target: &JsValue, event: &str, c: &Closure<dyn FnMut()>) {
    if let Ok(add) = Reflect::get(target, &"addEventListener".into()).and_then(|f| f.dyn_into::<Function>()) {
        let _ = add.call2(target, &JsValue::from_str(event), c.as_ref());
    }
}
