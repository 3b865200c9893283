//! The discrete-event clock for workflow time: days pass in one step, not in ticks.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;

/// Events ordered by time; events at the same instant leave in the order they were scheduled,
/// so a run never depends on heap internals.
pub struct Agenda<E> {
    heap: BinaryHeap<Reverse<(Timestamp, u64, Slot<E>)>>,
    next_seq: u64,
    now: Timestamp,
}

/// Keeps `E` out of the ordering: only (time, seq) decide.
struct Slot<E>(E);

impl<E> PartialEq for Slot<E> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<E> Eq for Slot<E> {}
impl<E> PartialOrd for Slot<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Slot<E> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<E> Agenda<E> {
    pub fn starting_at(now: Timestamp) -> Self {
        Agenda {
            heap: BinaryHeap::new(),
            next_seq: 0,
            now,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Schedules `event` at `at`; an instant already past is taken as now (a desk cannot act
    /// in the past).
    pub fn schedule(&mut self, at: Timestamp, event: E) {
        let at = at.max(self.now);
        self.heap.push(Reverse((at, self.next_seq, Slot(event))));
        self.next_seq += 1;
    }

    /// The next event not later than `until`, advancing the clock to it.
    pub fn pop_until(&mut self, until: Timestamp) -> Option<(Timestamp, E)> {
        let Reverse((at, _, _)) = self.heap.peek()?;
        if *at > until {
            return None;
        }
        let Reverse((at, _, Slot(e))) = self.heap.pop()?;
        self.now = at;
        Some((at, e))
    }

    pub fn advance_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    pub fn pending(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_instant_keeps_schedule_order_and_past_is_now() {
        let t0: Timestamp = "2025-01-06T04:00:00Z".parse().unwrap();
        let t1: Timestamp = "2025-01-07T04:00:00Z".parse().unwrap();
        let mut a = Agenda::starting_at(t0);
        a.schedule(t1, "b");
        a.schedule(t0, "a1");
        a.schedule(t0, "a2");
        assert_eq!(a.pop_until(t1), Some((t0, "a1")));
        a.schedule("2020-01-01T00:00:00Z".parse().unwrap(), "late");
        assert_eq!(a.pop_until(t1), Some((t0, "a2")));
        assert_eq!(a.pop_until(t1), Some((t0, "late")));
        assert_eq!(a.pop_until(t0), None, "t1 is beyond the horizon");
        assert_eq!(a.pop_until(t1), Some((t1, "b")));
        assert_eq!(a.now(), t1);
    }
}
