//! Template model and condition evaluation (being written).
