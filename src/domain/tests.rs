//! Domain rules without HTTP.
