//! `porthole top`: the live view of local listeners, their connections and
//! rates — full screen on a terminal, or frames for scripts with `--once`,
//! `--json` and `--jsonl`.
//!
//! # Terminal lifecycle
//! The live view switches the terminal to raw mode and the alternate screen.
//! Whatever ends it — `q`, Ctrl-C (a key in raw mode), SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM
//! (caught as a flag by `sys::signal::catch_termination`), an error, or a
//! panic (a hook restores first, then the default hook prints) — the
//! `TerminalGuard` or the panic hook puts the terminal back before porthole
//! exits. A stop (Ctrl-Z, a key in raw mode, or SIGTSTP, caught as a byte on
//! `sys::signal::terminal_signals`' pipe) puts it back too before porthole
//! stops, and the view takes it again once continued.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal;

use crate::cli::args::TopArgs;
use crate::cli::settings::{TopOutput, TopSettings};
use crate::commands::{warn, ExitStatus};
use crate::inventory::system::Machine;
use crate::model::top::{ShortLivedCapture, TcpCounters, TopFrame};
use crate::render::top::{self as view, SortKey, TopFrameRecord, TopView};
use crate::render::Style;
use crate::top::{ConnectionDetail, Sampler, Tracker};

pub fn run(args: TopArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = TopSettings::resolve(args)?;
    if let Some(namespace) = &settings.namespace {
        // Before the engine exists: its netlink sockets (the dumps and the
        // destroy feed) and counter files belong to the namespace they are
        // opened in. top runs no command, so nothing needs the caller's.
        crate::inventory::namespaces::enter(namespace).context("top")?;
    }
    let mut engine = Engine::new(&settings);
    match settings.output {
        TopOutput::Live => live(&settings, &mut engine, out),
        TopOutput::Once | TopOutput::Json => {
            engine.frame(ConnectionDetail::All)?;
            std::thread::sleep(settings.interval);
            let frame = engine.frame(ConnectionDetail::All)?;
            report_notes(&frame);
            if settings.output == TopOutput::Once {
                view::write_table(out, &frame, Style::detect())?;
            } else {
                // Serialised to memory first so a closed pipe surfaces as an
                // io::Error (exit 0), not as a serde_json error.
                let mut document = Vec::new();
                crate::render::sanitize::write_json_pretty(
                    &mut document,
                    &TopFrameRecord::from_frame(&frame),
                )?;
                document.push(b'\n');
                out.write_all(&document)?;
            }
            Ok(ExitStatus::Success)
        }
        TopOutput::Jsonl { count } => {
            crate::sys::signal::catch_termination().context("installing signal handlers")?;
            engine.frame(ConnectionDetail::All)?;
            let mut written = 0u64;
            let mut next = Instant::now() + settings.interval;
            // One buffer for every line: a frame lists every connection
            // (megabytes at 30k), and a fresh buffer each refresh would be
            // fresh pages to fault in each time.
            let mut line = Vec::new();
            while count.is_none_or(|count| written < count) {
                if !sleep_until(next) {
                    break;
                }
                next += settings.interval;
                let frame = engine.frame(ConnectionDetail::All)?;
                if written == 0 {
                    report_notes(&frame);
                }
                line.clear();
                crate::render::sanitize::write_json(
                    &mut line,
                    &TopFrameRecord::from_frame(&frame),
                )?;
                line.push(b'\n');
                out.write_all(&line)?;
                out.flush()?;
                written += 1;
            }
            Ok(ExitStatus::Success)
        }
    }
}

