//! Waiting for a transaction's IndexedDB requests, a group at a time.
//!
//! A transaction's requests finish in the order they were issued, so once
//! the latest request issued has finished, every one before it has too. A
//! wait therefore puts no handlers on its own request: it arms the latest
//! request of its transaction, and when that one finishes while newer ones
//! are still running, the newest is armed in turn. Requests issued together
//! (the reads of a write, say, each awaited by its own branch of a join)
//! cost one armed request and one wake of the task, not a pair of closures,
//! two handlers and a wake each. Each waiter then reads its own request's
//! `result`, or its `error`.
//!
//! A request that fails aborts its transaction (nothing cancels its `error`
//! event), so every later request fails too and the armed one reports it.
//! The transaction's own end (`complete` or `abort`) is awaited the same way.
//!
//! One callback serves every transaction: an armed request or transaction
//! calls it with the number of its slot in [`SLOTS`], so no closure is made,
//! kept alive or dropped per request.
//!
//! The rule that makes this sound: a request is awaited in the same
//! synchronous run that issued it (every `StoreTx` method issues its
//! requests and awaits them in one poll), so the latest request is still
//! pending whenever it is armed; and an armed request is only ever re-armed
//! from its predecessor's event, when it cannot have finished either.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use wasm_bindgen::prelude::*;
use web_sys::{IdbRequest, IdbTransaction};

#[wasm_bindgen(inline_js = "
let done;
export function setDone(f) { done = f; }
export function armRequest(r, slot) {
  r.onsuccess = () => done(slot, false);
  r.onerror = () => done(slot, true);
}
export function armTransaction(t, slot) {
  t.oncomplete = () => done(slot, false);
  t.onabort = () => done(slot, true);
}
")]
extern "C" {
    #[wasm_bindgen(js_name = setDone)]
    fn set_done(f: &JsValue);
    #[wasm_bindgen(js_name = armRequest)]
    fn arm_request(r: &IdbRequest, slot: u32);
    #[wasm_bindgen(js_name = armTransaction)]
    fn arm_transaction(t: &IdbTransaction, slot: u32);
}

/// What a slot waits for: request number `n` of a transaction, or (with
/// [`END`]) the transaction's end.
type Slot = Option<(Weak<Tracker>, u64)>;

/// The slot number of a transaction's end.
const END: u64 = u64::MAX;

