//! A one-bit async wake-up: `notify` sets it, `wait` resolves once it is set
//! and clears it. Many notifications before a wait collapse into one, which is
//! how the push loop coalesces a burst of writes into one run; a run that
//! starts clears it, since it covers every trigger so far.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct State {
    set: bool,
    wakers: Vec<Waker>,
}

#[derive(Clone, Default)]
pub struct Signal {
    state: Rc<RefCell<State>>,
}

impl Signal {
    pub fn notify(&self) {
        let wakers = {
            let mut s = self.state.borrow_mut();
            s.set = true;
            std::mem::take(&mut s.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Forgets a pending notification.
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Resolves when notified (at once if a notification is pending).
    pub fn wait(&self) -> impl Future<Output = ()> {
        Wait { state: self.state.clone() }
    }
}

struct Wait {
    state: Rc<RefCell<State>>,
}

impl Future for Wait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.state.borrow_mut();
        if s.set {
            s.set = false;
            Poll::Ready(())
        } else {
            s.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}
