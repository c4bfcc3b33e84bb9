//! The mTLS resolution engine (filled in by the engine work).
