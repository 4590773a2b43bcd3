//! The store file as the operating system sees it, checked before SQLite
//! opens it: a regular file (a FIFO, a device or a directory is refused
//! without ever blocking on it), that belongs to us, that no other user can
//! write, in directories no other user can write or own. These are ssh's
//! rules for a private key, with one addition: a directory with the sticky
//! bit (`/tmp`) is accepted, since no one else can replace our file in it.
//! Symbolic links are followed and their target is checked, as ssh and
//! libpq do. Root's files and directories are trusted, as in ssh.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Access, AtFlags, CWD, Mode, OFlags};

use super::Error;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Permission bits that let the group or everyone else write.
const WRITABLE_BY_OTHERS: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// What a store file holds, once it has passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Contents {
    /// Zero bytes: no store has been written there yet.
    Empty,
    /// A SQLite database (whose owner is checked next).
    Sqlite,
}

/// Why a store path is refused before SQLite opens it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error("it is a symbolic link to {} which does not exist", .0.display())]
    Dangling(PathBuf),
    #[error("it belongs to uid {owner}, not to you (uid {me})")]
    FileOwner { owner: u32, me: u32 },
    #[error("other users can write it (mode {mode:04o})")]
    FileWritable { mode: u32 },
    #[error(
        "{} on its way belongs to uid {owner}, not to you (uid {me}) or root",
        dir.display()
    )]
    DirOwner { dir: PathBuf, owner: u32, me: u32 },
    #[error(
        "other users can write {} (mode {mode:04o}, without the sticky bit), and so replace \
         what is in it",
        dir.display()
    )]
    DirWritable { dir: PathBuf, mode: u32, mine: bool },
}

impl Unsafe {
    /// What the user can do about it.
    pub fn hint(&self, path: &Path) -> String {
        let file = crate::registry::shell_word(&path.to_string_lossy());
        match self {
            Unsafe::NotAFile(_) | Unsafe::Dangling(_) => {
                "point --registry (PGACCT_REGISTRY) at a registry file".into()
            }
            Unsafe::FileOwner { .. } => format!(
                "pgacct uses only a registry of the user who runs it; if {file} is to be \
                 trusted, have its owner hand it over, or use another --registry"
            ),
            Unsafe::FileWritable { .. } => format!("chmod 600 {file}"),
            Unsafe::DirOwner { .. } => {
                "keep the registry in a directory of your own, e.g. the default location".into()
            }
            Unsafe::DirWritable { dir, mine, .. } => {
                let dir = crate::registry::shell_word(&dir.to_string_lossy());
                if *mine {
                    format!("chmod 700 {dir}")
                } else {
                    format!("chmod go-w {dir}, or keep the registry in a directory of your own")
                }
            }
        }
    }
}

/// Checks what is at `path` and reads its first bytes, without opening
/// anything but a regular file: `None` when there is nothing there.
pub(super) fn inspect(path: &Path) -> Result<Option<Contents>, Error> {
    let io_err = |source| Error::Io { path: path.to_owned(), source };
    let refuse = |problem| Error::Unsafe { path: path.to_owned(), problem };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return match std::fs::read_link(path) {
                Ok(target) => Err(refuse(Unsafe::Dangling(target))),
                Err(_) => Ok(None),
            };
        }
        Err(err) => return Err(io_err(err)),
    };
    if let Some(what) = not_a_file(&meta) {
        return Err(refuse(Unsafe::NotAFile(what)));
    }
    // O_NONBLOCK: should a FIFO be swapped in after the check, opening it
    // returns at once instead of waiting for a writer.
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| io_err(e.into()))?;
    let mut file = File::from(fd);
    let opened = file.metadata().map_err(io_err)?;
    if let Some(what) = not_a_file(&opened) {
        return Err(refuse(Unsafe::NotAFile(what)));
    }
    check_owner_and_mode(&opened).map_err(refuse)?;
    let real = std::fs::canonicalize(path).map_err(io_err)?;
    if let Some(dir) = real.parent() {
        check_directories(dir).map_err(refuse)?;
    }
    let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
    file.by_ref().take(SQLITE_MAGIC.len() as u64).read_to_end(&mut header).map_err(io_err)?;
    if header.is_empty() {
        Ok(Some(Contents::Empty))
    } else if header == SQLITE_MAGIC {
        Ok(Some(Contents::Sqlite))
    } else {
        Err(Error::NotARegistry { path: path.to_owned(), reason: "not a SQLite database" })
    }
}

/// Before a store is created at `path`: the nearest directory on its way
/// that exists must be one no other user can write or own.
pub(super) fn check_place(path: &Path) -> Result<(), Error> {
    let refuse = |problem| Error::Unsafe { path: path.to_owned(), problem };
    let absolute = std::path::absolute(path).map_err(io(path))?;
    let Some(existing) = absolute.ancestors().skip(1).find(|dir| dir.exists()) else {
        return Ok(());
    };
    let real = std::fs::canonicalize(existing).map_err(io(path))?;
    check_directories(&real).map_err(refuse)
}

/// Whether this process may create files in the directory of `path` and
/// write `path` itself (the effective user, as the kernel would decide).
pub(super) fn may_write(path: &Path) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else { return false };
    let path = path.as_path();
    let dir = path.parent().unwrap_or(Path::new("/"));
    let may = |p: &Path, access| rustix::fs::accessat(CWD, p, access, AtFlags::EACCESS).is_ok();
    may(dir, Access::WRITE_OK | Access::EXEC_OK) && may(path, Access::WRITE_OK)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    |source| Error::Io { path: path.to_owned(), source }
}

