//! Cluster I/O.
