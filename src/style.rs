//! Colour: `--color auto|always|never`, `NO_COLOR` honoured, colour only on a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use owo_colors::OwoColorize;

/// The `--color` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set
    #[default]
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Decides whether colour is on, from the flag, `NO_COLOR` and whether stdout is a terminal.
pub fn decide(choice: ColorChoice, no_color: Option<&str>, stdout_is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_tty && no_color.is_none_or(str::is_empty),
    }
}

/// Sets the process-wide colour decision.
pub fn init(choice: ColorChoice) {
    let no_color = std::env::var("NO_COLOR").ok();
    set(decide(
        choice,
        no_color.as_deref(),
        std::io::stdout().is_terminal(),
    ));
}

/// Forces colour on or off (tests, renderers writing to buffers).
pub fn set(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether colour is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The colour roles used across the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Good: STRICT, ready, pass.
    Good,
    /// Caution: PERMISSIVE, warnings.
    Warn,
    /// Bad: DISABLE, errors, failures.
    Bad,
    /// De-emphasised text.
    Dim,
    /// Headers.
    Header,
    /// Lines added in a diff.
    Added,
    /// Lines removed in a diff.
    Removed,
}

/// Paints `text` in `role` when colour is on; returns it unchanged otherwise.
pub fn paint(text: &str, role: Role) -> String {
    if !enabled() {
        return text.to_string();
    }
    match role {
        Role::Good | Role::Added => text.green().to_string(),
        Role::Warn => text.yellow().to_string(),
        Role::Bad | Role::Removed => text.red().to_string(),
        Role::Dim => text.dimmed().to_string(),
        Role::Header => text.bold().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_needs_a_tty_and_no_no_color() {
        assert!(decide(ColorChoice::Auto, None, true));
        assert!(!decide(ColorChoice::Auto, None, false));
        assert!(!decide(ColorChoice::Auto, Some("1"), true));
        assert!(decide(ColorChoice::Auto, Some(""), true));
        assert!(decide(ColorChoice::Always, Some("1"), false));
        assert!(!decide(ColorChoice::Never, None, true));
    }
}
