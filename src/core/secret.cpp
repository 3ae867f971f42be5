#include "core/secret.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace bc {
namespace {

// A small allocator for secrets: size classes of 16..1024 bytes carved out of 64 KiB slabs that
// are mmap'ed, mlock'ed and marked MADV_DONTDUMP; larger secrets get their own mapping.
// Freed chunks are wiped before they go back on a free list kept outside the slabs.
constexpr std::size_t kSlabSize = 64 * 1024;
constexpr std::array<std::size_t, 7> kClasses = {16, 32, 64, 128, 256, 512, 1024};

class SecretArena {
 public:
  static SecretArena& instance() {
    static auto* arena = new SecretArena();  // never destroyed: secrets may outlive statics
    return *arena;
  }

  std::uint8_t* allocate(std::size_t size) {
    const std::size_t cls = class_of(size);
    if (cls == kClasses.size()) {
      const std::size_t mapped = round_up(size);
      std::uint8_t* out = map_pages(mapped);
      std::lock_guard lock(mutex_);
      in_use_ += mapped;
      return out;
    }
    std::lock_guard lock(mutex_);
    if (free_[cls].empty()) refill(cls);
    std::uint8_t* out = free_[cls].back();
    free_[cls].pop_back();
    in_use_ += kClasses[cls];
    return out;  // already zero: chunks are wiped when freed and fresh pages are zero
  }

  void deallocate(std::uint8_t* data, std::size_t size) noexcept {
    const std::size_t cls = class_of(size);
    if (cls == kClasses.size()) {
      const std::size_t mapped = round_up(size);
      secure_zero(data, mapped);
      munlock(data, mapped);
      munmap(data, mapped);
      std::lock_guard lock(mutex_);
      in_use_ -= mapped;
      return;
    }
    secure_zero(data, kClasses[cls]);
    std::lock_guard lock(mutex_);
    free_[cls].push_back(data);
    in_use_ -= kClasses[cls];
  }

  std::size_t in_use() noexcept {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

 private:
  static std::size_t class_of(std::size_t size) noexcept {
    for (std::size_t i = 0; i < kClasses.size(); ++i) {
      if (size <= kClasses[i]) return i;
    }
    return kClasses.size();
  }
  static std::size_t round_up(std::size_t size) noexcept {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
  }

  std::uint8_t* map_pages(std::size_t size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)madvise(p, size, MADV_DONTDUMP);
    (void)mlock(p, size);  // best effort: RLIMIT_MEMLOCK may be small for unprivileged users
    return static_cast<std::uint8_t*>(p);
  }

  void refill(std::size_t cls) {
    auto* slab = map_pages(kSlabSize);
    const std::size_t chunk = kClasses[cls];
    free_[cls].reserve(free_[cls].size() + kSlabSize / chunk);
    for (std::size_t off = kSlabSize; off >= chunk; off -= chunk)
      free_[cls].push_back(slab + off - chunk);
  }

  std::mutex mutex_;
  std::array<std::vector<std::uint8_t*>, kClasses.size()>
      free_{};  // wiped chunks, kept out of band
  std::size_t in_use_ = 0;
};

}  // namespace

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  if (size_ != 0) data_ = SecretArena::instance().allocate(size_);
}

SecretBytes::SecretBytes(ByteView view) : SecretBytes(view.size()) {
  if (!view.empty()) std::memcpy(data_, view.data(), view.size());
}

SecretBytes::~SecretBytes() { release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::release() noexcept {
  if (data_ != nullptr) SecretArena::instance().deallocate(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

namespace secure_memory {
std::size_t bytes_in_use() noexcept { return SecretArena::instance().in_use(); }

void harden_process() noexcept {
  struct rlimit no_core {};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
}  // namespace secure_memory

}  // namespace bc
