//! iceoryx2 publish-subscribe as a transport (`iceoryx2`).
//!
//! Two services, one per direction, as iceoryx2's own publish-subscribe
//! benchmark sets them up (`benchmarks/publish-subscribe/src/main.rs` in
//! its repository: services `a2b` and `b2a`): here `<base>/a2b` carries
//! the parent's messages to the peer, `<base>/b2a` the echoes (latency) or
//! the acknowledgements (throughput) back. Each service has one publisher
//! and one subscriber, of `[u8]` slices, on the inter-process service type
//! (`ipc::Service`).
//!
//! **Service settings.** Latency, both directions, and throughput's
//! acknowledgements: exactly the benchmark's: `max_publishers(1)`,
//! `max_subscribers(1)`, `history_size(0)`, `subscriber_max_buffer_size(1)`,
//! `enable_safe_overflow(true)`; the publisher's
//! `initial_max_slice_len(size)`. Throughput's stream (`a2b`): iceoryx2's
//! benchmark has no stream, and a one-sample buffer that overwrites would
//! lose messages, so the stream's service keeps the same publisher,
//! subscriber and history settings but holds as many samples as the
//! floor's ring holds messages ([`stream_buffer`]), without overflow; its
//! publisher waits for room with iceoryx2's `RetryUntilDelivered`
//! backpressure, whose handler gives up once the peer process is gone.
//!
//! **Per message.** Send: the sample loaned ahead (`loan_slice_uninit`),
//! the message copied into it (`write_from_slice`), `send()`, then the next
//! sample loaned, so its loan is off the path of the round trip, as the
//! benchmark's sides do (each loans its next sample before it waits).
//! Receive: `receive()` polled in a loop ([`spin_until`], which checks the
//! other process's liveness every few thousand polls), the payload's
//! length checked and the payload copied out; the sample is released when
//! dropped. Unlike iceoryx2's benchmark (which sends uninitialised samples
//! unless `--send-copy`), every message is written and read, as for every
//! transport of the harness.
//!
//! **Names and clean-up.** A run keeps its iceoryx2 resources in a domain
//! of its own (an iceoryx2 `Config` whose `global.prefix` and root path
//! are the run's): files in `/dev/shm` named `shmq-bench-<pid>-iceoryx2_...`
//! and a directory `shmq-bench-<pid>-iceoryx2` in the temporary directory,
//! where the default domain would use `iox2_...` and `/tmp/iceoryx2`. The
//! services of a group are `<base>/a2b` and `<base>/b2a`, `<base>` from
//! [`unique_name`]; the peer is given `<domain> <base>`. Services cannot be
//! unlinked while open: iceoryx2 removes a service's files when the last
//! process holding it drops its ports, services and node, which both sides
//! do when their group ends. What iceoryx2 keeps on purpose (its node
//! counter, persistent in `/dev/shm`, and its empty `nodes/` and
//! `services/` directories), and whatever a peer killed mid-run left
//! behind, goes with the domain: [`remove_domain`], called when the run is
//! over, deletes the run's directory and every `/dev/shm` file with its
//! prefix.
//!
//! Nodes are created with signal handling disabled: iceoryx2's default
//! handler turns SIGINT and SIGTERM into a flag that only its own waits
//! read, so a spinning benchmark would not stop on Ctrl-C.

use std::mem::MaybeUninit;
use std::path::PathBuf;

use iceoryx2::port::BackpressureAction;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;
use shmq_bench::{
    Context, Endpoint, Error, Liveness, Mode, Result, Transport, spin_until, unique_name,
};

/// The service type: between processes, one thread per port (as
/// iceoryx2's benchmark's `ipc::Service` run).
type Ipc = ipc::Service;

/// A service of byte slices.
type Service = PortFactory<Ipc, [u8], ()>;

/// Retries of a blocked stream publisher between two liveness checks
/// (each retry is one step of iceoryx2's adaptive wait: spin, yield, then
/// sleep).
const LIVENESS_EVERY: u64 = 64;

/// Sets iceoryx2's log level to errors only, as its benchmark does (it
/// would otherwise warn, for instance, that no config file was found).
pub fn quiet_logs() {
    set_log_level(LogLevel::Error);
}

