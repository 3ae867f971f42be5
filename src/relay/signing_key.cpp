#include "relay/signing_key.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/ed25519.hpp"

namespace bc::relay {
namespace {

constexpr std::size_t kSeedSize = 32;

// Fd closes a descriptor on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  // release closes now and reports whether close succeeded (it may report a deferred I/O error).
  bool release() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

Result<crypto::Ed25519KeyPair> read_key(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return fail(Errc::kUnavailable, "cannot read " + path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errc::kUnavailable, "cannot read " + path.string());
  if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(kSeedSize)) {
    return fail(Errc::kMalformed, path.string() + " is not a 32-byte relay signing key");
  }
  // The key signs receipts: anyone who can read it can forge them.
  if ((st.st_mode & 077) != 0) {
    return fail(Errc::kAuthFailed, path.string() + " is readable by others (chmod 600 it)");
  }
  SecretBytes seed(kSeedSize);
  std::size_t done = 0;
  while (done < kSeedSize) {
    const ssize_t n = ::read(fd.get(), seed.expose_mut().data() + done, kSeedSize - done);
    if (n <= 0) return fail(Errc::kUnavailable, "cannot read " + path.string());
    done += static_cast<std::size_t>(n);
  }
  return crypto::ed25519_from_seed(seed.expose());
}

Result<void> write_key(const std::filesystem::path& path, const SecretBytes& seed) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());  // a leftover from a crash before the rename
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return fail(Errc::kUnavailable, "cannot create " + tmp.string());
  std::size_t done = 0;
  while (done < seed.size()) {
    const ssize_t n = ::write(fd.get(), seed.expose().data() + done, seed.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool written = done == seed.size() && ::fsync(fd.get()) == 0;
  if (!fd.release() || !written) {
    ::unlink(tmp.c_str());
    return fail(Errc::kUnavailable, "cannot write " + tmp.string());
  }
  // link() fails if another relay process created the key meanwhile: its key wins, never ours.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::kUnavailable, "cannot create " + path.string());
  }
  ::unlink(tmp.c_str());
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
    return fail(Errc::kUnavailable, "cannot sync " + dir.string());
  }
  return ok();
}

}  // namespace

Result<crypto::Ed25519KeyPair> load_or_create_signing_key(const std::filesystem::path& path,
                                                          Rng& rng) {
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    return read_key(path);
  }
  SecretBytes seed(kSeedSize);
  rng.fill(seed.expose_mut());
  BC_TRY(write_key(path, seed));
  return read_key(path);
}

}  // namespace bc::relay
