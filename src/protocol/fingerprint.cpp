#include "protocol/fingerprint.hpp"

#include <array>
#include <optional>
#include <utility>

#include "crypto/hash.hpp"

namespace bc::protocol {
namespace {

// Fingerprint version 0 of libsignal-protocol-c (FINGERPRINT_VERSION): two zero bytes.
constexpr std::array<std::uint8_t, 2> kHashVersion = {0x00, 0x00};
constexpr std::uint8_t kDjbKeyType = 0x05;
// Bytes of each side's iterated hash that become its 30 digits (six 5-byte chunks).
constexpr std::size_t kDigitBytes = 30;
// Bytes of each side's iterated hash carried in the scannable form (version 1).
constexpr std::size_t kScannableHashBytes = 32;
// A scanned payload larger than this is refused before parsing.
constexpr std::size_t kMaxScannableSize = 1024;

Result<void> check_identity_key(ByteView key) {
  if (key.size() != kIdentityKeySize || key[0] != kDjbKeyType) {
    return fail(Errc::kMalformed, "identity key must be 33 bytes starting with 0x05");
  }
  return ok();
}

// iterated_hash is libsignal-protocol-c's fingerprint_generator_get_fingerprint: the first round
// hashes version || key || identifier || key, each further round hashes previous || key.
crypto::Sha512Digest iterated_hash(ByteView identity_key) {
  const std::string identifier = to_hex(identity_key);
  crypto::Sha512Digest hash;
  {
    crypto::Sha512 first;
    first.update(kHashVersion).update(identity_key).update(as_bytes(identifier));
    first.update(identity_key);
    hash = first.finish();
  }
  for (int i = 1; i < kFingerprintIterations; ++i) {
    crypto::Sha512 round;
    round.update(hash).update(identity_key);
    hash = round.finish();
  }
  return hash;
}

// digits renders the first 30 bytes as six big-endian 40-bit chunks, each mod 100000 as 5 digits.
std::string digits(const crypto::Sha512Digest& hash) {
  std::string out;
  out.reserve(kDigitBytes);
  for (std::size_t i = 0; i < kDigitBytes; i += 5) {
    std::uint64_t chunk = 0;
    for (std::size_t j = 0; j < 5; ++j) chunk = (chunk << 8) | hash[i + j];
    auto value = static_cast<unsigned>(chunk % 100000);
    std::array<char, 5> five{};
    for (int k = 4; k >= 0; --k) {
      five[static_cast<std::size_t>(k)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    out.append(five.data(), five.size());
  }
  return out;
}

// Protobuf (proto2) helpers for CombinedFingerprints { uint32 version = 1;
// LogicalFingerprint localFingerprint = 2; LogicalFingerprint remoteFingerprint = 3; } and
// LogicalFingerprint { bytes content = 1; bytes identifier = 2; }.
void put_varint(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

void put_bytes_field(Bytes& out, std::uint32_t field, ByteView value) {
  put_varint(out, (static_cast<std::uint64_t>(field) << 3) | 2);
  put_varint(out, value.size());
  append(out, value);
}

Bytes logical_fingerprint(ByteView content) {
  Bytes out;
  put_bytes_field(out, 1, content);
  return out;
}

Bytes encode_scannable(ByteView local_hash, ByteView remote_hash) {
  Bytes out;
  put_varint(out, (1u << 3) | 0);
  put_varint(out, kScannableFingerprintVersion);
  put_bytes_field(out, 2, logical_fingerprint(local_hash));
  put_bytes_field(out, 3, logical_fingerprint(remote_hash));
  return out;
}

// Reader walks protobuf fields with bounds checks; every failure is kMalformed.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  [[nodiscard]] bool done() const noexcept { return pos_ == data_.size(); }

  Result<std::uint64_t> varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return fail(Errc::kMalformed, "truncated varint");
      const std::uint8_t byte = data_[pos_++];
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return fail(Errc::kMalformed, "varint too long");
  }

  Result<ByteView> length_delimited() {
    BC_ASSIGN_OR_RETURN(const std::uint64_t size, varint());
    if (size > data_.size() - pos_) return fail(Errc::kMalformed, "truncated field");
    ByteView out = data_.subspan(pos_, static_cast<std::size_t>(size));
    pos_ += static_cast<std::size_t>(size);
    return out;
  }

  // skip passes over a field of `wire_type` that we do not read.
  Result<void> skip(std::uint64_t wire_type) {
    switch (wire_type) {
      case 0: {
        BC_ASSIGN_OR_RETURN([[maybe_unused]] const std::uint64_t unused, varint());
        return ok();
      }
      case 1:
      case 5: {
        const std::size_t size = wire_type == 1 ? 8 : 4;
        if (size > data_.size() - pos_) return fail(Errc::kMalformed, "truncated field");
        pos_ += size;
        return ok();
      }
      case 2: {
        BC_ASSIGN_OR_RETURN([[maybe_unused]] const ByteView unused, length_delimited());
        return ok();
      }
      default:
        return fail(Errc::kMalformed, "unsupported protobuf wire type");
    }
  }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

// parse_logical returns the content of a LogicalFingerprint (identifier and unknown fields are
// skipped); kMalformed when content is missing or repeated.
Result<Bytes> parse_logical(ByteView data) {
  Reader reader(data);
  std::optional<Bytes> content;
  while (!reader.done()) {
    BC_ASSIGN_OR_RETURN(const std::uint64_t key, reader.varint());
    const std::uint64_t field = key >> 3;
    const std::uint64_t wire_type = key & 7;
    if (field == 1 && wire_type == 2) {
      if (content) return fail(Errc::kMalformed, "repeated fingerprint content");
      BC_ASSIGN_OR_RETURN(const ByteView value, reader.length_delimited());
      content = to_bytes(value);
    } else {
      BC_TRY(reader.skip(wire_type));
    }
  }
  if (!content) return fail(Errc::kMalformed, "fingerprint without content");
  return std::move(*content);
}

struct ScannedFingerprints {
  std::uint32_t version = 0;
  Bytes local;
  Bytes remote;
};

Result<ScannedFingerprints> parse_scannable(ByteView data) {
  if (data.size() > kMaxScannableSize) return fail(Errc::kMalformed, "scanned code too large");
  Reader reader(data);
  std::optional<std::uint64_t> version;
  std::optional<Bytes> local;
  std::optional<Bytes> remote;
  while (!reader.done()) {
    BC_ASSIGN_OR_RETURN(const std::uint64_t key, reader.varint());
    const std::uint64_t field = key >> 3;
    const std::uint64_t wire_type = key & 7;
    if (field == 1 && wire_type == 0) {
      if (version) return fail(Errc::kMalformed, "repeated version");
      BC_ASSIGN_OR_RETURN(version, reader.varint());
    } else if ((field == 2 || field == 3) && wire_type == 2) {
      std::optional<Bytes>& slot = field == 2 ? local : remote;
      if (slot) return fail(Errc::kMalformed, "repeated fingerprint");
      BC_ASSIGN_OR_RETURN(const ByteView value, reader.length_delimited());
      BC_ASSIGN_OR_RETURN(slot, parse_logical(value));
    } else {
      BC_TRY(reader.skip(wire_type));
    }
  }
  // A missing version is version 0 (proto2 default), which we do not accept.
  const std::uint64_t scanned_version = version.value_or(0);
  if (scanned_version != kScannableFingerprintVersion) {
    return fail(Errc::kUnsupportedVersion,
                "scanned code has fingerprint version " + std::to_string(scanned_version));
  }
  if (!local || !remote) return fail(Errc::kMalformed, "scanned code lacks a fingerprint");
  return ScannedFingerprints{static_cast<std::uint32_t>(scanned_version), std::move(*local),
                             std::move(*remote)};
}

}  // namespace

Result<Fingerprint> compute_fingerprint(ByteView local_identity_key, ByteView remote_identity_key) {
  BC_TRY(check_identity_key(local_identity_key));
  BC_TRY(check_identity_key(remote_identity_key));
  const crypto::Sha512Digest local_hash = iterated_hash(local_identity_key);
  const crypto::Sha512Digest remote_hash = iterated_hash(remote_identity_key);

  Fingerprint out;
  out.local_digits_ = digits(local_hash);
  out.remote_digits_ = digits(remote_hash);
  // Both sides show the smaller half first (strcmp order in displayable_fingerprint_create).
  out.displayable_ = out.local_digits_ <= out.remote_digits_
                         ? out.local_digits_ + out.remote_digits_
                         : out.remote_digits_ + out.local_digits_;
  out.local_hash_.assign(local_hash.begin(), local_hash.begin() + kScannableHashBytes);
  out.remote_hash_.assign(remote_hash.begin(), remote_hash.begin() + kScannableHashBytes);
  out.scannable_ = encode_scannable(out.local_hash_, out.remote_hash_);
  return out;
}

Result<bool> compare_scannable(const Fingerprint& local, ByteView scanned) {
  BC_ASSIGN_OR_RETURN(const ScannedFingerprints theirs, parse_scannable(scanned));
  // Their local must be our remote and their remote our local. Evaluate both comparisons
  // (ct_equal is constant-time for equal lengths; a length mismatch is no match).
  const bool remote_matches = ct_equal(local.remote_hash_, theirs.local);
  const bool local_matches = ct_equal(local.local_hash_, theirs.remote);
  return remote_matches & local_matches;
}

}  // namespace bc::protocol