/// Samples the stream's subscriber can hold for `size`-byte messages: the
/// bytes of the floor's (and shmq's) streaming ring, `4 x size` rounded up
/// to a power of two, at least 256 KiB (as `shmq_bench`'s `ring_bytes`),
/// in messages.
fn stream_buffer(size: usize) -> usize {
    ((4 * size).max(256 << 10).next_power_of_two() / size).max(2)
}

/// iceoryx2 publish-subscribe; see the module docs.
#[derive(Debug)]
pub struct Iceoryx2;

/// What a service direction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// One sample at a time, each answered before the next: iceoryx2's
    /// benchmark's settings (a one-sample buffer that overwrites).
    PingPong,
    /// A stream: a buffer of [`stream_buffer`] samples, no overwriting;
    /// the publisher waits for room.
    Stream,
}

/// Creates (`create`) or opens the service `name` with the settings of
/// `direction` for `size`-byte messages. Both sides ask for the same
/// settings, so opening checks them.
fn service(
    node: &Node<Ipc>,
    name: &str,
    direction: Direction,
    size: usize,
    create: bool,
) -> Result<Service> {
    let service_name = ServiceName::new(name).with_context(|| format!("service name {name:?}"))?;
    let (buffer, overflow) = match direction {
        Direction::PingPong => (1, true),
        Direction::Stream => (stream_buffer(size), false),
    };
    let builder = node
        .service_builder(&service_name)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(buffer)
        .enable_safe_overflow(overflow);
    if create {
        builder.create().with_context(|| format!("create {name}"))
    } else {
        builder.open().with_context(|| format!("open {name}"))
    }
}

/// Where shared memory files live (iceoryx2's POSIX shared memory).
const SHM_DIR: &str = "/dev/shm";

/// The name of this process's domain (the parent's): the prefix of its
/// files in `/dev/shm` and the name of its directory.
fn own_domain() -> String {
    format!("shmq-bench-{}-iceoryx2", std::process::id())
}

/// The root directory of `domain`.
fn domain_root(domain: &str) -> PathBuf {
    std::env::temp_dir().join(domain)
}

/// The global configuration (iceoryx2's defaults, or its config file),
/// with the resources in `domain`.
fn domain_config(domain: &str) -> Result<Config> {
    let mut config = Config::global_config().clone();
    config.global.prefix = FileName::new(format!("{domain}_").as_bytes())
        .with_context(|| format!("domain prefix {domain:?}"))?;
    let root = domain_root(domain);
    let root = format!("{}/", root.display());
    let root = Path::new(root.as_bytes()).with_context(|| format!("domain root {root:?}"))?;
    config.global.set_root_path(&root);
    Ok(config)
}

/// A node in `domain`, with signal handling left to the program.
fn node(domain: &str) -> Result<Node<Ipc>> {
    NodeBuilder::new()
        .config(&domain_config(domain)?)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .context("create node")
}

/// Removes this process's domain, if it made one: its directory and its
/// files in `/dev/shm`. Call it in the parent once the run is over (every
/// peer has exited), never in a peer (whose parent's domain it is not).
///
/// # Errors
///
/// If a file or the directory exists but cannot be removed.
pub fn remove_domain() -> Result<()> {
    let domain = own_domain();
    let root = domain_root(&domain);
    match std::fs::remove_dir_all(&root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::new(format!("remove {}: {e}", root.display())));
        }
        _ => {}
    }
    let prefix = format!("{domain}_");
    for entry in std::fs::read_dir(SHM_DIR).with_context(|| format!("list {SHM_DIR}"))? {
        let path = entry.with_context(|| format!("list {SHM_DIR}"))?.path();
        let ours = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(&prefix));
        if ours {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// A publisher for `size`-byte slices on `service`; on a stream, one that
/// waits for room until the other process is gone.
fn publisher(
    service: &Service,
    direction: Direction,
    size: usize,
    live: &Liveness,
) -> Result<Publisher<Ipc, [u8], ()>> {
    let builder = service.publisher_builder().initial_max_slice_len(size);
    let builder = match direction {
        Direction::PingPong => builder,
        Direction::Stream => {
            let live = live.clone();
            builder
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .set_backpressure_handler(move |info| {
                    if info.retries % LIVENESS_EVERY == LIVENESS_EVERY - 1 && !live.peer_alive() {
                        BackpressureAction::DiscardDataAndFail
                    } else {
                        BackpressureAction::Retry
                    }
                })
        }
    };
    builder.create().context("create publisher")
}

/// One side: a publisher on one service, a subscriber on the other.
///
/// Fields drop in order: the sample loaned ahead before its publisher,
/// the ports before their services, the services before the node.
pub struct End {
    /// The next sample to send, loaned after the last send.
    ahead: Option<SampleMutUninit<Ipc, [MaybeUninit<u8>], ()>>,
    publisher: Publisher<Ipc, [u8], ()>,
    subscriber: Subscriber<Ipc, [u8], ()>,
    live: Liveness,
    _services: [Service; 2],
    _node: Node<Ipc>,
}

impl End {
    /// Loans a sample of `len` bytes.
    fn loan(&self, len: usize) -> Result<SampleMutUninit<Ipc, [MaybeUninit<u8>], ()>> {
        self.publisher.loan_slice_uninit(len).context("loan")
    }
}

impl Endpoint for End {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let sample = match self.ahead.take() {
            Some(sample) if sample.payload().len() == msg.len() => sample,
            _ => self.loan(msg.len())?, // the first, or another length
        };
        let delivered = sample.write_from_slice(msg).send().context("send")?;
        if delivered == 0 {
            return Err(Error::new("send: no subscriber"));
        }
        self.ahead = Some(self.loan(msg.len())?);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let sample =
            spin_until(&self.live, || self.subscriber.receive().transpose())?.context("receive")?;
        let payload = sample.payload();
        if payload.len() != buf.len() {
            return Err(Error::new(format!(
                "a {}-byte sample, expected {}",
                payload.len(),
                buf.len()
            )));
        }
        buf.copy_from_slice(payload);
        Ok(())
    }
}

