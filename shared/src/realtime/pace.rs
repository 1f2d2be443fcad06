//! Posts paced under the account's request quota, learnt from its 429s.
//!
//! Unthrottled, posts go as fast as the lanes allow. A 429 means the
//! quota is spent: the posts that succeeded over the last second are the
//! rate it allows, so posting is paced at that rate (`governor`), and then
//! raised by 5% each second to find room freed by others. Without this, a
//! fan-out's hundreds of lanes retry into the quota and make several
//! refused calls per delivered post, each costing the function CPU.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The window over which successes are counted.
const WINDOW: Duration = Duration::from_secs(1);
/// At most one cut this often: the posts in flight when the quota ran out
/// are refused together.
const CUT_EVERY: Duration = Duration::from_millis(250);
/// The pace rises this much each second without a 429.
const RAISE: f64 = 1.05;
/// A pace this old without a 429 is dropped (the account's other traffic
/// may be gone).
const FORGET_AFTER: Duration = Duration::from_secs(60);
/// The slowest pace.
const MIN_RATE: f64 = 1.0;

#[derive(Default)]
pub struct Pace {
    state: Mutex<State>,
    /// One post waits on the limiter at a time, the others in line behind
    /// it (first come, first served): hundreds of lanes polling the limiter
    /// at once cost more CPU than the posts.
    line: tokio::sync::Mutex<()>,
    clock: governor::clock::DefaultClock,
}

#[derive(Default)]
struct State {
    /// Posts a second, and its limiter; `None`: unpaced.
    paced: Option<(f64, Arc<DefaultDirectRateLimiter>)>,
    /// When posts succeeded, over the last [`WINDOW`].
    recent: VecDeque<Instant>,
    last_cut: Option<Instant>,
    last_raise: Option<Instant>,
}

impl State {
    /// Drops successes older than the window before `now`.
    fn forget_before(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) > WINDOW)
        {
            self.recent.pop_front();
        }
    }
}

fn limiter(rate: f64) -> Arc<DefaultDirectRateLimiter> {
    // The rate in whole posts a second (at least one); a tenth of a second's
    // worth may go at once.
    let per_second = std::num::NonZeroU32::new(rate.round().max(MIN_RATE) as u32)
        .unwrap_or(std::num::NonZeroU32::MIN);
    let burst = std::num::NonZeroU32::new((rate / 10.0).round() as u32)
        .unwrap_or(std::num::NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

impl Pace {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next post's turn (at once while unpaced).
    pub async fn turn(&self) {
        let limiter = {
            let mut state = self.state();
            if state.last_cut.is_some_and(|at| at.elapsed() > FORGET_AFTER) {
                state.paced = None;
                state.last_cut = None;
            }
            state.paced.as_ref().map(|(_, limiter)| limiter.clone())
        };
        if let Some(limiter) = limiter {
            let _first = self.line.lock().await;
            // governor's own `until_ready` sleeps on a timer thread of its
            // own (futures-timer): a wake-up across threads per post.
            while let Err(not_until) = limiter.check() {
                tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
            }
        }
    }

    /// The pace in posts a second, `None` while unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.state().paced.as_ref().map(|(rate, _)| *rate)
    }

    /// A post succeeded at `now`.
    pub fn sent(&self, now: Instant) {
        let mut state = self.state();
        state.recent.push_back(now);
        state.forget_before(now);
        let due = state
            .last_raise
            .is_some_and(|at| now.saturating_duration_since(at) >= WINDOW);
        if let (true, Some((rate, _))) = (due, state.paced.as_ref()) {
            let raised = rate * RAISE;
            state.paced = Some((raised, limiter(raised)));
            state.last_raise = Some(now);
        }
    }

    /// A post was refused with 429 at `now`: pace at what succeeded over
    /// the last second (or half the pace, if nothing did).
    pub fn throttled(&self, now: Instant) {
        let mut state = self.state();
        if state
            .last_cut
            .is_some_and(|at| now.saturating_duration_since(at) < CUT_EVERY)
        {
            return;
        }
        state.forget_before(now);
        let span = state
            .recent
            .front()
            .map(|&first| now.saturating_duration_since(first).as_secs_f64())
            .unwrap_or_default();
        let current = state.paced.as_ref().map(|(rate, _)| *rate);
        let measured = if span >= CUT_EVERY.as_secs_f64() {
            Some(state.recent.len() as f64 / span)
        } else {
            None
        };
        let rate = match (measured, current) {
            (Some(measured), Some(current)) => measured.min(current),
            (Some(measured), None) => measured,
            (None, Some(current)) => current / 2.0,
            // Too early to tell: the retries' backoff spreads them.
            (None, None) => return,
        }
        .max(MIN_RATE);
        tracing::debug!(rate, ?measured, "posts paced after a 429");
        state.paced = Some((rate, limiter(rate)));
        state.last_cut = Some(now);
        state.last_raise = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_paces_at_what_succeeded_over_the_last_second() {
        let pace = Pace::default();
        let start = Instant::now();
        // 2,000 a second for a second, then a 429.
        for n in 0..2_000u64 {
            pace.sent(start + Duration::from_micros(n * 500));
        }
        assert_eq!(pace.rate(), None, "unpaced until throttled");
        let at = start + Duration::from_secs(1);
        pace.throttled(at);
        let rate = pace.rate().unwrap_or_default();
        assert!((rate - 2_000.0).abs() < 5.0, "{rate}");
        // More refusals at once cut only once.
        pace.throttled(at + Duration::from_millis(10));
        assert_eq!(pace.rate(), Some(rate));
        // A second later with no 429, the pace rises by 5%.
        pace.sent(at + Duration::from_secs(1));
        let raised = pace.rate().unwrap_or_default();
        assert!((raised - rate * RAISE).abs() < 1e-6, "{raised}");
        // A 429 with nothing sent for a second halves it.
        pace.throttled(at + Duration::from_secs(3));
        assert!((pace.rate().unwrap_or_default() - raised / 2.0).abs() < 1e-6);
    }

    #[test]
    fn a_throttle_too_early_to_measure_leaves_posts_unpaced() {
        let pace = Pace::default();
        let start = Instant::now();
        pace.sent(start);
        pace.throttled(start + Duration::from_millis(50));
        assert_eq!(pace.rate(), None);
    }
}
