//! Fault-injecting proxies the harness puts between every pair of nodes:
//! node i reaches node j only through proxy (i → j), which the harness can
//! cut. TCP proxies forward byte streams; UDP proxies forward datagrams
//! (for QUIC).

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};

/// One directed link's switch.
#[derive(Clone, Default)]
pub struct Link {
    cut: Arc<AtomicBool>,
    /// Open TCP connections through this link, closed when it is cut.
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    /// Cuts (or restores) the link. Cutting drops every open connection.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for c in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

/// Starts a TCP proxy on a free loopback port forwarding to `target`;
/// returns its address. Its threads end with the process.
pub fn tcp(target: SocketAddr, link: Link) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new().name(format!("proxy-{addr}")).spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { continue };
            if link.is_cut() {
                continue; // dropped: the dialer sees a closed connection
            }
            let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else { continue };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            {
                let mut conns = link.conns.lock().unwrap_or_else(|e| e.into_inner());
                if let (Ok(a), Ok(b)) = (inbound.try_clone(), outbound.try_clone()) {
                    conns.push(a);
                    conns.push(b);
                }
            }
            for (mut from, mut to) in
                [(inbound.try_clone(), outbound.try_clone()), (outbound.try_clone(), inbound.try_clone())]
                    .into_iter()
                    .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                let link = link.clone();
                let _ = std::thread::Builder::new().name("proxy-pipe".into()).spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if link.is_cut() || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                    let _ = from.shutdown(Shutdown::Read);
                });
            }
        }
    })?;
    Ok(addr)
}

/// Starts a UDP proxy forwarding datagrams to `target` and the replies
/// back to whoever sent last; cut, it drops everything.
pub fn udp(target: SocketAddr, link: Link) -> std::io::Result<SocketAddr> {
    let front = UdpSocket::bind("127.0.0.1:0")?;
    let back = UdpSocket::bind("127.0.0.1:0")?;
    let addr = front.local_addr()?;
    front.set_read_timeout(Some(Duration::from_millis(50)))?;
    back.set_read_timeout(Some(Duration::from_millis(50)))?;
    let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let (f2, b2, c2, l2) = (front.try_clone()?, back.try_clone()?, client.clone(), link.clone());
    std::thread::Builder::new().name(format!("udp-proxy-{addr}")).spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Ok((n, from)) = front.recv_from(&mut buf) {
                *client.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
                if !link.is_cut() {
                    let _ = back.send_to(&buf[..n], target);
                }
            }
        }
    })?;
    std::thread::Builder::new().name(format!("udp-proxy-back-{addr}")).spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Ok((n, _)) = b2.recv_from(&mut buf) {
                let to = *c2.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(to) = to
                    && !l2.is_cut()
                {
                    let _ = f2.send_to(&buf[..n], to);
                }
            }
        }
    })?;
    Ok(addr)
}
