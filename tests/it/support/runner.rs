//! The test runner: it knows which tests could not run.
//!
//! The integration tests run under `libtest-mimic` instead of libtest, so a
//! test whose PostgreSQL is not on this machine is reported as *ignored*,
//! with the reason, never as passed. With `CI` set it fails instead: CI
//! must run every supported major.
//!
//! A test file lists its tests in a `tests()` function; a test function
//! that is not listed is dead code, which the lints refuse.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use libtest_mimic::{Completion, Failed, Trial};

use super::fleet::Admin;

/// Why a test could not run: the PostgreSQL binaries it asked for are not
/// on this machine. Raised (as a panic payload) by [`skip`].
#[derive(Debug)]
struct Skip(String);

/// Ends the running test as ignored because it needs `what`, or fails it
/// when `CI` is set.
pub fn skip(what: &str) -> ! {
    assert!(std::env::var_os("CI").is_none(), "CI is set, and this test needs {what}");
    panic::panic_any(Skip(format!("needs {what}")))
}

/// One test: its name as `file::function`, and what it runs.
pub fn trial(module: &str, name: &str, run: impl FnOnce() + Send + 'static) -> Trial {
    let file = module.rsplit("::").next().unwrap_or(module);
    Trial::ignorable_test(format!("{file}::{name}"), move || {
        match panic::catch_unwind(AssertUnwindSafe(run)) {
            Ok(()) => Ok(Completion::Completed),
            Err(payload) => match payload.downcast::<Skip>() {
                Ok(skip) => Ok(Completion::ignored_with(skip.0)),
                Err(payload) => Err(Failed::from(panic_message(payload.as_ref()))),
            },
        }
    })
}

/// The test once per supported major from `oldest` on and per admin shape
/// (see [`super::fleet::every_setup`]), each its own trial:
/// `file::function::pg13_createrole`.
pub fn for_every_setup(module: &str, name: &str, oldest: u32, run: fn(Admin, u32)) -> Vec<Trial> {
    super::fleet::every_setup()
        .into_iter()
        .filter(|(_, major)| *major >= oldest)
        .map(|(admin, major)| {
            let shape = match admin {
                Admin::Superuser => "superuser",
                Admin::CreateRole => "createrole",
            };
            trial(module, &format!("{name}::pg{major}_{shape}"), move || run(admin, major))
        })
        .collect()
}

/// The test twice: on a local store file (`file::function`) and on a team
/// store (`file::function::team`).
pub fn on_both_stores(module: &str, name: &str, run: fn()) -> Vec<Trial> {
    vec![
        trial(module, name, run),
        trial(module, &format!("{name}::team"), move || super::team::in_team_mode(run)),
    ]
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "the test panicked".to_owned()
    }
}

/// Runs `tests` as `cargo test` would run libtest's, with its options.
pub fn main(tests: Vec<Trial>) -> ! {
    // A skip is not a failure: keep the panic hook quiet about it.
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<Skip>().is_none() {
            report(info);
        }
    }));
    let conclusion = libtest_mimic::run(&libtest_mimic::Arguments::from_args(), tests);
    super::team::stop_shared();
    super::cluster::remove_templates();
    conclusion.exit()
}

/// `test!(function)`: the trial for a test function of this file.
macro_rules! test {
    ($name:ident) => {
        $crate::support::runner::trial(module_path!(), stringify!($name), $name)
    };
}

/// `every_setup!(function)`: a `fn(Admin, u32)` run for every supported
/// major with each admin shape; `every_setup!(function, 15)` from 15 on,
/// for a feature older majors do not have.
macro_rules! every_setup {
    ($name:ident) => {
        every_setup!($name, 0)
    };
    ($name:ident, $oldest:literal) => {
        $crate::support::runner::for_every_setup(module_path!(), stringify!($name), $oldest, $name)
    };
}

/// `both_stores!(function)`: the test on a local file and on a team store.
macro_rules! both_stores {
    ($name:ident) => {
        $crate::support::runner::on_both_stores(module_path!(), stringify!($name), $name)
    };
}

pub(crate) use {both_stores, every_setup, test};
