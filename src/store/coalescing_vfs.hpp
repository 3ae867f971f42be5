// The relay store's SQLite VFS: the platform's own ("unix"), except that writes to a WAL file
// are gathered in memory and reach the file in one write per transaction.
//
// Why: SQLite writes every WAL frame with two calls (its 24-byte header, then the page), so a
// commit of four pages costs eight write system calls before its fsync; on a virtual machine a
// system call is dear, and these were the relay's largest single cost per deposit. Here the
// frames of a transaction are appended to a buffer and written with one call when the
// transaction's commit frame is complete (in pieces of 64 KiB for a larger transaction), which
// is still inside SQLite's COMMIT: a commit that returns has its frames in the file (then
// fsync'd with synchronous=FULL), exactly as before, and a write error still fails the commit
// that caused it. The buffer is also written before every
// other operation on the file (read, sync, size, truncate, close), before a write that does not
// follow it, and when it passes 1 MiB, so SQLite never sees the file differ from what it wrote.
#pragma once

#include <cstdint>

namespace bc::store {

// coalescing_vfs_name registers the VFS on first use (thread-safe) and returns its name, or
// nullptr when SQLite has no "unix" VFS to build on.
const char* coalescing_vfs_name();

// CoalescingVfsStats counts, for the whole process, the writes SQLite asked for on WAL files
// and the writes that reached them (tests compare the two).
struct CoalescingVfsStats {
  std::uint64_t wal_writes_requested = 0;
  std::uint64_t wal_writes_issued = 0;
};
CoalescingVfsStats coalescing_vfs_stats();

}  // namespace bc::store
