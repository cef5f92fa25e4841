//! Shared by the two-thread benches (`throughput`, `copy_paths`,
//! `reassembly`): a persistent receiver thread fed through a shmq queue, and
//! an honest timing scheme for criterion's `Bencher::iter_custom`.
//!
//! A [`Stream`] owns the sending end of an in-process data queue and a
//! worker thread holding its receiving end; the worker lives as long as the
//! bench function, never one thread per iteration. One timed run of `iters`
//! messages ([`Stream::run`]) goes:
//!
//! 1. Untimed: the bench thread sends `iters` on a control queue, the worker
//!    (possibly asleep there between samples) answers "ready" on an ack
//!    queue, and only then does the clock start. So waking the worker is
//!    never timed.
//! 2. Timed: the bench thread produces and sends `iters` messages, each with
//!    a sequence number in its first 8 bytes. The worker receives each one
//!    with the bench's receive function, which must read or copy the whole
//!    payload and return that number; the worker checks the numbers arrive
//!    in order.
//! 3. After the last message the worker answers "done"; the clock stops when
//!    the bench thread has read it. The time therefore covers every message
//!    reaching the receiver and being read there, plus one cross-core hop
//!    for the acknowledgement (amortised over `iters`).
//!
//! Before the first run, the ring is written through twice, untimed, so the
//! page faults of a fresh in-process ring are never measured.
//!
//! Each side also reads its thread's CPU time around each run (outside the
//! timed interval). If either thread was on a CPU for much less than the
//! wall-clock time measured, another process took its core (two spinning
//! threads then share one and hand over only when the scheduler preempts
//! one, which makes results one or two orders of magnitude slow), and a
//! warning is printed when the stream is dropped, after the bench's result.
//!
//! Both ends of the data queue use [`WaitStrategy::Spin`], as does the bench
//! thread's wait for the acknowledgement: these benches measure the hot path,
//! never a futex sleep. Only the worker's wait on the control queue (between
//! samples, untimed) may sleep, so an idle bench does not burn a core.

#![allow(dead_code, reason = "each bench uses part of this module")]

use std::hint::black_box;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shmq::{QueueBuilder, Receiver, Sender, WaitStrategy};

/// Bytes at the start of every message holding its sequence number.
pub const SEQ_BYTES: usize = 8;

const READY: u8 = b'r';
const DONE: u8 = b'd';

/// Writes `seq` into the first 8 bytes of `buf` (little-endian).
#[inline]
pub fn stamp(buf: &mut [u8], seq: u64) {
    buf[..SEQ_BYTES].copy_from_slice(&seq.to_le_bytes());
}

/// Reads the sequence number from the first 8 bytes of a message.
#[inline]
pub fn seq_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..SEQ_BYTES].try_into().expect("8 bytes"))
}

/// Reads every byte of `bytes` (an XOR over 8-byte words, which the compiler
/// vectorises) and returns the sequence number: the work of a consumer that
/// looks at the whole payload, the same whether it sits in the ring, in the
/// reassembly buffer or in a copy.
#[inline]
pub fn consume(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words
        .remainder()
        .iter()
        .fold(0u64, |acc, &b| acc ^ u64::from(b));
    let acc = words.fold(tail, |acc, w| {
        acc ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))
    });
    black_box(acc);
    seq_of(bytes)
}

/// A one-way stream from the bench thread to a persistent worker thread.
pub struct Stream {
    data: Sender,
    /// `None` once dropping: closing it tells the worker to exit.
    control: Option<Sender>,
    ack: Receiver,
    worker: Option<JoinHandle<()>>,
    next_seq: u64,
    busy: Busy,
}