/// The directions of `mode`: parent to peer, peer to parent.
fn directions(mode: Mode) -> (Direction, Direction) {
    match mode {
        Mode::Latency => (Direction::PingPong, Direction::PingPong),
        Mode::Throughput => (Direction::Stream, Direction::PingPong),
    }
}

/// The parent's side between `create` and `connect`: its services and
/// subscriber; its publisher comes at `connect`, when the peer's liveness
/// (for a blocked stream) is known. Dropping it removes the services (the
/// peer has not opened them).
pub struct Pending {
    subscriber: Subscriber<Ipc, [u8], ()>,
    services: [Service; 2],
    node: Node<Ipc>,
    direction: Direction,
    size: usize,
}

impl Transport for Iceoryx2 {
    type Pending = Pending;
    type Parent = End;
    type Child = End;

    fn name(&self) -> &'static str {
        "iceoryx2"
    }

    fn spins(&self) -> bool {
        true
    }

    fn create(&self, mode: Mode, size: usize) -> Result<(Pending, String)> {
        let domain = own_domain();
        let node = node(&domain)?;
        let base = unique_name();
        let (a2b, b2a) = directions(mode);
        let to_peer = service(&node, &format!("{base}/a2b"), a2b, size, true)?;
        let from_peer = service(&node, &format!("{base}/b2a"), b2a, size, true)?;
        let subscriber = from_peer
            .subscriber_builder()
            .create()
            .context("create subscriber")?;
        let pending = Pending {
            subscriber,
            services: [to_peer, from_peer],
            node,
            direction: a2b,
            size,
        };
        Ok((pending, format!("{domain} {base}")))
    }

    fn connect(&self, pending: Pending, live: Liveness) -> Result<End> {
        let Pending {
            subscriber,
            services,
            node,
            direction,
            size,
        } = pending;
        let publisher = publisher(&services[0], direction, size, &live)?;
        Ok(End {
            ahead: None,
            publisher,
            subscriber,
            live,
            _services: services,
            _node: node,
        })
    }

    fn open(&self, mode: Mode, endpoint: &str, size: usize, live: Liveness) -> Result<End> {
        let (domain, base) = endpoint
            .split_once(' ')
            .ok_or_else(|| Error::new(format!("not a domain and a service: {endpoint:?}")))?;
        let node = node(domain)?;
        let (a2b, b2a) = directions(mode);
        let from_parent = service(&node, &format!("{base}/a2b"), a2b, size, false)?;
        let to_parent = service(&node, &format!("{base}/b2a"), b2a, size, false)?;
        let subscriber = from_parent
            .subscriber_builder()
            .create()
            .context("create subscriber")?;
        let publisher = publisher(&to_parent, b2a, size, &live)?;
        Ok(End {
            ahead: None,
            publisher,
            subscriber,
            live,
            _services: [from_parent, to_parent],
            _node: node,
        })
    }
}
