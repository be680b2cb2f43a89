//! The few future combinators the engine and the stores need (pure polling,
//! no I/O, hence here in the core), written out so the wasm
//! module carries no `futures-util`: `join` and `join_all` poll their futures
//! together (so every IndexedDB request of one step is issued before any is
//! awaited), [`try_join!`] is `join` followed by `?` on each result, and
//! `select` waits for the first of two futures. Each is a few lines of
//! polling; the crate's general versions cost far more bytes than they save
//! here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is running, or its output waiting to be taken.
enum Slot<F: Future> {
    Running(F),
    Done(F::Output),
    Taken,
}

impl<F: Future> Slot<F> {
    /// Polls a running future; `true` once the output is in.
    fn poll_in(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: the future inside is never moved: it is polled in place and
        // dropped in place when its output replaces it.
        let this = unsafe { self.get_unchecked_mut() };
        match this {
            Slot::Running(f) => match unsafe { Pin::new_unchecked(f) }.poll(cx) {
                Poll::Ready(out) => {
                    *this = Slot::Done(out);
                    true
                }
                Poll::Pending => false,
            },
            _ => true,
        }
    }

    /// The output of a finished slot. Called only once every slot of the
    /// join reported done, and then once (the join is finished), so the
    /// slot always holds its output here.
    fn take(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: only a finished slot (no future left in it) is replaced,
        // so no pinned future is ever moved.
        let this = unsafe { self.get_unchecked_mut() };
        match std::mem::replace(this, Slot::Taken) {
            Slot::Done(out) => out,
            _ => polled_after_done(),
        }
    }
}

/// A join polled again after it returned its outputs: a broken `Future`
/// contract in the caller, which no path of the engine takes. One shared
/// cold function, so each join carries no code for it.
#[cold]
#[inline(never)]
fn polled_after_done() -> ! {
    panic!("a join was polled after it finished")
}

/// Both outputs, once both futures are done.
pub struct Join<A: Future, B: Future> {
    a: Slot<A>,
    b: Slot<B>,
}

/// Runs `a` and `b` together.
pub fn join<A: Future, B: Future>(a: A, b: B) -> Join<A, B> {
    Join { a: Slot::Running(a), b: Slot::Running(b) }
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of both slots; neither is moved.
        let this = unsafe { self.get_unchecked_mut() };
        let (mut a, mut b) = unsafe { (Pin::new_unchecked(&mut this.a), Pin::new_unchecked(&mut this.b)) };
        let a_done = a.as_mut().poll_in(cx);
        let b_done = b.as_mut().poll_in(cx);
        if a_done && b_done {
            Poll::Ready((a.take(), b.take()))
        } else {
            Poll::Pending
        }
    }
}

/// Runs every future of `list` together; the outputs in list order.
pub async fn join_all<F: Future>(list: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut slots: Vec<Pin<Box<Slot<F>>>> = list.into_iter().map(|f| Box::pin(Slot::Running(f))).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for s in slots.iter_mut() {
            done &= s.as_mut().poll_in(cx);
        }
        if done {
            Poll::Ready(slots.iter_mut().map(|s| s.as_mut().take()).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// [`join_all`] of fallible futures: all outputs, or the first error in list
/// order (every future still runs to its end, as a transaction's requests do).
pub async fn try_join_all<T, E, F: Future<Output = Result<T, E>>>(
    list: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, E> {
    join_all(list).await.into_iter().collect()
}

/// The identity on an engine result: pins [`try_join!`]'s error type.
pub fn checked<T>(r: Result<T, crate::core::SyncError>) -> Result<T, crate::core::SyncError> {
    r
}

/// Which of two futures finished first.
pub enum First<A, B> {
    Left(A),
    Right(B),
}

/// Waits for the first of `a` and `b` to finish (`a` wins a tie) and drops
/// the other.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> First<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(First::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(First::Right(out));
        }
        Poll::Pending
    })
    .await
}

