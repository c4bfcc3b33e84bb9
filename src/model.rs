//! The pure model (filled in by the engine work).
