//! shmq topics as a transport: two topics, `ping` (published by the
//! parent, one subscriber in the peer) and `pong` (published by the peer,
//! one subscriber in the parent), used the way the library's
//! documentation suggests.
//!
//! Publishing is [`shmq::Publisher::send`] from the caller's buffer (one
//! copy into the ring). Receiving is [`shmq::Subscriber::recv_with`],
//! copying the message into the caller's reused buffer, so neither side
//! allocates per message: in a lossless topic the closure reads the
//! record in place in the ring, as a queue's receiver does; in a lossy
//! one the library first copies the record out with atomic loads and
//! checks the mark (subscribers of a lossy topic can be overrun), and the
//! closure copies that copy. A lossy subscriber that reports
//! [`Lagged`](shmq::TopicRecvError::Lagged) fails the block: a round trip
//! has one message in flight, so it never should. Both ends of both
//! topics use the transport's wait strategy.
//!
//! Ring shape: the plain queue's for round trips (`queue`: 128-byte
//! slots, so a 64-byte message and its 16-byte record header take one
//! slot; enough slots for two messages in one piece, at least 64), and
//! the library's default number of subscriber entries
//! ([`shmq::DEFAULT_SUBSCRIBERS`], left as it is), one of them attached. So
//! `shmq-topic-spin`'s ratio to `shmq-spin`, with which it is paired block
//! for block, is the topic's own cost over the plain queue's: the join
//! point published with each commit, the subscriber's tail and message
//! number in its table line, the broadcast wake-up word, and for the lossy
//! topic the atomic copy and the mark.
//!
//! **Order of attachment.** A subscriber sees the messages published
//! after it joined, so each subscriber joins before its publisher's first
//! message: the parent creates both topics, attaches `ping`'s publisher
//! and `pong`'s subscriber, and starts the peer, which attaches `ping`'s
//! subscriber and `pong`'s publisher before it says it is ready; the
//! parent sends nothing before that.
//!
//! The names are removed once the peer has opened both topics (both
//! processes hold them), or by the guard on an early return. A subscriber
//! whose publisher's process dies gets `Disconnected` once it has read
//! everything; a lossless publisher waiting for a dead subscriber releases
//! it (the library's liveness look), so neither side waits for ever.

use shmq::{Publisher, Subscriber, Topic, TopicBuilder, WaitStrategy};

use super::error::{Context, Result};
use super::queue::{self, copy_out, wrong_length};
use super::transport::{Endpoint, SleepCounters};

/// The two topics of one measurement.
#[derive(Debug)]
pub struct Topics {
    ping: Topic,
    pong: Topic,
    /// Names still in `/dev/shm` that we created and must remove.
    names: Vec<String>,
}

impl Topics {
    /// Creates `<base>-ping` and `<base>-pong` (the parent) for
    /// `size`-byte round trips, lossy or lossless, waiting with `wait`.
    pub fn create(base: &str, size: usize, wait: WaitStrategy, lossy: bool) -> Result<Self> {
        let mut names = Vec::new();
        let mut create = |suffix: &str| -> Result<Topic> {
            let name = format!("{base}-{suffix}");
            let topic = TopicBuilder::new(&name)
                .slot_size(queue::SLOT_SIZE)
                .slots(queue::latency_slots(size))
                .max_message_size(size.max(64) as u64)
                .lossy(lossy)
                .wait_strategy(wait)
                .create()
                .with_context(|| format!("shmq: create topic {name}"))?;
            names.push(name);
            Ok(topic)
        };
        // On an early return, `Topics` is not built yet: remove by hand.
        let topics = create("ping").and_then(|ping| Ok((ping, create("pong")?)));
        match topics {
            Ok((ping, pong)) => Ok(Topics { ping, pong, names }),
            Err(e) => {
                for name in &names {
                    let _ = Topic::remove(name);
                }
                Err(e)
            }
        }
    }

    /// Opens the parent's topics (the peer), waiting with `wait`.
    pub fn open(base: &str, wait: WaitStrategy) -> Result<Self> {
        let open = |suffix: &str| {
            let name = format!("{base}-{suffix}");
            TopicBuilder::new(&name)
                .wait_strategy(wait)
                .open()
                .with_context(|| format!("shmq: open topic {name}"))
        };
        Ok(Topics {
            ping: open("ping")?,
            pong: open("pong")?,
            names: Vec::new(),
        })
    }

