//! `porthole proxy`: what a client sees on the wire when toxics hold data,
//! end a stream, or are changed while data waits, compared with Toxiproxy
//! 2.12's chain of toxic stages (each stage passes its chunks and then its
//! end on to the next; only a latency stage buffers ahead of itself).
//!
//! Timing assertions are lower bounds (a toxic's delay must be kept). That
//! an end or a chunk comes at all is read with [`patient`] reads, which
//! every wrong outcome (a hang, a delay in seconds instead of milliseconds)
//! outlasts, so a slow machine cannot fail them.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::proxy::{
    custom_server, echo_server, patient, read_to_end, start_api, timed_out, wait_for_received,
};

/// What a server read, and whether it ended with an end of stream (not an
/// error).
type Received = (Vec<u8>, bool);

/// Closes a socket with a reset (RST) instead of a FIN.
fn reset(stream: &impl std::os::fd::AsFd) {
    rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO)).expect("SO_LINGER 0");
}

/// Removing or updating a toxic that holds nothing back (`noop`,
/// `limit_data`) must not release data another toxic is delaying: in
/// Toxiproxy only the changed stage is interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_toxic_that_delays_nothing_keeps_the_latency() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("held", echo);
    api.toxic("held", json!({"type": "latency", "attributes": {"latency": 1000}}));
    api.toxic("held", json!({"name": "quiet", "type": "noop"}));
    api.toxic(
        "held",
        json!({"name": "cap", "type": "limit_data", "attributes": {"bytes": 100000}}),
    );
    let mut stream = patient(listen);
    let changes = [
        ("DELETE", "/proxies/held/toxics/quiet", None),
        ("PATCH", "/proxies/held/toxics/cap", Some(json!({"attributes": {"bytes": 200000}}))),
    ];
    for (round, (method, path, body)) in (1..).zip(changes) {
        let start = Instant::now();
        stream.write_all(b"ping").expect("write");
        // The echo is in the latency when the other toxic changes.
        wait_for_received(&api, "held", "downstream", 4 * round);
        let status = api.call(method, path, body).status;
        assert!(status == 200 || status == 204, "{method} {path}: {status}");
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).expect("echo");
        let elapsed = start.elapsed();
        assert_eq!(&back, b"ping");
        assert!(
            elapsed >= Duration::from_millis(950),
            "{method} {path} released the chunk after {elapsed:?}, before its 1 s latency"
        );
    }
}

/// A server that answers and then resets: the answer, already read by the
/// proxy and held by a toxic, still reaches the client (then the
/// connection closes), as in Toxiproxy. The same for a client that sends
/// and resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_held_by_toxics_outlives_a_reset_by_its_sender() {
    let api = start_api().await;
    let server = custom_server(|mut stream| async move {
        let _ = stream.write_all(b"hello").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        reset(&stream);
    })
    .await;
    let listen = api.proxy("answer", server);
    // Both hold "hello" past the reset, 200 ms after it was sent.
    for toxic in [
        json!({"type": "latency", "attributes": {"latency": 400}}),
        json!({"type": "slicer", "attributes": {"average_size": 1, "delay": 100000}}),
    ] {
        api.toxic("answer", toxic.clone());
        let mut stream = patient(listen);
        let (data, end) = read_to_end(&mut stream);
        assert_eq!((data.as_slice(), end), (&b"hello"[..], Ok(())), "with {toxic}");
        api.call("POST", "/reset", None);
    }

    // A slow_close holds the close after the reset back, as it holds an end
    // of stream.
    api.toxic("answer", json!({"type": "slow_close", "attributes": {"delay": 300}}));
    let start = Instant::now();
    let mut stream = patient(listen);
    let (data, end) = read_to_end(&mut stream);
    assert_eq!((data.as_slice(), end), (&b"hello"[..], Ok(())));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(480), "closed after {elapsed:?}");

    // Client to server: the request waits in an upstream latency when the
    // client resets; the server still gets all of it, then the close.
    let received: Arc<Mutex<Option<Received>>> = Arc::default();
    let seen = Arc::clone(&received);
    let collector = custom_server(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            let mut data = Vec::new();
            let clean = stream.read_to_end(&mut data).await.is_ok();
            *seen.lock().expect("lock") = Some((data, clean));
        }
    })
    .await;
    let listen = api.proxy("request", collector);
    api.toxic(
        "request",
        json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 300}}),
    );
    let mut stream = patient(listen);
    stream.write_all(b"request").expect("write");
    // The proxy has read the request before the reset: a reset throws
    // away what the receiver has not read yet.
    wait_for_received(&api, "request", "upstream", 7);
    reset(&stream);
    drop(stream);
    crate::util::eventually(super::proxy::PATIENCE, || received.lock().expect("lock").is_some());
    let outcome = received.lock().expect("lock").clone();
    assert_eq!(outcome, Some((b"request".to_vec(), true)), "what the server saw");
}