/// Sleeps until `deadline` in short steps; false when a termination signal
/// arrived meanwhile.
fn sleep_until(deadline: Instant) -> bool {
    loop {
        if crate::sys::signal::termination_requested() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

/// What the frame could not see, once, on stderr (the scripted outputs).
fn report_notes(frame: &TopFrame) {
    for note in view::notes(frame) {
        warn(&note);
    }
}

/// Sampler, tracker and the close feed, together.
struct Engine {
    sampler: Sampler,
    tracker: Tracker,
    closes: CloseFeed,
}

impl Engine {
    fn new(settings: &TopSettings) -> Self {
        Engine {
            sampler: Sampler::new(settings.query.clone()),
            tracker: Tracker::default(),
            closes: CloseFeed::open(),
        }
    }

    /// One refresh, listing the connections `detail` asks for.
    fn frame(&mut self, detail: ConnectionDetail) -> anyhow::Result<TopFrame> {
        let closed = self.closes.drain();
        let sample =
            self.sampler.sample(&Machine, closed, detail.clients()).context("reading sockets")?;
        Ok(self.tracker.frame(sample, detail, self.closes.capture()))
    }
}

/// Where closes between two refreshes come from: the kernel's sock_diag
/// destroy notifications (the subscription `porthole monitor` uses), read
/// without blocking at each refresh.
struct CloseFeed {
    subscription: Option<crate::inventory::destroy::DestroySubscription>,
    status: ShortLivedCapture,
}

impl CloseFeed {
    fn open() -> Self {
        match crate::inventory::destroy::DestroySubscription::open() {
            Ok(subscription) => {
                CloseFeed { subscription: Some(subscription), status: ShortLivedCapture::Available }
            }
            Err(error) => CloseFeed {
                subscription: None,
                status: ShortLivedCapture::Unavailable {
                    reason: format!(
                        "the kernel's socket-destroy notifications could not be subscribed \
                         ({}; they need CAP_NET_ADMIN)",
                        match std::error::Error::source(&error) {
                            Some(source) => format!("{error}: {source}"),
                            None => error.to_string(),
                        }
                    ),
                },
            },
        }
    }

    /// Every close since the last call, with its final byte counters.
    fn drain(&mut self) -> Vec<TcpCounters> {
        let Some(subscription) = &mut self.subscription else {
            return Vec::new();
        };
        let mut closed = Vec::new();
        if let Err(error) = subscription.drain(&mut closed) {
            self.status = ShortLivedCapture::Unavailable {
                reason: format!("reading socket-destroy notifications failed: {error}"),
            };
            self.subscription = None;
        }
        closed.iter().map(crate::top::closed_counters).collect()
    }

    fn capture(&self) -> ShortLivedCapture {
        self.status.clone()
    }
}

/// Puts the terminal back (cooked mode, main screen, cursor) when dropped.
struct TerminalGuard;

impl TerminalGuard {
    fn enter(out: &mut impl Write) -> anyhow::Result<Self> {
        if let Err(error) = take_terminal(out) {
            restore_terminal();
            return Err(error);
        }
        let guard = TerminalGuard;
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            default_hook(info);
        }));
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// What the terminal sent: a key, a change of its window's size, a request
/// to stop (SIGTSTP), or the end of it.
enum Input {
    Key(KeyEvent),
    Resized,
    StopRequested,
    HungUp,
    /// Nothing within the wait.
    Nothing,
}

/// The terminal's keys and its window's size changes, read by the view's
/// own loop.
///
/// Not crossterm's event reader: its poll is edge-triggered and it returns
/// at the first event it finds, so a key arriving in the same instant as a
/// resize, or whatever followed the first 1,024 bytes of a paste, could stay
/// unread until another key came (crossterm 0.29, `event/source/unix/mio.rs`).
/// Here `poll(2)` is level-triggered: what is not read now is reported again.
/// Bytes are read one at a time, so nothing typed after the key that quits
/// is taken from the shell that gets the terminal back.
struct TerminalInput {
    input: std::fs::File,
    /// Readable after SIGWINCH and SIGTSTP
    /// ([`crate::sys::signal::terminal_signals`]).
    signals: std::fs::File,
    /// Bytes of a key whose end has not been read yet.
    pending: Vec<u8>,
    /// Keys decoded and not yet handed out.
    decoded: std::collections::VecDeque<KeyEvent>,
}

impl TerminalInput {
    fn open() -> anyhow::Result<TerminalInput> {
        Ok(TerminalInput {
            input: terminal_input()?,
            signals: std::fs::File::from(
                crate::sys::signal::terminal_signals()
                    .context("watching the window's size and stop requests")?,
            ),
            pending: Vec::new(),
            decoded: std::collections::VecDeque::new(),
        })
    }

    fn descriptor(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.input)
    }

    /// Waits up to `wait` for the next key or window change.
    fn next(&mut self, wait: Duration) -> std::io::Result<Input> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        loop {
            if let Some(key) = self.decoded.pop_front() {
                return Ok(Input::Key(key));
            }
            // A cut escape sequence gets a moment for its end; after that a
            // lone ESC is the Esc key.
            let wait = if self.pending.is_empty() { wait } else { Duration::from_millis(25) };
            let descriptors = [self.input.as_raw_fd(), self.signals.as_raw_fd()];
            let ready = crate::sys::poll::readable(&descriptors, wait)?;
            if ready[1] {
                let mut drained = [0u8; 64];
                let mut stop = false;
                while let Ok(read @ 1..) = self.signals.read(&mut drained) {
                    stop |= drained[..read].contains(&crate::sys::signal::STOP_REQUESTED);
                }
                // A stop redraws everything once continued, whatever the
                // window's size became meanwhile.
                return Ok(if stop { Input::StopRequested } else { Input::Resized });
            }
            if !ready[0] {
                // The wait ended (or a signal came): flush a cut sequence.
                let (keys, _) = crate::top::keys::decode(&self.pending, false);
                self.pending.clear();
                self.decoded.extend(keys);
                if self.decoded.is_empty() {
                    return Ok(Input::Nothing);
                }
                continue;
            }
            let mut byte = [0u8; 1];
            match self.input.read(&mut byte) {
                Ok(0) => return Ok(Input::HungUp),
                Ok(_) => self.pending.push(byte[0]),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                    ) => {}
                Err(error) => return Err(error),
            }
            let (keys, used) = crate::top::keys::decode(&self.pending, true);
            self.pending.drain(..used);
            self.decoded.extend(keys);
        }
    }
}