    /// Removes the topics' names; both processes keep their mappings.
    pub fn unlink(&mut self) {
        for name in self.names.drain(..) {
            let _ = Topic::remove(&name);
        }
    }

    /// The parent's end: publishes on `ping`, subscribes to `pong` (before
    /// the peer can publish there).
    pub fn parent_end(&self) -> Result<End> {
        Ok(End {
            rx: subscribe(&self.pong)?,
            tx: publish(&self.ping)?,
        })
    }

    /// The peer's end: subscribes to `ping` (before the parent, which
    /// waits for the peer's `ready`, publishes there), publishes on `pong`.
    pub fn child_end(&self) -> Result<End> {
        Ok(End {
            rx: subscribe(&self.ping)?,
            tx: publish(&self.pong)?,
        })
    }
}

impl SleepCounters for Topics {
    /// Futex sleeps of the subscribers per message they received, both
    /// topics together.
    fn sleeps_per_message(&self) -> Option<f64> {
        let (ping, pong) = (self.ping.stats(), self.pong.stats());
        let messages: u64 = ping
            .subscribers
            .iter()
            .chain(&pong.subscribers)
            .map(|s| s.received)
            .sum();
        let sleeps = ping.subscriber_sleeps + pong.subscriber_sleeps;
        (messages > 0).then(|| sleeps as f64 / messages as f64)
    }
}

impl Drop for Topics {
    fn drop(&mut self) {
        self.unlink();
    }
}

fn publish(topic: &Topic) -> Result<Publisher> {
    topic.publisher().context("shmq: attach the publisher")
}

fn subscribe(topic: &Topic) -> Result<Subscriber> {
    topic.subscriber().context("shmq: attach the subscriber")
}

/// One side's publisher and subscriber.
#[derive(Debug)]
pub struct End {
    tx: Publisher,
    rx: Subscriber,
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.send(msg).context("shmq: publish")
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let len = self
            .rx
            .recv_with(|bytes| copy_out(bytes, buf))
            .context("shmq: receive from the topic")?;
        if len == buf.len() {
            Ok(())
        } else {
            Err(wrong_length(len, buf.len()))
        }
    }
}

#[cfg(test)]
impl End {
    /// Messages the subscriber missed (a lossy topic's).
    fn lagged(&self) -> u64 {
        self.rx.lagged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::unique_name;

    fn echo_three(lossy: bool, wait: WaitStrategy) {
        let name = unique_name();
        let mut created = Topics::create(&name, 64, wait, lossy).expect("create");
        let mut parent = created.parent_end().expect("parent end");
        let opened = Topics::open(&name, wait).expect("open");
        let mut child = opened.child_end().expect("child end");
        created.unlink();
        assert!(
            Topic::open(&format!("{name}-ping")).is_err(),
            "the names are removed"
        );
        let echo = std::thread::spawn(move || -> Result<u64> {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                child.recv(&mut buf)?;
                child.send(&buf)?;
            }
            // A message of another length is refused.
            let mut short = [0u8; 8];
            assert!(child.recv(&mut short).is_err());
            Ok(child.lagged())
        });
        for i in 0..3u8 {
            let msg = [i; 64];
            let mut reply = [0u8; 64];
            parent.round_trip(&msg, &mut reply).expect("round trip");
            assert_eq!(reply, msg);
        }
        parent.send(&[9; 64]).expect("send the last");
        assert_eq!(echo.join().expect("echo thread").expect("echo"), 0);
        assert_eq!(parent.lagged(), 0);
        // Seven messages received in all (3 + 3 + the last), no sleep with
        // the spinning strategy.
        let sleeps = created.sleeps_per_message().expect("counters");
        if wait == WaitStrategy::Spin {
            assert_eq!(sleeps, 0.0);
        }
    }

    #[test]
    fn a_lossless_topic_pair_echoes() {
        echo_three(false, WaitStrategy::Spin);
        echo_three(false, WaitStrategy::default());
    }

    #[test]
    fn a_lossy_topic_pair_echoes() {
        echo_three(true, WaitStrategy::Spin);
    }
}
