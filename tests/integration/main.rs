//! The one integration-test binary: drives the real HTTP API on 127.0.0.1:0 with the
//! process backend, real borg and real ssh-keygen, each test in its own temp tree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod activation;
mod alerts;
mod archives;
mod auth_and_errors;
mod behaviour;
mod borg_versions;
mod capacity;
mod config;
mod console;
mod hostile;
mod jobs;
mod keys;
mod openapi;
mod repos;
mod schedules;
mod server;
mod tls;