/// In Toxiproxy a toxic that ends the stream (`limit_data`, `timeout`)
/// ends the input of the toxics after it: a `slow_close` added later holds
/// that close back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_holds_back_closes_made_by_toxics_before_it() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("ends", echo);
    api.toxic("ends", json!({"type": "limit_data", "attributes": {"bytes": 10}}));
    api.toxic("ends", json!({"type": "slow_close", "attributes": {"delay": 300}}));
    let start = Instant::now();
    let mut stream = patient(listen);
    stream.write_all(b"0123456789abcdefghij").expect("write");
    let (data, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    assert_eq!((data.as_slice(), end), (&b"0123456789"[..], Ok(())));
    assert!(elapsed >= Duration::from_millis(290), "limit_data closed after {elapsed:?}");
    api.call("POST", "/reset", None);

    // The timeout's close 200 ms after the last data, then 300 ms more.
    api.toxic(
        "ends",
        json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 200}}),
    );
    api.toxic(
        "ends",
        json!({"type": "slow_close", "stream": "upstream", "attributes": {"delay": 300}}),
    );
    let start = Instant::now();
    let mut stream = patient(listen);
    let (data, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    assert_eq!((data.as_slice(), end), (&b""[..], Ok(())));
    assert!(elapsed >= Duration::from_millis(490), "timeout closed after {elapsed:?}");
}

/// Toxiproxy's slicer waits its delay after every slice, the last one of a
/// chunk included, so slices stay evenly spaced across the chunks of a
/// stream and the end of stream comes one delay after the last slice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_spaces_slices_evenly_across_chunks() {
    let api = start_api().await;
    // Two chunks: the second arrives while the first is being sliced.
    let server = custom_server(|mut stream| async move {
        let _ = stream.set_nodelay(true);
        let _ = stream.write_all(b"ab").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = stream.write_all(b"cd").await;
    })
    .await;
    let listen = api.proxy("sliced", server);
    // One byte per slice, 100 ms apart.
    api.toxic(
        "sliced",
        json!({"type": "slicer", "attributes": {"average_size": 1, "size_variation": 0, "delay": 100000}}),
    );
    let start = Instant::now();
    // A delay read as milliseconds (100 s a slice) would outlast the read.
    let mut stream = patient(listen);
    let (data, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    assert_eq!((data.as_slice(), end), (&b"abcd"[..], Ok(())));
    // Slices at 0, 100, 200 and 300 ms, the end at 400 ms.
    assert!(elapsed >= Duration::from_millis(390), "four slices and the end took {elapsed:?}");
}

