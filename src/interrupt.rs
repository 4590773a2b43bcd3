//! Interruption: SIGINT (Ctrl-C), SIGTERM and SIGHUP during a change.
//!
//! A change that has begun is not abandoned halfway. A signal raises an
//! [`Interrupt`]; work in flight checks it between steps (and rolls back
//! instead of committing), and a statement that waits is woken through
//! [`Interrupt::raised`] so that it can be cancelled. What committed is
//! still recorded and its password delivered before the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// How often a wait looks at the flag.
const POLL: Duration = Duration::from_millis(20);

/// Raised once, by a signal (or a test); never lowered.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    raised: Arc<AtomicBool>,
}

impl Interrupt {
    /// Raises it as a signal would (for tests).
    #[cfg(test)]
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the interrupt is raised.
    pub async fn raised(&self) {
        while !self.is_raised() {
            tokio::time::sleep(POLL).await;
        }
    }

    /// From now on, SIGINT, SIGTERM and SIGHUP raise this interrupt instead
    /// of ending the process.
    pub fn catch_signals(&self) -> std::io::Result<()> {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&self.raised))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_wakes_the_waiters() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let interrupt = Interrupt::default();
        assert!(!interrupt.is_raised());
        let raiser = interrupt.clone();
        runtime.block_on(async {
            let waiter = tokio::spawn({
                let interrupt = interrupt.clone();
                async move { interrupt.raised().await }
            });
            tokio::task::yield_now().await;
            raiser.raise();
            waiter.await.unwrap();
        });
        assert!(interrupt.is_raised());
        // Raised before anyone waits: the wait ends at once.
        runtime.block_on(interrupt.raised());
    }
}
