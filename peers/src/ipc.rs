//! Servo's ipc-channel as a transport (`ipc-channel`).
//!
//! Two byte channels (`ipc::bytes_channel`, no serialisation), one per
//! direction, bootstrapped as ipc-channel's documentation shows: the parent
//! creates an `IpcOneShotServer` and gives its name to the peer; the peer
//! makes both channels, connects to the server and sends the parent its
//! halves (the sender towards itself, the receiver from itself); the
//! parent's `accept` returns them. The one-shot server's socket lives in a
//! temporary directory of its own, removed when the server is dropped,
//! which `accept` does.
//!
//! **Per message.** Send: `IpcBytesSender::send(msg)`. Receive: the blocking
//! `IpcBytesReceiver::recv()`, which returns a new `Vec` (the API has no
//! receive into a caller's buffer: one allocation per message, inside the
//! library), its length checked and its bytes copied out. On Linux each
//! channel is a `SOCK_SEQPACKET` Unix socket pair: a system call on each
//! side per message, and a sleeping receiver woken by the kernel, hence
//! [`sleeps`](Transport::sleeps). A dead peer is `Disconnected` (receive)
//! or a broken pipe (send), so no liveness check is needed.

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use shmq_bench::{Context, Endpoint, Error, Liveness, Mode, Result, Transport};

/// What the peer sends the parent through the one-shot server: the sender
/// of the channel towards the peer, the receiver of the channel from it.
type Halves = (IpcBytesSender, IpcBytesReceiver);

/// ipc-channel byte channels; see the module docs.
#[derive(Debug)]
pub struct IpcChannel;

/// Either side: a sender and a receiver.
#[derive(Debug)]
pub struct End {
    tx: IpcBytesSender,
    rx: IpcBytesReceiver,
}

impl Endpoint for End {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.send(msg).context("send")
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let msg = self.rx.recv().context("recv")?;
        if msg.len() != buf.len() {
            return Err(Error::new(format!(
                "a {}-byte message, expected {}",
                msg.len(),
                buf.len()
            )));
        }
        buf.copy_from_slice(&msg);
        Ok(())
    }
}

impl Transport for IpcChannel {
    type Pending = IpcOneShotServer<Halves>;
    type Parent = End;
    type Child = End;

    fn name(&self) -> &'static str {
        "ipc-channel"
    }

    fn sleeps(&self) -> bool {
        true // a system call and a wake-up per message
    }

    fn create(&self, _: Mode, _: usize) -> Result<(IpcOneShotServer<Halves>, String)> {
        IpcOneShotServer::new().context("one-shot server")
    }

    fn connect(&self, server: IpcOneShotServer<Halves>, _: Liveness) -> Result<End> {
        // The peer has connected and sent its message before it said
        // `ready`, so this does not wait.
        let (_bootstrap, (tx, rx)) = server.accept().context("accept")?;
        Ok(End { tx, rx })
    }

    fn open(&self, _: Mode, server: &str, _: usize, _: Liveness) -> Result<End> {
        let (to_peer, from_parent) = ipc::bytes_channel().context("channel")?;
        let (to_parent, from_peer) = ipc::bytes_channel().context("channel")?;
        let bootstrap = IpcSender::<Halves>::connect(server.to_owned()).context("connect")?;
        bootstrap.send((to_peer, from_peer)).context("bootstrap")?;
        Ok(End {
            tx: to_parent,
            rx: from_parent,
        })
    }
}