/// Wall-clock time of the timed runs and the CPU time each thread got.
#[derive(Default)]
struct Busy {
    wall: Duration,
    sender_cpu: Duration,
    receiver_cpu: Duration,
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Stream {
    /// Creates the data queue from `data` (with [`WaitStrategy::Spin`] on
    /// both ends) and starts the worker, which receives every message with
    /// `recv_one`. `recv_one` must read or copy the whole message and return
    /// its sequence number (see [`seq_of`], [`consume`]).
    pub fn new<F>(data: QueueBuilder, mut recv_one: F) -> Stream
    where
        F: FnMut(&mut Receiver) -> u64 + Send + 'static,
    {
        let data = data
            .wait_strategy(WaitStrategy::Spin)
            .create()
            .expect("data queue");
        // Control and acknowledgements: one small message at a time.
        let small = || {
            QueueBuilder::in_process()
                .slot_size(64)
                .slots(4)
                .create()
                .expect("control queue")
        };
        let (control, ack) = (small(), small());
        let (data_tx, mut data_rx) = (data.sender().unwrap(), data.receiver().unwrap());
        // The worker may sleep here between samples (default strategy).
        let (control_tx, mut control_rx) = (control.sender().unwrap(), control.receiver().unwrap());
        let (mut ack_tx, mut ack_rx) = (ack.sender().unwrap(), ack.receiver().unwrap());
        ack_rx.set_wait_strategy(WaitStrategy::Spin);

        let worker = std::thread::Builder::new()
            .name("bench-receiver".into())
            .spawn(move || {
                let mut expected = 0u64;
                // Ends when the bench thread drops the control sender.
                while let Ok(count) = control_rx.recv_pod::<u64>() {
                    let cpu = thread_cpu_time();
                    ack_tx.send_pod(&READY).expect("ack");
                    for _ in 0..count {
                        let seq = recv_one(&mut data_rx);
                        assert_eq!(seq, expected, "message out of order");
                        expected += 1;
                    }
                    ack_tx.send_pod(&DONE).expect("ack");
                    // After "done", so that reading the clock is not timed.
                    let cpu = (thread_cpu_time() - cpu).as_nanos() as u64;
                    ack_tx.send_pod(&cpu).expect("ack");
                }
            })
            .expect("spawn the receiver thread");

        let mut stream = Stream {
            data: data_tx,
            control: Some(control_tx),
            ack: ack_rx,
            worker: Some(worker),
            next_seq: 0,
            busy: Busy::default(),
        };
        stream.prefault(data.capacity());
        stream.busy = Busy::default();
        stream
    }

    /// Writes the whole ring twice (untimed), so that no timed run pays the
    /// page faults of an in-process ring's first pass (`alloc_zeroed`
    /// memory is mapped on first touch). Records of an eighth of the ring
    /// each fill it exactly, without padding.
    fn prefault(&mut self, capacity: usize) {
        let ring_bytes = capacity + 16;
        let len = (ring_bytes / 8).saturating_sub(16).max(SEQ_BYTES);
        let mut msg = vec![0u8; len];
        self.run(16, |tx, seq| {
            stamp(&mut msg, seq);
            tx.send(&msg).expect("send");
        });
    }

    /// Sends `iters` messages through `send_one(sender, seq)`, which must
    /// produce the message (sequence number included, see [`stamp`]) and
    /// send it; returns the time until the worker has received them all.
    pub fn run(&mut self, iters: u64, mut send_one: impl FnMut(&mut Sender, u64)) -> Duration {
        let control = self.control.as_mut().expect("stream is open");
        control.send_pod(&iters).expect("worker gone");
        assert_eq!(self.ack.recv_pod::<u8>().expect("worker gone"), READY);

        let cpu = thread_cpu_time();
        let start = Instant::now();
        for _ in 0..iters {
            send_one(&mut self.data, self.next_seq);
            self.next_seq += 1;
        }
        let done = self.ack.recv_pod::<u8>().expect("worker gone");
        let elapsed = start.elapsed();
        let sender_cpu = thread_cpu_time() - cpu;
        assert_eq!(done, DONE);
        let receiver_cpu = self.ack.recv_pod::<u64>().expect("worker gone");
        self.busy.wall += elapsed;
        self.busy.sender_cpu += sender_cpu;
        self.busy.receiver_cpu += Duration::from_nanos(receiver_cpu);
        elapsed
    }

    /// Prints a warning if either thread got much less CPU time than the
    /// wall-clock time of the runs (see the module docs).
    fn report_busy(&self) {
        let Busy {
            wall,
            sender_cpu,
            receiver_cpu,
        } = self.busy;
        // Short totals (criterion's test mode, one message per bench) say
        // little either way.
        if wall < Duration::from_secs(1) {
            return;
        }
        let share = |cpu: Duration| cpu.as_secs_f64() / wall.as_secs_f64();
        let (sender, receiver) = (share(sender_cpu), share(receiver_cpu));
        if sender < 0.9 || receiver < 0.9 {
            eprintln!(
                "warning: over {wall:.2?} of timed runs the sender thread was on a CPU \
                 {:.0}% and the receiver thread {:.0}% of the time: they shared cores \
                 with other work, so these results are far slower than the queue",
                sender * 100.0,
                receiver * 100.0
            );
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.report_busy();
        }
        drop(self.control.take());
        if let Some(worker) = self.worker.take() {
            let result = worker.join();
            if result.is_err() && !std::thread::panicking() {
                panic!("the receiver thread panicked");
            }
        }
    }
}
