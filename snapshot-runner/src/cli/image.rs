//! `image build-default | build --debian | add | warm | ls | verify | rm`.

use anyhow::Result;
use snaprun::debian::DebianSpec;
use snaprun::image_build::Built;
use snaprun::ops::{self, ImageEvent};
use snaprun::store::{ImageSpec, Store};
use snaprun::warm::{WarmOptions, Warmed};

use super::report::print_json;
use super::text::{human_bytes, line, secs, short};
use super::{EXIT_PASSED, ImageCommand, agent_path, interrupt_token};

pub fn image(store: &Store, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::BuildDefault { force } => {
            let cancel = interrupt_token()?;
            eprintln!(
                "snaprun: building the built-in image `default` (host kernel, busybox, glibc, \
                 agent)..."
            );
            let built = ops::build_default(store, &agent_path()?, force, &cancel, &mut |_| {})?;
            match built {
                Built::Cached(m) => eprintln!(
                    "snaprun: image `default` is up to date ({})",
                    short(&m.hash)
                ),
                Built::Fresh(m) => {
                    eprintln!("snaprun: image `default` built ({})", short(&m.hash))
                }
            }
        }
        ImageCommand::Add {
            name,
            disk,
            kernel,
            initrd,
            append,
            memory,
            cpus,
            agent,
        } => {
            let spec = ImageSpec {
                disk,
                kernel,
                initrd,
                append,
                memory_mib: Some(memory),
                cpus: Some(cpus),
                origin: None,
                agent,
            };
            let m = ops::add_image(store, &name, &spec)?;
            println!("added image `{}` ({})", line(&m.name), short(&m.hash));
        }
        ImageCommand::Ls { json } => {
            let list = ops::images(store)?;
            if json {
                print_json(&list.images)?;
            } else if list.images.is_empty() {
                println!("no images; build the built-in one with `snaprun image build-default`");
            } else {
                println!(
                    "{:<16} {:<13} {:>10} {:>6} {:>5}  {:<20} {:<8} {:<18} KERNEL",
                    "NAME", "HASH", "DISK", "MEM", "CPUS", "CREATED", "AGENT", "WARM"
                );
                for m in &list.images {
                    println!(
                        "{:<16} {:<13} {:>10} {:>6} {:>5}  {:<20} {:<8} {:<18} {}",
                        line(&m.name),
                        short(&m.hash),
                        human_bytes(m.disk.size),
                        format!("{}M", m.memory_mib),
                        m.cpus,
                        line(&m.created),
                        m.agent.as_str(),
                        m.warm
                            .as_ref()
                            .map(|w| format!("{} {}", line(&w.accel), human_bytes(w.state.size)))
                            .unwrap_or_else(|| "-".into()),
                        if m.kernel.is_some() {
                            "yes"
                        } else {
                            "(boots from disk)"
                        }
                    );
                }
            }
            if list.retired > 0 && !json {
                println!(
                    "({} replaced image(s) kept to reproduce the failures of batches that ran on \
                     them)",
                    list.retired
                );
            }
        }
        ImageCommand::Warm {
            name,
            as_name,
            accel,
            force,
            boot_timeout,
        } => {
            let cancel = interrupt_token()?;
            let opts = WarmOptions {
                image: name,
                as_name,
                accel,
                boot_timeout,
                force,
            };
            let target = line(opts.target()).into_owned();
            eprintln!(
                "snaprun: booting image `{}` to save its running state...",
                line(&opts.image)
            );
            match ops::warm_image(store, &opts, &cancel, &mut |_| {})? {
                Warmed::Cached { manifest } => println!(
                    "image `{target}` already has a valid warm state ({}); --force saves a new one",
                    short(&manifest.warm.map(|w| w.hash).unwrap_or_default())
                ),
                Warmed::Fresh { manifest, boot_ms } => {
                    if let Some(w) = &manifest.warm {
                        println!(
                            "image `{target}` is warm ({}): booted in {}, state {} + disk layer \
                             {}; `snaprun run --image {target}` restores it for every iteration",
                            short(&w.hash),
                            secs(boot_ms),
                            human_bytes(w.state.size),
                            human_bytes(w.layer.size)
                        );
                    }
                }
            }
        }
        ImageCommand::Build {
            name,
            debian: suite,
            packages,
            mirror,
            size,
            memory,
            cpus,
            force,
        } => {
            let cancel = interrupt_token()?;
            let spec = DebianSpec {
                suite,
                packages: packages.into_iter().filter(|p| !p.is_empty()).collect(),
                mirror,
                size,
                memory_mib: memory,
                cpus,
            };
            let built = ops::build_debian(store, &name, &spec, force, &cancel, &mut |e| {
                if let ImageEvent::Step { message, .. } = e {
                    eprintln!("snaprun: {}", line(&message))
                }
            })?;
            let name = line(&name);
            match built {
                Built::Cached(m) => println!(
                    "image `{name}` is up to date ({}); --force rebuilds it",
                    short(&m.hash)
                ),
                Built::Fresh(m) => println!(
                    "built image `{name}` ({}, {}): Debian {}, driven through qemu-guest-agent",
                    short(&m.hash),
                    human_bytes(m.disk.size),
                    line(&spec.suite)
                ),
            }
        }
        ImageCommand::Verify { name } => {
            let m = ops::verify_image(store, &name)?;
            println!("image `{}` is intact ({})", line(&name), short(&m.hash));
        }
        ImageCommand::Rm { name } => {
            ops::remove_image(store, &name)?;
            println!("removed image `{}`", line(&name));
        }
    }
    Ok(EXIT_PASSED)
}
