#include "store/coalescing_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

namespace bc::store {
namespace {

constexpr std::size_t kFlushAt = 1024 * 1024;
constexpr std::size_t kMaxWrite = 64 * 1024;
constexpr int kFrameHeaderSize = 24;
constexpr sqlite3_int64 kWalHeaderSize = 32;

std::atomic<std::uint64_t> g_requested{0};
std::atomic<std::uint64_t> g_issued{0};

// File is what SQLite allocates per open file (szOsFile): this VFS's part first, the platform
// VFS's file right after it.
struct File {
  sqlite3_file base;  // pMethods: one of the two method tables below
  sqlite3_file* real;
  // WAL files only: bytes written but not yet in the file, starting at offset `at`.
  std::vector<unsigned char> pending;
  sqlite3_int64 at = 0;
  bool commit_page_next = false;  // the last write was the header of a commit frame
};

constexpr std::size_t kRealOffset = (sizeof(File) + 15) & ~std::size_t{15};

sqlite3_vfs* g_real = nullptr;

File* self(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* real(sqlite3_file* f) { return self(f)->real; }

int flush(File* w) {
  int rc = SQLITE_OK;
  // The platform VFS writes less than 128 KiB per call (it masks larger sizes), so a large
  // buffer goes in pieces.
  for (std::size_t done = 0; done < w->pending.size() && rc == SQLITE_OK;) {
    const std::size_t n = std::min(kMaxWrite, w->pending.size() - done);
    g_issued.fetch_add(1, std::memory_order_relaxed);
    rc = w->real->pMethods->xWrite(w->real, w->pending.data() + done, static_cast<int>(n),
                                   w->at + static_cast<sqlite3_int64>(done));
    done += n;
  }
  w->pending.clear();
  if (w->pending.capacity() > kFlushAt) w->pending.shrink_to_fit();
  w->commit_page_next = false;
  return rc;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// ---- WAL files: writes gathered, everything else after a flush ------------------------------

int wal_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  File* w = self(f);
  g_requested.fetch_add(1, std::memory_order_relaxed);
  const bool completes_commit = w->commit_page_next;
  if (!w->pending.empty() && offset != w->at + static_cast<sqlite3_int64>(w->pending.size())) {
    if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  }
  if (w->pending.empty()) w->at = offset;
  const auto* bytes = static_cast<const unsigned char*>(data);
  try {
    w->pending.insert(w->pending.end(), bytes, bytes + amount);
  } catch (const std::bad_alloc&) {
    w->pending.clear();
    return SQLITE_NOMEM;
  }
  if (completes_commit) return flush(w);  // the commit frame is complete
  // A frame header (24 bytes, after the 32-byte WAL header) whose second field, the database
  // size after commit, is non-zero marks the transaction's last frame; its page comes next.
  if (amount == kFrameHeaderSize && offset >= kWalHeaderSize && be32(bytes + 4) != 0) {
    w->commit_page_next = true;
    return SQLITE_OK;
  }
  if (w->pending.size() >= kFlushAt) return flush(w);
  return SQLITE_OK;
}

int wal_close(sqlite3_file* f) {
  File* w = self(f);
  const int flushed = flush(w);
  const int rc = w->real->pMethods != nullptr ? w->real->pMethods->xClose(w->real) : SQLITE_OK;
  w->~File();
  return flushed != SQLITE_OK ? flushed : rc;
}

#define BC_FLUSH_FIRST(f)                                           \
  do {                                                              \
    if (const int flushed = flush(self(f)); flushed != SQLITE_OK) { \
      return flushed;                                               \
    }                                                               \
  } while (0)

int wal_read(sqlite3_file* f, void* data, int amount, sqlite3_int64 offset) {
  BC_FLUSH_FIRST(f);
  return real(f)->pMethods->xRead(real(f), data, amount, offset);
}
int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  BC_FLUSH_FIRST(f);
  return real(f)->pMethods->xTruncate(real(f), size);
}
int wal_sync(sqlite3_file* f, int flags) {
  BC_FLUSH_FIRST(f);
  return real(f)->pMethods->xSync(real(f), flags);
}
int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  BC_FLUSH_FIRST(f);
  return real(f)->pMethods->xFileSize(real(f), size);
}
int wal_file_control(sqlite3_file* f, int op, void* arg) {
  BC_FLUSH_FIRST(f);
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}

#undef BC_FLUSH_FIRST

// ---- every file: the platform's methods ---------------------------------------------------

int pass_close(sqlite3_file* f) {
  File* w = self(f);
  const int rc = w->real->pMethods != nullptr ? w->real->pMethods->xClose(w->real) : SQLITE_OK;
  w->~File();
  return rc;
}
int pass_read(sqlite3_file* f, void* data, int amount, sqlite3_int64 offset) {
  return real(f)->pMethods->xRead(real(f), data, amount, offset);
}
int pass_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  return real(f)->pMethods->xWrite(real(f), data, amount, offset);
}
int pass_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int pass_sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int pass_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int pass_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int pass_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int pass_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int pass_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int pass_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int pass_device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int pass_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int pass_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void pass_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int pass_shm_unmap(sqlite3_file* f, int remove) {
  return real(f)->pMethods->xShmUnmap(real(f), remove);
}
int pass_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return real(f)->pMethods->xFetch(real(f), offset, amount, out);
}
int pass_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), offset, p);
}

