//! `repro` in a terminal: the user's terminal setting (a command that runs the words after it
//! in a new terminal window, such as `x-terminal-emulator -e` or `gnome-terminal --`), then
//! `sh -c` with the repro command, which waits for Enter at the end so its result stays
//! readable. Off while the setting is empty.

use std::process::{Command, Stdio};

use crate::error::{AppError, ErrorKind, Result};

/// What the terminal is given after the setting's words: the command, then a pause.
pub fn script(repro: &str) -> String {
    format!(
        "{repro}; status=$?; echo; echo \"snaprun repro exited with status $status; press Enter \
         to close\"; read -r _"
    )
}

/// The program and arguments that open `repro` in the terminal `setting` names.
pub fn command_line(setting: &str, repro: &str) -> Result<Vec<String>> {
    let words = shlex::split(setting).ok_or_else(|| {
        AppError::new(
            ErrorKind::Invalid,
            format!(
                "the terminal setting `{setting}` does not split into words (an unclosed quote?); \
                 correct it, e.g. `x-terminal-emulator -e`"
            ),
        )
    })?;
    if words.is_empty() {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "no terminal is set: type the command that opens one (e.g. `x-terminal-emulator -e`) \
             in the terminal setting, or copy the repro command",
        ));
    }
    let mut line = words;
    line.extend(["sh".to_string(), "-c".to_string(), script(repro)]);
    Ok(line)
}

/// Opens `repro` in the terminal `setting` names; the window is the user's from then on (the
/// app only reaps its process when it ends).
pub fn open(setting: &str, repro: &str) -> Result<()> {
    let line = command_line(setting, repro)?;
    let (program, args) = line
        .split_first()
        .ok_or_else(|| AppError::failed("the terminal command is empty"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            AppError::failed(format!(
                "cannot start the terminal `{program}` ({e}); check the terminal setting, e.g. \
                 `x-terminal-emulator -e`"
            ))
        })?;
    std::thread::Builder::new()
        .name("terminal-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        })
        .map_err(|e| AppError::failed(format!("cannot wait for the terminal: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_s_words_come_first_then_the_repro_script() {
        let line = command_line("x-terminal-emulator -e", "snaprun repro b 3").unwrap();
        assert_eq!(line[..4], ["x-terminal-emulator", "-e", "sh", "-c"]);
        assert!(
            line[4].starts_with("snaprun repro b 3; status=$?"),
            "{}",
            line[4]
        );
        let quoted = command_line("'/opt/my term/bin/term' --", "x").unwrap();
        assert_eq!(quoted[..2], ["/opt/my term/bin/term", "--"]);
        assert_eq!(
            command_line("  ", "x").unwrap_err().kind,
            ErrorKind::Invalid
        );
        assert_eq!(
            command_line("'open", "x").unwrap_err().kind,
            ErrorKind::Invalid
        );
    }

    #[test]
    fn the_script_runs_the_command_and_says_how_it_ended() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script("echo ran; exit 3"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // `exit 3` ends the script itself: the repro command is the user's, run as written.
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
        let out = Command::new("sh")
            .arg("-c")
            .arg(script("false"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("exited with status 1"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn a_missing_terminal_is_named() {
        let e = open("/no/such/terminal -e", "true").unwrap_err();
        assert!(e.message.contains("/no/such/terminal"), "{}", e.message);
    }
}