fn not_a_file(meta: &Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn check_owner_and_mode(file: &Metadata) -> Result<(), Unsafe> {
    judge_file(file.uid(), file.permissions().mode(), me())
}

/// Checks `dir` (a canonical path) and every directory above it.
fn check_directories(dir: &Path) -> Result<(), Unsafe> {
    let me = me();
    for dir in dir.ancestors() {
        // Every directory above an existing path can be looked at: the
        // path was reached through them.
        let Ok(meta) = std::fs::metadata(dir) else { continue };
        judge_directory(dir, meta.uid(), meta.permissions().mode(), me)?;
    }
    Ok(())
}

/// A store file must be ours (or root's), and only its owner may write it.
fn judge_file(owner: u32, mode: u32, me: u32) -> Result<(), Unsafe> {
    if owner != me && owner != 0 {
        return Err(Unsafe::FileOwner { owner, me });
    }
    let mode = mode & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(Unsafe::FileWritable { mode });
    }
    Ok(())
}

/// A directory on the way to a store file must be ours (or root's), and
/// no one else may replace what is in it: not writable by others, unless
/// sticky (then others may add files, but not rename or remove ours).
fn judge_directory(dir: &Path, owner: u32, mode: u32, me: u32) -> Result<(), Unsafe> {
    if owner != me && owner != 0 {
        return Err(Unsafe::DirOwner { dir: dir.to_owned(), owner, me });
    }
    let mode = mode & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 && mode & STICKY == 0 {
        return Err(Unsafe::DirWritable { dir: dir.to_owned(), mode, mine: owner == me });
    }
    Ok(())
}

/// Makes a FIFO at `path`, for tests.
#[cfg(test)]
pub(super) fn make_fifo(path: &Path) {
    rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(0o600)).expect("a FIFO");
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn owners_and_modes_are_judged_as_ssh_does_with_sticky_directories_allowed() {
        let me = 1000;
        assert_eq!(judge_file(me, 0o100_600, me), Ok(()));
        assert_eq!(judge_file(me, 0o100_644, me), Ok(()), "others may read it");
        assert_eq!(judge_file(0, 0o100_644, me), Ok(()), "root is trusted");
        assert_eq!(judge_file(1001, 0o100_600, me), Err(Unsafe::FileOwner { owner: 1001, me }));
        assert_eq!(judge_file(me, 0o100_620, me), Err(Unsafe::FileWritable { mode: 0o620 }));
        assert_eq!(judge_file(me, 0o100_602, me), Err(Unsafe::FileWritable { mode: 0o602 }));

        let dir = Path::new("/d");
        let judge = |owner, mode| judge_directory(dir, owner, mode, me);
        assert_eq!(judge(me, 0o40_700), Ok(()));
        assert_eq!(judge(me, 0o40_755), Ok(()));
        assert_eq!(judge(0, 0o41_777), Ok(()), "/tmp: others cannot replace our file");
        assert_eq!(judge(me, 0o41_770), Ok(()));
        assert_eq!(
            judge(me, 0o40_770),
            Err(Unsafe::DirWritable { dir: dir.into(), mode: 0o770, mine: true })
        );
        assert_eq!(
            judge(0, 0o40_777),
            Err(Unsafe::DirWritable { dir: dir.into(), mode: 0o777, mine: false })
        );
        // The owner of a sticky directory may still remove what is in it.
        assert_eq!(
            judge(1001, 0o41_777),
            Err(Unsafe::DirOwner { dir: dir.into(), owner: 1001, me })
        );
    }

    #[test]
    fn hints_say_what_to_run() {
        let path = Path::new("/home/me/r.db");
        assert_eq!(Unsafe::FileWritable { mode: 0o664 }.hint(path), "chmod 600 /home/me/r.db");
        let mine = Unsafe::DirWritable { dir: "/home/me".into(), mode: 0o775, mine: true };
        assert_eq!(mine.hint(path), "chmod 700 /home/me");
        let roots = Unsafe::DirWritable { dir: "/srv".into(), mode: 0o777, mine: false };
        assert!(roots.hint(path).starts_with("chmod go-w /srv,"), "{}", roots.hint(path));
    }

    fn refusal(path: &Path) -> Unsafe {
        match inspect(path) {
            Err(Error::Unsafe { problem, .. }) => problem,
            other => panic!("{}: {other:?}", path.display()),
        }
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(refusal(dir.path()), Unsafe::NotAFile("a directory"));
        assert_eq!(refusal(Path::new("/dev/null")), Unsafe::NotAFile("a device"));
        let dangling = dir.path().join("link.db");
        std::os::unix::fs::symlink("gone.db", &dangling).unwrap();
        assert_eq!(refusal(&dangling), Unsafe::Dangling("gone.db".into()));

        // Opening a FIFO to read waits for a writer: a check that opened it
        // would never return. If it blocks, a writer releases it and the
        // test fails (the bound only keeps a broken build from hanging).
        let fifo = dir.path().join("fifo.db");
        make_fifo(&fifo);
        let (tx, rx) = mpsc::channel();
        let checked = fifo.clone();
        std::thread::spawn(move || tx.send(refusal(&checked)).unwrap());
        let Ok(problem) = rx.recv_timeout(Duration::from_secs(30)) else {
            let writer = OFlags::WRONLY | OFlags::NONBLOCK;
            drop(rustix::fs::open(&fifo, writer, Mode::empty()));
            panic!("checking a FIFO blocked on it");
        };
        assert_eq!(problem, Unsafe::NotAFile("a FIFO (named pipe)"));
    }
}