/// The terminal keys are read from: stdin when it is one, and otherwise
/// the controlling terminal (the one stdout shows), as crossterm's raw mode
/// chooses.
fn terminal_input() -> anyhow::Result<std::fs::File> {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let input = stdin.as_fd().try_clone_to_owned().context("reading the terminal's keys")?;
        return Ok(std::fs::File::from(input));
    }
    // Without a controlling terminal (`setsid`, a daemon's output sent to
    // a tty) there is no terminal to read keys from.
    std::fs::File::open("/dev/tty").map_err(|error| {
        anyhow::anyhow!(
            "the live view reads its keys from the terminal, and there is none: stdin is not a \
             terminal and porthole has no controlling terminal (/dev/tty: {error}); use --once, \
             --json or --jsonl"
        )
    })
}

/// Raw mode, the alternate screen, no cursor: what [`restore_terminal`]
/// undoes.
fn take_terminal(out: &mut impl Write) -> anyhow::Result<()> {
    terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    crossterm::execute!(out, terminal::EnterAlternateScreen, crossterm::cursor::Hide)
        .context("entering the alternate screen")?;
    Ok(())
}

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let mut stdout = std::io::stdout();
    let _ = crossterm::execute!(stdout, terminal::LeaveAlternateScreen, crossterm::cursor::Show);
}

