//! The `snaprun` command: argument parsing and printing over the `snaprun` library.

mod cli;

fn main() {
    // `snaprun ls | head`: end quietly when the reader goes away, as other Unix tools do,
    // instead of failing on every write to a closed pipe.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // A bug must still end in a message and exit code 2, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "snaprun: internal error: {info}\nplease report this at the Retrace issue tracker"
        );
    }));
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => cli::report(&e),
        Err(_) => cli::EXIT_ERROR,
    };
    std::process::exit(code);
}