/// `join` of two to eight fallible futures, then `?` on each: `Ok` of all
/// outputs as a tuple, or the first error in argument order.
#[macro_export]
#[doc(hidden)]
macro_rules! try_join {
    ($a:expr, $b:expr $(,)?) => {
        async {
            let (a, b) = $crate::core::join::join($a, $b).await;
            Ok::<_, $crate::core::SyncError>(($crate::core::join::checked(a)?, $crate::core::join::checked(b)?))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr $(,)?) => {
        async {
            let (a, (b, c)) = $crate::core::join::join($a, $crate::core::join::join($b, $c)).await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
            ))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr $(,)?) => {
        async {
            let ((a, b), (c, d)) =
                $crate::core::join::join($crate::core::join::join($a, $b), $crate::core::join::join($c, $d)).await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
                $crate::core::join::checked(d)?,
            ))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr $(,)?) => {
        async {
            let ((a, b), (c, (d, e))) = $crate::core::join::join(
                $crate::core::join::join($a, $b),
                $crate::core::join::join($c, $crate::core::join::join($d, $e)),
            )
            .await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
                $crate::core::join::checked(d)?,
                $crate::core::join::checked(e)?,
            ))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr $(,)?) => {
        async {
            let ((a, (b, c)), (d, (e, f))) = $crate::core::join::join(
                $crate::core::join::join($a, $crate::core::join::join($b, $c)),
                $crate::core::join::join($d, $crate::core::join::join($e, $f)),
            )
            .await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
                $crate::core::join::checked(d)?,
                $crate::core::join::checked(e)?,
                $crate::core::join::checked(f)?,
            ))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr $(,)?) => {
        async {
            let ((a, (b, c)), ((d, e), (f, g))) = $crate::core::join::join(
                $crate::core::join::join($a, $crate::core::join::join($b, $c)),
                $crate::core::join::join($crate::core::join::join($d, $e), $crate::core::join::join($f, $g)),
            )
            .await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
                $crate::core::join::checked(d)?,
                $crate::core::join::checked(e)?,
                $crate::core::join::checked(f)?,
                $crate::core::join::checked(g)?,
            ))
        }
        .await
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr, $h:expr $(,)?) => {
        async {
            let (((a, b), (c, d)), ((e, f), (g, h))) = $crate::core::join::join(
                $crate::core::join::join($crate::core::join::join($a, $b), $crate::core::join::join($c, $d)),
                $crate::core::join::join($crate::core::join::join($e, $f), $crate::core::join::join($g, $h)),
            )
            .await;
            Ok::<_, $crate::core::SyncError>((
                $crate::core::join::checked(a)?,
                $crate::core::join::checked(b)?,
                $crate::core::join::checked(c)?,
                $crate::core::join::checked(d)?,
                $crate::core::join::checked(e)?,
                $crate::core::join::checked(f)?,
                $crate::core::join::checked(g)?,
                $crate::core::join::checked(h)?,
            ))
        }
        .await
    };
}

/// One holder at a time: the scheduler's "one run at a time" lock.
#[derive(Default)]
pub struct Exclusive {
    held: std::cell::Cell<bool>,
    waiting: std::cell::RefCell<Vec<std::task::Waker>>,
}

/// Holding an [`Exclusive`]; dropping it lets the next waiter in.
pub struct Held<'a>(&'a Exclusive);

impl Exclusive {
    /// Waits until nobody holds it, then holds it.
    pub async fn hold(&self) -> Held<'_> {
        std::future::poll_fn(|cx| {
            if self.held.replace(true) {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        Held(self)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        for w in self.0.waiting.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::SyncError;
    use futures::executor::block_on;

    #[test]
    fn join_and_try_join_give_outputs_in_order() {
        assert_eq!(block_on(join(async { 1 }, async { "b" })), (1, "b"));
        assert_eq!(block_on(join_all((0..5).map(|i| async move { i * 2 }))), vec![0, 2, 4, 6, 8]);
        let ok = block_on(async { try_join!(async { Ok(1) }, async { Ok(2) }, async { Ok(3) }) });
        assert_eq!(ok, Ok((1, 2, 3)));
        let second = || SyncError::Storage("second".into());
        let err: Result<(u8, u8), SyncError> = block_on(async { try_join!(async { Ok(1) }, async { Err(second()) }) });
        assert_eq!(err, Err(second()));
        let all: Result<Vec<u8>, &str> = block_on(try_join_all([1u8, 0].map(|i| async move {
            if i > 0 {
                Ok(i)
            } else {
                Err("x")
            }
        })));
        assert_eq!(all, Err("x"));
    }

    #[test]
    fn select_takes_the_first_ready() {
        let out = block_on(select(std::future::pending::<u8>(), async { 7 }));
        assert!(matches!(out, First::Right(7)));
    }

    #[test]
    fn exclusive_lets_one_in_at_a_time() {
        let lock = Exclusive::default();
        let first = block_on(lock.hold());
        let mut second = std::pin::pin!(lock.hold());
        let waker = futures::task::noop_waker();
        assert!(second.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        drop(first);
        assert!(second.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
    }
}