fn live(
    settings: &TopSettings,
    engine: &mut Engine,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the live view needs a terminal on stdout; use --once, --json or --jsonl");
    }
    // A `TERM=dumb` terminal understands no cursor movement: the full-screen
    // view would arrive as a stream of escape sequences.
    if std::env::var_os("TERM").is_some_and(|term| term == "dumb") {
        anyhow::bail!(
            "the live view needs a terminal that understands cursor movement (TERM=dumb); \
             use --once, --json or --jsonl"
        );
    }
    crate::sys::signal::catch_termination().context("installing signal handlers")?;
    let mut input = TerminalInput::open()?;
    // Raw mode from a background process group stops porthole (SIGTTOU)
    // for good: said here instead, while nothing of the terminal changed.
    if crate::sys::terminal::in_foreground(&input.input) == Some(false) {
        anyhow::bail!(
            "the live view needs the terminal's foreground, and porthole was started in the \
             background (with `&`, or by `timeout` without `--foreground`); run it in the \
             foreground, or use --once, --json or --jsonl"
        );
    }
    let color = Style::detect().color;
    let mut detail = ConnectionDetail::Counts;
    let mut frame = engine.frame(detail)?;
    let guard = TerminalGuard::enter(out)?;
    let backend = ratatui::backend::CrosstermBackend::new(&mut *out);
    let mut terminal = ratatui::Terminal::new(backend).context("starting the terminal view")?;
    let mut view_state = TopView::default();
    view::follow_selection(&frame, &mut view_state);
    // Rows of each list on screen, as the last draw laid them out.
    let mut page = view::Pages::default();
    let mut next_refresh = Instant::now() + settings.interval;
    // Drawn when something changed (a frame, a key, a resize), not at every
    // wake-up: the loop wakes five times a second to notice signals, and
    // laying out the table costs more than an idle wake-up.
    let mut redraw = true;
    loop {
        if redraw {
            terminal.draw(|screen| page = view::draw(screen, &frame, &view_state, color))?;
            redraw = false;
        }
        if crate::sys::signal::termination_requested() {
            break;
        }
        let wait =
            next_refresh.saturating_duration_since(Instant::now()).min(Duration::from_millis(200));
        // Once the terminal hangs up, reads return 0 and it reports itself
        // readable for good: the view ends, and the process with it.
        if crate::sys::poll::terminal_hung_up(input.descriptor(), Duration::ZERO)? {
            break;
        }
        let mut quit = false;
        let mut wait_for_input = wait;
        loop {
            let mut stop = false;
            match input.next(wait_for_input)? {
                Input::Key(key) if key.kind != KeyEventKind::Release => {
                    match handle_key(&mut view_state, key.code, key.modifiers, &frame, page) {
                        Flow::Quit => quit = true,
                        Flow::Stop => stop = true,
                        Flow::Continue => {}
                    }
                    view::follow_selection(&frame, &mut view_state);
                    redraw = true;
                }
                Input::Key(_) => {}
                // The draw uses the new size.
                Input::Resized => redraw = true,
                Input::StopRequested => stop = true,
                Input::HungUp => quit = true,
                Input::Nothing => break,
            }
            if stop {
                if !stop_and_resume(&mut terminal, &input)? {
                    quit = true;
                }
                redraw = true;
            }
            if quit {
                break;
            }
            // Then whatever else is there already.
            wait_for_input = Duration::ZERO;
        }
        if quit {
            break;
        }
        let due = Instant::now() >= next_refresh;
        if !due && !redraw {
            continue;
        }
        // Only the expanded row's connections are listed: opening it, or
        // moving to another row while open, refreshes at once (closing it
        // waits for the next refresh).
        let wanted = match view::visible_rows(&frame, &view_state)
            .get(view_state.selected)
            .filter(|_| view_state.expanded)
            .and_then(|row| row.socket.local)
        {
            Some(address) => ConnectionDetail::Listener(address),
            None => ConnectionDetail::Counts,
        };
        let listing_changed = wanted != detail && wanted != ConnectionDetail::Counts;
        if due || listing_changed {
            detail = wanted;
            frame = engine.frame(detail)?;
            view::follow_selection(&frame, &mut view_state);
            next_refresh = Instant::now() + settings.interval;
            redraw = true;
        }
    }
    // A terminal that hung up takes no writes: ratatui's drop would report
    // the failed cursor restore on that same terminal, and that report
    // failing too is a panic. Shown here, a failure is left unsaid.
    if terminal.show_cursor().is_ok() {
        drop(terminal);
    } else {
        std::mem::forget(terminal);
    }
    drop(guard);
    Ok(ExitStatus::Success)
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
    /// Ctrl-Z: stop as a shell job, as the key does in a cooked terminal.
    Stop,
}

/// Gives the terminal back as it was (cooked mode, the main screen, the
/// cursor), stops porthole as SIGTSTP would, and once it is continued in
/// the terminal's foreground takes the terminal again; the next draw
/// repaints all of it. Continued in the background (`bg`), it stops again
/// as the kernel stops a background process that would change the
/// terminal's modes, until `fg`. False when a termination signal came
/// meanwhile (the view then ends, its terminal already restored).
fn stop_and_resume<W: Write>(
    terminal: &mut ratatui::Terminal<ratatui::backend::CrosstermBackend<W>>,
    input: &TerminalInput,
) -> anyhow::Result<bool> {
    restore_terminal();
    crate::sys::signal::stop_now().context("stopping")?;
    loop {
        if crate::sys::signal::termination_requested() {
            return Ok(false);
        }
        if crate::sys::terminal::in_foreground(&input.input) != Some(false) {
            break;
        }
        crate::sys::signal::stop_for_terminal();
        // Where the stop is discarded (an orphaned process group), wait
        // for the foreground without spinning.
        std::thread::sleep(Duration::from_millis(100));
    }
    take_terminal(&mut std::io::stdout())?;
    terminal.clear().context("redrawing the terminal view")?;
    Ok(true)
}

