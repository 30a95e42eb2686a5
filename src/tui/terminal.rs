//! Entering and leaving the full-screen terminal, on every exit path.
//!
//! `TerminalGuard` restores the terminal when dropped (normal quit, `?` errors); the
//! panic hook restores it before the panic message is printed; SIGTERM, SIGHUP, SIGINT
//! and SIGQUIT arrive as messages that end the loop, so the guard runs for them too.
//!
//! A panic in a background task (a fetch, an action) does not unwind the loop: tokio
//! catches it. The hook then records it and wakes the loop, which stops drawing (the
//! terminal is already restored) and ends sphere with the panic's message.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use anyhow::{Context, Result};
use crossterm::{
    cursor,
    event::{DisableBracketedPaste, EnableBracketedPaste},
    execute,
    terminal::{self, EnterAlternateScreen, LeaveAlternateScreen},
};
use ratatui::{Terminal, backend::CrosstermBackend};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Whether sphere holds the terminal now. Leaving the alternate screen twice would
/// restore a stale cursor position over whatever was printed in between (a panic
/// message), so `restore` acts only once per `enter`.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Put the terminal into raw mode on the alternate screen.
pub fn enter() -> Result<()> {
    ENTERED.store(true, Ordering::SeqCst);
    terminal::enable_raw_mode().context("could not switch the terminal to raw mode")?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )
    .context("could not enter the alternate screen")?;
    Ok(())
}

/// Give the terminal back as it was. Safe to call more than once.
pub fn restore() {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = io::stdout().flush();
}

/// Restores the terminal when dropped.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    pub fn new() -> Result<TerminalGuard> {
        install_panic_hook();
        enter()?;
        let terminal =
            Terminal::new(CrosstermBackend::new(io::stdout())).context("terminal setup failed")?;
        Ok(TerminalGuard { terminal })
    }

    /// ctrl-z: give the terminal back, stop the process, and take the terminal again
    /// when the shell continues us.
    pub fn suspend(&mut self) -> Result<()> {
        restore();
        // SAFETY: raising a signal on our own process; SIGTSTP's default action stops
        // the process until SIGCONT, after which `raise` returns.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        enter()?;
        self.reset()
    }

    /// Clear the screen and forget what was drawn, so the next frame is drawn whole.
    /// (A fresh `Terminal` rather than `Terminal::clear`, which may query the cursor
    /// position while the input task owns stdin.)
    pub fn reset(&mut self) -> Result<()> {
        execute!(io::stdout(), terminal::Clear(terminal::ClearType::All))
            .context("could not clear the screen")?;
        self.terminal =
            Terminal::new(CrosstermBackend::new(io::stdout())).context("terminal setup failed")?;
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// The first panic seen while sphere held the terminal: where and what.
static PANICKED: Mutex<Option<String>> = Mutex::new(None);

/// Called by the panic hook after it restored the terminal, to wake the loop.
static ON_PANIC: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Wake the loop with `wake` when any thread panics while the TUI runs (set once).
pub fn on_panic(wake: impl Fn() + Send + Sync + 'static) {
    let _ = ON_PANIC.set(Box::new(wake));
}

/// The panic that ended sphere's hold on the terminal, if one did.
pub fn panicked() -> Option<String> {
    PANICKED.lock().ok().and_then(|p| p.clone())
}

/// Whether sphere holds the terminal now (false after a panic restored it).
pub fn entered() -> bool {
    ENTERED.load(Ordering::SeqCst)
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let held = entered();
            restore();
            previous(info);
            if !held {
                return;
            }
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            let what = match info.location() {
                Some(l) => format!("{payload} (at {}:{})", l.file(), l.line()),
                None => payload,
            };
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("?"),
                "panic: {what}; sphere ends"
            );
            if let Ok(mut p) = PANICKED.lock()
                && p.is_none()
            {
                *p = Some(what);
            }
            if let Some(wake) = ON_PANIC.get() {
                wake();
            }
        }));
    });
}
