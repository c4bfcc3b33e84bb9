//! Scenario tests of the engine.
