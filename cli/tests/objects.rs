//! `list`, `list --long`, `stat`, `gc` and `rm` with a semaphore and a
//! barrier among the segments: each is listed with its kind, `stat` shows
//! it, `gc` leaves it alone and `rm` removes it.

mod support;

use std::process::Command;

use support::*;

#[test]
fn semaphores_and_barriers_are_listed_shown_and_removed() {
    let sem = TestQueue::new("sem");
    let bar = TestQueue::new("bar");
    let semaphore = shmq::Semaphore::create(&sem.name, 3).unwrap();
    let permit = semaphore.acquire();
    let barrier = shmq::Barrier::create(&bar.name, 2).unwrap();
    let member = barrier.join().unwrap();

    let out = run(Command::new(SHMQ).arg("list"), b"");
    assert_ok(&out);
    let names = String::from_utf8(out.stdout).unwrap();
    assert!(names.lines().any(|l| l == sem.name), "{names}");
    assert!(names.lines().any(|l| l == bar.name), "{names}");

    let out = run(Command::new(SHMQ).args(["list", "--long"]), b"");
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(
        row(&sem.name).ends_with("semaphore: 2 of 3 permits free"),
        "{table}"
    );
    assert!(
        row(&bar.name).ends_with("barrier: 1 of 2 members joined, generation 0"),
        "{table}"
    );

    let pid = std::process::id();
    assert_eq!(
        sem.stat_json(),
        format!(
            "{{\"name\":\"{}\",\"kind\":\"semaphore\",\"permits\":3,\"available\":2,\
             \"holders\":[{pid}]}}\n",
            sem.name
        )
    );
    assert!(sem.stat_text().contains(&format!("pid {pid}")));
    assert_eq!(
        bar.stat_json(),
        format!(
            "{{\"name\":\"{}\",\"kind\":\"barrier\",\"members\":2,\"joined\":1,\
             \"generation\":0,\"broken\":false}}\n",
            bar.name
        )
    );

    // gc judges queues only.
    let out = run(
        Command::new(SHMQ).args(["gc", "--dry-run", "--older-than", "0s"]),
        b"",
    );
    assert_ok(&out);
    let gc = String::from_utf8(out.stdout).unwrap();
    assert!(!gc.contains(&sem.name) && !gc.contains(&bar.name), "{gc}");

    let out = run(Command::new(SHMQ).args(["rm", &sem.name, &bar.name]), b"");
    assert_ok(&out);
    assert!(!sem.path().exists() && !bar.path().exists());
    drop((permit, member));
}
