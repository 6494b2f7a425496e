//! borgbox: host Borg backup repositories on your own Linux server, managed over a REST
//! API (../shared/API.md) by a socket-activated systemd service.

pub mod activity;
pub mod alerts;
pub mod api;
pub mod borg;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod files;
pub mod jobs;
pub mod journal;
pub mod json_array;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod repos;
pub mod schedules;
pub mod serve;
pub mod state_dir;
pub mod sysinfo;
pub mod systemd;
pub mod tls;

#[cfg(test)]
mod seams;
