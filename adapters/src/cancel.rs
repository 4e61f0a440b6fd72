//! A request to stop, shared by whoever may ask (a signal handler, the service) and whoever
//! must stop (the run between steps, each running test at once).

use std::sync::Arc;

/// Clones share one flag; once set it stays set.
#[derive(Debug, Clone)]
pub struct Cancel(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Cancel {
    /// A flag no one has set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone to stop.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Whether stopping was asked.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when stopping is asked (at once if it was).
    pub async fn cancelled(&self) {
        let mut receiver = self.0.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_ends_when_any_clone_cancels() {
        let cancel = Cancel::new();
        assert!(!cancel.is_cancelled());
        let waiter = cancel.clone();
        let waiting = tokio::spawn(async move { waiter.cancelled().await });
        tokio::task::yield_now().await;
        cancel.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("joined");
        assert!(cancel.is_cancelled());
        // Already cancelled: at once.
        cancel.cancelled().await;
    }
}