/// Bytes a non-blocking sender gets accepted on `stream` until writes have
/// stalled for `quiet` (or `limit` has passed).
fn fill(stream: &mut TcpStream, quiet: Duration, limit: Duration) -> usize {
    stream.set_nonblocking(true).expect("non-blocking");
    let chunk = vec![b'z'; 64 << 10];
    let start = Instant::now();
    let mut last_progress = Instant::now();
    let mut accepted = 0;
    while start.elapsed() < limit && last_progress.elapsed() < quiet {
        match stream.write(&chunk) {
            Ok(count) => {
                accepted += count;
                last_progress = Instant::now();
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("write: {error}"),
        }
    }
    accepted
}

/// A `bandwidth` toxic slows the sender down as a slow link does: beyond
/// the socket buffers, the proxy takes no more than it passes on. Toxiproxy
/// buffers ahead of a latency toxic only; porthole used to read up to 8 MiB
/// ahead of any toxic, so a client's upload looked finished long before it
/// had gone through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_toxic_pushes_back_on_the_sender() {
    // What the kernel alone holds between a sender and a receiver that does
    // not read: the yardstick for what the proxy may hold.
    let idle = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut direct = TcpStream::connect(idle.local_addr().expect("address")).expect("connect");
    let (_held, _) = idle.accept().expect("accept");
    let buffers = fill(&mut direct, Duration::from_millis(300), Duration::from_secs(10));

    let api = start_api().await;
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let sink = custom_server(move |mut stream| {
        let counter = Arc::clone(&counter);
        async move {
            let mut buffer = vec![0u8; 64 << 10];
            while let Ok(count) = stream.read(&mut buffer).await {
                if count == 0 {
                    break;
                }
                counter.fetch_add(count, std::sync::atomic::Ordering::SeqCst);
            }
        }
    })
    .await;
    let listen: SocketAddr = api.proxy("upload", sink);
    api.toxic(
        "upload",
        json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100}}),
    );
    let mut stream = patient(listen);
    // At 100 KB/s some data always drains, so writes never stall for long:
    // fill for a fixed time instead.
    let accepted = fill(&mut stream, Duration::from_secs(60), Duration::from_millis(1500));
    let passed = received.load(std::sync::atomic::Ordering::SeqCst);
    let held = accepted.saturating_sub(passed);
    assert!(
        held <= buffers + (2 << 20),
        "the proxy held {held} bytes ahead of a 100 KB/s toxic ({accepted} accepted, {passed} \
         passed on); the socket buffers alone hold {buffers}"
    );
}

/// A toxic that closes the connection in one direction (`limit_data` on the
/// requests) does not throw away what the other direction's toxics hold
/// (the replies in a latency): they reach the client, then it sees the
/// close, as in Toxiproxy, where closing one side's socket ends the other
/// chain's input behind its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_in_one_direction_lets_the_other_deliver_what_it_holds() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("both", echo);
    api.toxic("both", json!({"type": "latency", "attributes": {"latency": 300}}));
    api.toxic(
        "both",
        json!({"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 10}}),
    );
    let start = Instant::now();
    let mut stream = patient(listen);
    stream.write_all(b"hello").expect("write");
    // Its echo is in the latency before the limit closes the connection.
    wait_for_received(&api, "both", "downstream", 5);
    // Five bytes more pass the limit, then the connection is closed.
    stream.write_all(b"0123456789").expect("write");
    let (data, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    // The echo of the last five bytes may come back before the proxy stops
    // reading from the server, or not.
    assert!(
        b"hello01234".starts_with(&data) && data.starts_with(b"hello"),
        "the client got {:?}",
        String::from_utf8_lossy(&data)
    );
    assert_eq!(end, Ok(()));
    assert!(elapsed >= Duration::from_millis(290), "the reply came after {elapsed:?}");
}

/// Data flowing both ways at once through chains of delaying toxics, with
/// the middle toxic of each chain removed mid-transfer and the rest later:
/// every byte arrives once and in order (a removed toxic releases what it
/// holds, the others keep theirs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_middle_toxic_mid_transfer_keeps_every_byte_in_order() {
    const TOTAL: usize = 8 << 20;
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("chain", echo);
    for stream in ["upstream", "downstream"] {
        let toxics = [
            json!({"name": format!("lag-{stream}"), "type": "latency", "stream": stream,
                   "attributes": {"latency": 20, "jitter": 15}}),
            json!({"name": format!("cut-{stream}"), "type": "slicer", "stream": stream,
                   "attributes": {"average_size": 3000, "size_variation": 1000, "delay": 10}}),
            json!({"name": format!("rate-{stream}"), "type": "bandwidth", "stream": stream,
                   "attributes": {"rate": 50000}}),
        ];
        for toxic in toxics {
            api.toxic("chain", toxic);
        }
    }
    let mut stream = patient(listen);
    let mut writer = stream.try_clone().expect("clone");
    let pattern: Vec<u8> = (0..TOTAL).map(|index| (index % 251) as u8).collect();
    let sent = pattern.clone();
    let sender = std::thread::spawn(move || {
        for piece in sent.chunks(64 << 10) {
            writer.write_all(piece).expect("write");
        }
        writer.shutdown(std::net::Shutdown::Write).expect("half-close");
    });
    let mut received = Vec::with_capacity(TOTAL);
    let mut buffer = vec![0u8; 64 << 10];
    let mut removed = 0;
    let removals = ["cut-upstream", "cut-downstream", "lag-upstream", "rate-downstream"];
    loop {
        let count = stream.read(&mut buffer).expect("read");
        if count == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..count]);
        // One removal per quarter of the transfer, the middle toxics first.
        if removed < removals.len() && received.len() >= (removed + 1) * TOTAL / 5 {
            let path = format!("/proxies/chain/toxics/{}", removals[removed]);
            assert_eq!(api.call("DELETE", &path, None).status, 204, "{path}");
            removed += 1;
        }
    }
    sender.join().expect("sender");
    assert_eq!(removed, removals.len());
    assert_eq!(received.len(), TOTAL, "bytes lost or duplicated");
    let first_wrong = received.iter().zip(&pattern).position(|(got, want)| got != want);
    assert_eq!(first_wrong, None, "bytes out of order");
}

