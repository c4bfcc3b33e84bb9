//! Typed Istio resources (filled in by the engine work).