/// Applies one key press to the view; `page` is how many rows of each list
/// the screen shows.
fn handle_key(
    view_state: &mut TopView,
    code: KeyCode,
    modifiers: KeyModifiers,
    frame: &TopFrame,
    page: view::Pages,
) -> Flow {
    if modifiers.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('c') {
        return Flow::Quit;
    }
    if modifiers.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('z') {
        return Flow::Stop;
    }
    if view_state.editing_filter {
        match code {
            KeyCode::Enter => view_state.editing_filter = false,
            KeyCode::Esc => {
                view_state.editing_filter = false;
                view_state.filter.clear();
            }
            KeyCode::Backspace => {
                view_state.filter.pop();
            }
            KeyCode::Char(character) if !character.is_control() => {
                view_state.filter.push(character);
                view_state.selected = 0;
                view_state.selected_listener = None;
                view_state.reset_connections();
            }
            _ => {}
        }
        return Flow::Continue;
    }
    if view_state.expanded && view_state.connections_focused {
        let count = view::visible_rows(frame, view_state)
            .get(view_state.selected)
            .map_or(0, |row| row.connections.len());
        let current = view_state.connection_selected;
        let shown = page.connections.max(1);
        if matches!(code, KeyCode::PageUp | KeyCode::PageDown) {
            view_state.page_connections(code == KeyCode::PageDown, count, shown);
            return Flow::Continue;
        }
        let moved = match code {
            KeyCode::Up | KeyCode::Char('k') => Some(current.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => Some(current.saturating_add(1)),
            KeyCode::Home => Some(0),
            KeyCode::End => Some(usize::MAX),
            _ => None,
        };
        if let Some(index) = moved {
            view_state.select_connection(index, count, shown);
            return Flow::Continue;
        }
        if matches!(code, KeyCode::Tab | KeyCode::Esc) {
            view_state.connections_focused = false;
            return Flow::Continue;
        }
    }
    let rows = view::visible_rows(frame, view_state).len();
    let last = rows.saturating_sub(1);
    let current = view_state.selected;
    let shown = page.listeners.max(1);
    // A key that moves the selection moves it off the listener it was on.
    let select = |view_state: &mut TopView, index: usize| {
        view_state.selected = index.min(last);
        view_state.show_selected_listener(rows, shown);
        view_state.selected_listener = None;
        view_state.reset_connections();
    };
    match code {
        KeyCode::Char('q') => return Flow::Quit,
        KeyCode::Esc if view_state.expanded => {
            view_state.expanded = false;
            view_state.reset_connections();
        }
        KeyCode::Esc => view_state.filter.clear(),
        KeyCode::Char('/') => view_state.editing_filter = true,
        KeyCode::Enter => {
            view_state.expanded = !view_state.expanded;
            view_state.reset_connections();
        }
        KeyCode::Tab if view_state.expanded && rows > 0 => view_state.connections_focused = true,
        KeyCode::Up | KeyCode::Char('k') => select(view_state, current.saturating_sub(1)),
        KeyCode::Down | KeyCode::Char('j') => select(view_state, current + 1),
        KeyCode::PageUp | KeyCode::PageDown => {
            view_state.page_listeners(code == KeyCode::PageDown, rows, shown);
            view_state.selected_listener = None;
            view_state.reset_connections();
        }
        KeyCode::Home => select(view_state, 0),
        KeyCode::End => select(view_state, last),
        KeyCode::Char(letter) => {
            if let Some(sort) = SortKey::from_key(letter) {
                if view_state.sort == sort {
                    view_state.descending = !view_state.descending;
                } else {
                    view_state.sort = sort;
                    // Rates and counts read best largest first.
                    view_state.descending = !matches!(sort, SortKey::Port | SortKey::Process);
                }
            }
        }
        _ => {}
    }
    Flow::Continue
}
