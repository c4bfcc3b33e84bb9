//! Errors shown to the user: one line, `error: ...`.
