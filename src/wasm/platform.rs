//! The browser [`Platform`]: `Date.now`, `crypto.getRandomValues`, timers, the
//! app's event handlers, and a BroadcastChannel `tidesync:<dbName>` between
//! engines on the same database (other tabs, or other engines in one page).
//!
//! The channel carries two kinds of message. Change notices are JSON strings,
//! batched (see [`super::notices`]); they become `change` events with
//! `source: 'tab'`. Control messages are objects (see [`super::relay`]): a
//! request to push now, and `syncNow` asked of and answered by the leader.
//! Every message, of either kind, is also handed to the hook set with
//! [`WebPlatform::set_on_message`]: that is how a follower's write wakes the
//! leader's push loop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::notices::{self, Outgoing};
use crate::engine::events::{ChangeEvent, ErrorEvent, Event};
use crate::engine::Platform;

type Handlers = RefCell<HashMap<String, Vec<(u32, Function)>>>;
type MessageListener = RefCell<Option<Closure<dyn FnMut(web_sys::MessageEvent)>>>;
/// What runs on every message from another engine, with its data.
pub type MessageHook = Rc<dyn Fn(&JsValue)>;

struct Inner {
    handlers: Handlers,
    /// Called on every message from another engine on the same database.
    on_message: RefCell<Option<MessageHook>>,
    next_id: Cell<u32>,
    channel: Option<web_sys::BroadcastChannel>,
    /// Change notices batched for `channel`.
    outgoing: Option<Rc<Outgoing>>,
    listener: MessageListener,
}

/// The platform of one `SyncEngine`.
#[derive(Clone)]
pub struct WebPlatform {
    inner: Rc<Inner>,
}

impl WebPlatform {
    /// A platform whose change notices travel on `tidesync:<db_name>`.
    pub fn new(db_name: &str) -> Self {
        let channel = web_sys::BroadcastChannel::new(&format!("tidesync:{db_name}")).ok();
        let inner = Rc::new(Inner {
            handlers: RefCell::new(HashMap::new()),
            on_message: RefCell::new(None),
            next_id: Cell::new(1),
            outgoing: channel.clone().map(Outgoing::new),
            channel,
            listener: RefCell::new(None),
        });
        if let Some(ch) = &inner.channel {
            let weak = Rc::downgrade(&inner);
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |msg: web_sys::MessageEvent| {
                if let Some(inner) = weak.upgrade() {
                    let data = msg.data();
                    let platform = WebPlatform { inner };
                    for ev in notices::decode(&data) {
                        platform.emit(Event::Change(ev));
                    }
                    // Cloned out: the hook may post, or replace itself.
                    let hook = platform.inner.on_message.borrow().clone();
                    if let Some(hook) = hook {
                        hook(&data);
                    }
                }
            });
            ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            *inner.listener.borrow_mut() = Some(on_message);
        }
        WebPlatform { inner }
    }

    /// Registers a handler; returns its id for [`WebPlatform::off`].
    pub fn on(&self, event: &str, handler: Function) -> u32 {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        self.inner.handlers.borrow_mut().entry(event.to_string()).or_default().push((id, handler));
        id
    }

    pub fn off(&self, event: &str, id: u32) {
        if let Some(list) = self.inner.handlers.borrow_mut().get_mut(event) {
            list.retain(|(i, _)| *i != id);
        }
    }

    /// Runs `hook` on every message from another engine (a change notice,
    /// a request to push now, a `syncNow` request or answer).
    pub fn set_on_message(&self, hook: MessageHook) {
        *self.inner.on_message.borrow_mut() = Some(hook);
    }

    /// Posts a control message to the other engines on this database at
    /// once (change notices go through [`WebPlatform::broadcast`] instead).
    pub fn post(&self, msg: &JsValue) {
        if let Some(ch) = &self.inner.channel {
            let _ = ch.post_message(msg);
        }
    }

    /// Stops listening to other engines.
    pub fn shutdown(&self) {
        if let Some(out) = &self.inner.outgoing {
            out.flush();
        }
        if let Some(ch) = &self.inner.channel {
            ch.set_onmessage(None);
            ch.close();
        }
        // Handlers stay: work that was already committing when the engine
        // closed (a pull page, say) still reports what it committed.
        self.inner.on_message.borrow_mut().take();
    }

    fn deliver(&self, name: &str, payload: &JsValue) {
        // Clone the list out: a handler may subscribe or unsubscribe.
        let handlers: Vec<Function> = match self.inner.handlers.borrow().get(name) {
            Some(list) => list.iter().map(|(_, f)| f.clone()).collect(),
            None => return,
        };
        for f in handlers {
            if let Err(thrown) = f.call1(&JsValue::NULL, payload) {
                web_sys::console::error_2(&JsValue::from_str(&format!("tidesync: a '{name}' handler threw")), &thrown);
                if name != "sync.error:action" {
                    let message = thrown
                        .dyn_ref::<js_sys::Error>()
                        .map(|e| String::from(e.message()))
                        .unwrap_or_else(|| format!("{thrown:?}"));
                    self.emit(Event::Error(ErrorEvent {
                        code: "HANDLER".into(),
                        message: format!("a '{name}' handler threw: {message}"),
                        retryable: false,
                        op_ids: None,
                    }));
                }
            }
        }
    }
}

impl Platform for WebPlatform {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn fill_random(&self, buf: &mut [u8]) {
        let crypto =
            Reflect::get(&js_sys::global(), &"crypto".into()).ok().and_then(|c| c.dyn_into::<web_sys::Crypto>().ok());
        // getRandomValues fills at most 65,536 bytes per call.
        for chunk in buf.chunks_mut(65_536) {
            match crypto.as_ref().map(|c| c.get_random_values_with_u8_array(chunk)) {
                Some(Ok(_)) => {}
                // No Web Crypto: fall back to Math.random (op ids stay unique in practice).
                _ => chunk.iter_mut().for_each(|b| *b = (js_sys::Math::random() * 256.0) as u8),
            }
        }
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        gloo_timers::future::TimeoutFuture::new(ms.min(u32::MAX as u64) as u32)
    }

    fn emit(&self, event: Event) {
        // Build the JS payload only for events someone listens to.
        if self.inner.handlers.borrow().get(event.name()).is_none_or(|l| l.is_empty()) {
            return;
        }
        if let Ok(payload) = crate::store::js_json::to_js(&event) {
            self.deliver(event.name(), &payload);
        }
    }

    fn is_online(&self) -> bool {
        let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok();
        navigator.and_then(|n| Reflect::get(&n, &"onLine".into()).ok()).and_then(|v| v.as_bool()).unwrap_or(true)
    }

    fn broadcast(&self, change: &ChangeEvent) {
        if let Some(out) = &self.inner.outgoing {
            out.add(change);
        }
    }
}
