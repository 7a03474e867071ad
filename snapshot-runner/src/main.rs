//! The `snaprun` command: argument parsing and printing over the `snaprun` library.

mod cli;

fn main() {
    // A bug must still end in a message and exit code 2, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "snaprun: internal error: {info}\nplease report this at the Retrace issue tracker"
        );
    }));
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("snaprun: error: {e:#}");
            cli::EXIT_ERROR
        }
        Err(_) => cli::EXIT_ERROR,
    };
    std::process::exit(code);
}