const sqlite3_io_methods kPassMethods = {
    3,
    pass_close,
    pass_read,
    pass_write,
    pass_truncate,
    pass_sync,
    pass_file_size,
    pass_lock,
    pass_unlock,
    pass_check_reserved,
    pass_file_control,
    pass_sector_size,
    pass_device,
    pass_shm_map,
    pass_shm_lock,
    pass_shm_barrier,
    pass_shm_unmap,
    pass_fetch,
    pass_unfetch,
};

// kWalMethods: the platform's methods, but writes are gathered and everything else flushes first.
const sqlite3_io_methods kWalMethods = [] {
  sqlite3_io_methods m = kPassMethods;
  m.xClose = wal_close;
  m.xRead = wal_read;
  m.xWrite = wal_write;
  m.xTruncate = wal_truncate;
  m.xSync = wal_sync;
  m.xFileSize = wal_file_size;
  m.xFileControl = wal_file_control;
  return m;
}();

int vfs_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* file = new (f) File{};
  file->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  std::memset(file->real, 0, static_cast<std::size_t>(g_real->szOsFile));
  const int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  if (rc != SQLITE_OK || file->real->pMethods == nullptr) {
    // SQLite calls no method of a file whose open failed (pMethods stays null).
    file->~File();
    f->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  // Only a WAL file whose platform methods have the version this table forwards gets gathered.
  const bool wal = (flags & SQLITE_OPEN_WAL) != 0 && file->real->pMethods->iVersion >= 3;
  f->pMethods = wal ? &kWalMethods : &kPassMethods;
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* vfs_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void vfs_dl_error(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*vfs_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void vfs_dl_close(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int vfs_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int vfs_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int vfs_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int vfs_last_error(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

const char* register_vfs() {
  static sqlite3_vfs vfs{};
  g_real = sqlite3_vfs_find("unix");
  if (g_real == nullptr || g_real->iVersion < 2) return nullptr;
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
  vfs.mxPathname = g_real->mxPathname;
  vfs.zName = "bc-coalescing";
  vfs.xOpen = vfs_open;
  vfs.xDelete = vfs_delete;
  vfs.xAccess = vfs_access;
  vfs.xFullPathname = vfs_full_pathname;
  vfs.xDlOpen = vfs_dl_open;
  vfs.xDlError = vfs_dl_error;
  vfs.xDlSym = vfs_dl_sym;
  vfs.xDlClose = vfs_dl_close;
  vfs.xRandomness = vfs_randomness;
  vfs.xSleep = vfs_sleep;
  vfs.xCurrentTime = vfs_current_time;
  vfs.xGetLastError = vfs_last_error;
  vfs.xCurrentTimeInt64 = vfs_current_time_int64;
  if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK) return nullptr;
  return vfs.zName;
}

}  // namespace

const char* coalescing_vfs_name() {
  static const char* const name = register_vfs();
  return name;
}

CoalescingVfsStats coalescing_vfs_stats() {
  return {g_requested.load(std::memory_order_relaxed), g_issued.load(std::memory_order_relaxed)};
}

}  // namespace bc::store