/// Removing a toxic releases what it holds, but not past the latency toxics
/// still acting: in Toxiproxy the released data goes on through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_released_by_a_removed_toxic_still_waits_for_the_latency() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("release", echo);
    api.toxic("release", json!({"type": "latency", "attributes": {"latency": 1000}}));
    // 1 KB/s: the 200 bytes would leave in two slices, 1.1 s and 1.2 s on.
    api.toxic("release", json!({"name": "narrow", "type": "bandwidth", "attributes": {"rate": 1}}));
    let mut stream = patient(listen);
    let start = Instant::now();
    stream.write_all(&[b'r'; 200]).expect("write");
    // The echo is in the toxics when the bandwidth goes.
    wait_for_received(&api, "release", "downstream", 200);
    assert_eq!(api.call("DELETE", "/proxies/release/toxics/narrow", None).status, 204);
    let mut back = [0u8; 200];
    stream.read_exact(&mut back).expect("echo");
    let elapsed = start.elapsed();
    assert_eq!(back, [b'r'; 200]);
    assert!(elapsed >= Duration::from_millis(950), "the latency was skipped: {elapsed:?}");
}

/// A `timeout` toxic that dropped bytes has corrupted the stream, so taking
/// it off a connection closes the connection. An update must not forget the
/// dropped bytes: removing the updated toxic, or an update whose toxicity
/// draw leaves the connection without the toxic, closes it too, instead of
/// letting later bytes through with a hole before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_that_dropped_data_closes_the_connection_after_an_update() {
    let api = start_api().await;
    let echo = echo_server().await;
    for stream_name in ["upstream", "downstream"] {
        let updates =
            [(json!({"attributes": {"timeout": 100000}}), true), (json!({"toxicity": 0}), false)];
        for (update, then_remove) in updates {
            let _ = api.call("DELETE", "/proxies/hole", None);
            let listen = api.proxy("hole", echo);
            api.toxic(
                "hole",
                json!({"name": "mute", "type": "timeout", "stream": stream_name,
                       "attributes": {"timeout": 0}}),
            );
            let mut stream = patient(listen);
            stream.write_all(b"lost").expect("write");
            // The toxic has had the bytes to drop.
            wait_for_received(&api, "hole", stream_name, 4);
            let status =
                api.call("PATCH", "/proxies/hole/toxics/mute", Some(update.clone())).status;
            assert_eq!(status, 200);
            if then_remove {
                assert_eq!(api.call("DELETE", "/proxies/hole/toxics/mute", None).status, 204);
            }
            let _ = stream.write_all(b"next");
            let (data, end) = read_to_end(&mut stream);
            assert!(
                data.is_empty() && !timed_out(end),
                "{stream_name}, {update} (then removed: {then_remove}): got {:?}, {end:?}; \
                 expected the connection closed and nothing after the dropped bytes",
                String::from_utf8_lossy(&data)
            );
        }
    }
}