thread_local! {
    /// What each armed request or transaction waits for; freed when it fires.
    static SLOTS: RefCell<(Vec<Slot>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The one callback every armed request and transaction calls.
    static CALLBACK: Closure<dyn FnMut(u32, bool)> = {
        let callback = Closure::<dyn FnMut(u32, bool)>::new(fired);
        set_done(callback.as_ref());
        callback
    };
}

/// A slot for `tracker`'s request `n` (or its end).
fn take_slot(tracker: &Rc<Tracker>, n: u64) -> u32 {
    CALLBACK.with(|_| ());
    SLOTS.with(|slots| {
        let (slots, free) = &mut *slots.borrow_mut();
        let entry = Some((Rc::downgrade(tracker), n));
        match free.pop() {
            Some(i) => {
                slots[i as usize] = entry;
                i
            }
            None => {
                slots.push(entry);
                (slots.len() - 1) as u32
            }
        }
    })
}

/// An armed request or transaction finished (`failed`: its `error` or
/// `abort` event).
fn fired(slot: u32, failed: bool) {
    let entry = SLOTS.with(|slots| {
        let (slots, free) = &mut *slots.borrow_mut();
        let entry = slots.get_mut(slot as usize).and_then(Option::take);
        if entry.is_some() {
            free.push(slot);
        }
        entry
    });
    let Some((tracker, n)) = entry else { return };
    let Some(tracker) = tracker.upgrade() else { return };
    if n == END {
        tracker.ended.set(Some(!failed));
    } else {
        tracker.done.set(tracker.done.get().max(n));
        if failed {
            tracker.failed.set(true);
        } else if tracker.armed.get() > n {
            // A newer armed request reports for this one too.
            return;
        } else if tracker.issued() > n && !tracker.wakers.borrow().is_empty() {
            // Newer requests are running: wait for the newest before waking.
            tracker.arm_latest();
            return;
        }
    }
    let wakers = std::mem::take(&mut *tracker.wakers.borrow_mut());
    for w in wakers {
        w.wake();
    }
}

/// The requests of one transaction: the ones issued and not yet read,
/// which have finished, and the tasks waiting.
#[derive(Default)]
pub struct Tracker {
    /// Request `n` at `n - 1`, until its result is read.
    requests: RefCell<Vec<Option<IdbRequest>>>,
    /// The number of the newest request armed (0: none).
    armed: Cell<u64>,
    /// Every request up to this number has finished.
    done: Cell<u64>,
    /// A request failed: the transaction is aborting.
    failed: Cell<bool>,
    /// The transaction's end, once it came: committed or not.
    ended: Cell<Option<bool>>,
    /// Whether the end is armed.
    end_armed: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Tracker {
    /// Counts a request just issued; its number (from 1).
    pub fn issue(&self, request: IdbRequest) -> u64 {
        let mut requests = self.requests.borrow_mut();
        requests.push(Some(request));
        requests.len() as u64
    }

    /// How many requests were issued so far.
    pub fn issued(&self) -> u64 {
        self.requests.borrow().len() as u64
    }

    fn arm_latest(self: &Rc<Self>) {
        let n = self.issued();
        if let Some(Some(request)) = self.requests.borrow().last() {
            arm_request(request, take_slot(self, n));
        }
        self.armed.set(n);
    }

    fn wait_with(&self, waker: &Waker) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Waits until request `n` and every one before it have finished;
    /// whether any request of the transaction has failed.
    async fn settled(self: &Rc<Self>, n: u64) -> bool {
        poll_fn(|cx| {
            if self.done.get() >= n {
                return Poll::Ready(self.failed.get());
            }
            self.wait_with(cx.waker());
            // With an armed request still running, its event arms the
            // newest one (see `fired`): the requests a join's branches issue
            // one after the other share that second arming.
            if self.armed.get() <= self.done.get() && self.armed.get() < self.issued() {
                self.arm_latest();
            }
            Poll::Pending
        })
        .await
    }

    /// Awaits requests `first..=last` (issued in this run) and reads each
    /// one's result; with a failure, the first failed one's error.
    pub async fn results(self: &Rc<Self>, first: u64, last: u64) -> Result<Vec<JsValue>, JsValue> {
        let requests = self.finished(first, last).await?;
        requests.iter().map(IdbRequest::result).collect()
    }

    /// Awaits requests `first..=last` as [`Self::results`] does, without
    /// reading their results.
    pub async fn completed(self: &Rc<Self>, first: u64, last: u64) -> Result<(), JsValue> {
        self.finished(first, last).await.map(|_| ())
    }

    async fn finished(self: &Rc<Self>, first: u64, last: u64) -> Result<Vec<IdbRequest>, JsValue> {
        if last < first {
            return Ok(Vec::new());
        }
        let failed = self.settled(last).await;
        let requests: Vec<IdbRequest> = {
            let mut all = self.requests.borrow_mut();
            all[(first - 1) as usize..last as usize].iter_mut().filter_map(Option::take).collect()
        };
        if failed {
            for r in &requests {
                if let Some(e) = r.error()? {
                    return Err(e.into());
                }
            }
        }
        Ok(requests)
    }

    /// Waits for the transaction's `complete` (true) or `abort` (false).
    pub async fn ended(self: &Rc<Self>, tx: &IdbTransaction) -> bool {
        poll_fn(|cx| {
            if let Some(committed) = self.ended.get() {
                return Poll::Ready(committed);
            }
            self.wait_with(cx.waker());
            if !self.end_armed.replace(true) {
                arm_transaction(tx, take_slot(self, END));
            }
            Poll::Pending
        })
        .await
    }
}
