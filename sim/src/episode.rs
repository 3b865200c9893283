//! Short network episodes in turmoil, started at the business calendar's instant.
//!
//! turmoil polls every host each tick, so an episode covers minutes, never idle days: the
//! workflow clock ([`crate::agenda`]) jumps between episodes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

use crate::seed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    pub start: Timestamp,
    pub seed: u64,
    pub duration: Duration,
    pub tick: Duration,
}

impl Episode {
    /// An episode of the run `run_seed`, named `label` so its randomness is its own.
    pub fn new(start: Timestamp, run_seed: u64, label: &str, duration: Duration) -> Self {
        Episode {
            start,
            seed: seed::derive(run_seed, label),
            duration,
            tick: Duration::from_millis(1),
        }
    }

    /// A turmoil builder whose clock and randomness belong to the run, never the wall clock.
    pub fn builder(&self) -> turmoil::Builder {
        let mut b = turmoil::Builder::new();
        b.epoch(self.system_time())
            .rng_seed(self.seed)
            .simulation_duration(self.duration)
            .tick_duration(self.tick);
        b
    }

    /// The calendar instant `elapsed` into the episode. Callers keep `start + duration`
    /// within the clock's range (the suite's `interpreter::schedule` refuses a mail step whose
    /// episode would end after the scenario's `until`), and turmoil's elapsed time never
    /// exceeds the episode's duration, so neither conversion can fail.
    pub fn instant(&self, elapsed: Duration) -> Timestamp {
        let span = jiff::SignedDuration::try_from(elapsed).expect("episode shorter than 292 years");
        self.start
            .checked_add(span)
            .expect("an episode ends within the clock's range")
    }

    fn system_time(&self) -> SystemTime {
        let d = self.start.as_duration();
        if d.is_negative() {
            UNIX_EPOCH - d.unsigned_abs()
        } else {
            UNIX_EPOCH + d.unsigned_abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use turmoil::net::{TcpListener, TcpStream};

    /// Runs an echo exchange with random link latency; returns when each reply arrived.
    fn echo_run(ep: &Episode) -> (Vec<Duration>, Duration) {
        let mut b = ep.builder();
        b.min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(40));
        let mut sim = b.build();
        sim.host("server", || async {
            let l = TcpListener::bind("0.0.0.0:25").await?;
            loop {
                let (mut s, _) = l.accept().await?;
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let arrivals = Rc::new(RefCell::new(Vec::new()));
        let seen = arrivals.clone();
        let since_epoch = Rc::new(RefCell::new(Duration::ZERO));
        let epoch_seen = since_epoch.clone();
        sim.client("client", async move {
            *epoch_seen.borrow_mut() = turmoil::since_epoch().unwrap();
            let mut s = TcpStream::connect("server:25").await?;
            let mut buf = [0u8; 4];
            for _ in 0..5 {
                s.write_all(b"ping").await?;
                s.read_exact(&mut buf).await?;
                seen.borrow_mut().push(turmoil::elapsed());
            }
            Ok(())
        });
        sim.run().unwrap();
        let a = arrivals.borrow().clone();
        let e = *since_epoch.borrow();
        (a, e)
    }

    #[test]
    fn same_seed_same_timings_and_clock_starts_at_the_calendar_instant() {
        let start: Timestamp = "2025-03-18T05:00:00Z".parse().unwrap();
        let ep = Episode::new(start, 7, "echo", Duration::from_secs(60));
        let (a1, epoch1) = echo_run(&ep);
        let (a2, _) = echo_run(&ep);
        assert_eq!(a1.len(), 5);
        assert_eq!(a1, a2, "same seed, same latencies");
        assert_eq!(epoch1.as_secs() as i64, start.as_second());
        let other = Episode::new(start, 8, "echo", Duration::from_secs(60));
        assert_ne!(echo_run(&other).0, a1, "another seed draws other latencies");
        assert_eq!(
            ep.instant(Duration::from_secs(90)),
            "2025-03-18T05:01:30Z".parse().unwrap()
        );
    }
}
