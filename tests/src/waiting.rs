//! A key source that has to wait once before it answers (like a fetch), counting how often it is
//! asked and how often its futures are polled: for checking that a verification polls a key
//! source only from the future that will be driven to completion.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tollgate_core::{KeyFuture, KeyRequest, KeyResult, KeySource};

/// Answers from [`key_set`](crate::key_set) after one `Pending` (waking itself at once).
#[derive(Debug, Default)]
pub struct WaitingKeys {
    asked: AtomicUsize,
    polls: Arc<AtomicUsize>,
}

impl WaitingKeys {
    /// How often [`KeySource::key`] was called.
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }

    /// How often any of its futures was polled.
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
}

/// Pending on its first poll, then the lookup.
struct WaitOnce<'a> {
    waited: bool,
    polls: Arc<AtomicUsize>,
    request: KeyRequest<'a>,
}

impl Future for WaitOnce<'_> {
    type Output = KeyResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyResult> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if !self.waited {
            self.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(
            crate::key_set()
                .find(self.request.kid, self.request.alg)
                .cloned(),
        )
    }
}

impl KeySource for WaitingKeys {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        KeyFuture::new(WaitOnce {
            waited: false,
            polls: self.polls.clone(),
            request,
        })
    }
}
