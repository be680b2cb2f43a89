//! Runs the push scheduler in the page: one loop per engine, pushing only
//! while the engine leads its database, so exactly one engine (tab) pushes a
//! database's outbox. The leader is the engine holding the Web Lock
//! `tidesync:<dbName>` and renewing its heartbeat ([`super::lock_leader`]:
//! a frozen or hung holder loses the lock after 5 s of silence), or, where
//! `navigator.locks` does not exist, the holder of the lease row of
//! [`super::lease`]. The others (followers) keep capturing; every message
//! from them on the BroadcastChannel (a change notice, a push request) wakes
//! the leader's loop, and their `syncNow` runs through the leader
//! ([`super::relay`]). When the leader closes, another engine takes over.
//! Also wires the `online`, `visibilitychange`, `freeze`, `resume`,
//! `pagehide` and `pageshow` events.

#[cfg(feature = "testing")]
use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::lease::Lease;
use super::lock_leader::LockLeader;
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
    /// The Web Lock side of leadership (`None`: the lease alone decides).
    leader: Option<Rc<LockLeader>>,
    listeners: Vec<Listener>,
    relay: Rc<Relay>,
    lease: Rc<Lease>,
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
        let locks = Reflect::get(&global, &"navigator".into())
            .ok()
            .and_then(|n| Reflect::get(&n, &"locks".into()).ok())
            .filter(|l| !l.is_undefined() && !l.is_null() && !web_locks_hidden());
        let lease = Lease::new(&driver);
        let relay = Relay::new(platform.clone());

        let (d, r, l) = (driver.clone(), relay.clone(), lease.clone());
        platform.set_on_message(Rc::new(move |data: &JsValue| {
            let msg = Message::decode(data);
            if let Some(Message::Leaving { lease: Some(holder) }) = &msg {
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

        let leader = match locks {
            Some(locks) => {
                let leader = LockLeader::start(locks, lock_name, driver.clone(), lease.clone());
                driver.set_push_guard(leader.guard());
                listeners.extend(lifecycle_listeners(&global, &leader));
                Some(leader)
            }
            None => {
                driver.set_push_guard(lease.guard());
                lease.clone().run(driver);
                None
            }
        };
        Runner { leader, listeners, relay, lease, platform: platform.clone() }
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
        let leading = match &self.leader {
            Some(leader) => {
                let holding = leader.holding();
                leader.stand_down(false);
                holding
            }
            None => true,
        };
        if leading {
            // Followers waiting on a syncNow ask the next leader; with the
            // lease alone, they may take it over without waiting for it to
            // expire.
            let lease = self.leader.is_none().then(|| self.lease.holder.clone());
            Message::Leaving { lease }.post(&self.platform);
        }
    }
}

/// A leader whose page is frozen or goes to the back/forward cache lets the
/// lock go at once (see [`LockLeader::park`]); it queues again when the page
/// runs again.
fn lifecycle_listeners(global: &JsValue, leader: &Rc<LockLeader>) -> Vec<Listener> {
    let document = Reflect::get(global, &"document".into()).ok().filter(|d| !d.is_undefined());
    let mut out = Vec::new();
    let mut on = |target: &JsValue, event: &'static str, park: bool| {
        let leader = Rc::downgrade(leader);
        let c = Closure::<dyn FnMut()>::new(move || {
            if let Some(leader) = leader.upgrade() {
                if park {
                    leader.park();
                } else {
                    leader.resume();
                }
            }
        });
        add_listener(target, event, &c);
        out.push((target.clone(), event, c));
    };
    if let Some(document) = &document {
        on(document, "freeze", true);
        on(document, "resume", false);
    }
    on(global, "pagehide", true);
    on(global, "pageshow", false);
    out
}

fn add_listener(target: &JsValue, event: &str, c: &Closure<dyn FnMut()>) {
    if let Ok(add) = Reflect::get(target, &"addEventListener".into()).and_then(|f| f.dyn_into::<Function>()) {
        let _ = add.call2(target, &JsValue::from_str(event), c.as_ref());
    }
}
