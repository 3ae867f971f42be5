#include "client/relay_routes.hpp"

#include <algorithm>
#include <map>

namespace bc::client {
namespace {

constexpr std::uint8_t kRoutesVersion = 1;

// CopyRecord: one envelope of a multi-relay contact, and which of its relays delivered it.
struct CopyRecord {
  std::string alias;
  std::int64_t first_ms = 0;
  std::vector<std::string> expected;
  std::vector<std::string> delivered;
  bool reported = false;

  Bytes encode() const {
    RecordWriter w;
    w.u8(kRoutesVersion).str(alias).i64(first_ms).boolean(reported);
    w.u32(static_cast<std::uint32_t>(expected.size()));
    for (const auto& url : expected) w.str(url);
    w.u32(static_cast<std::uint32_t>(delivered.size()));
    for (const auto& url : delivered) w.str(url);
    return w.take();
  }
  static Result<CopyRecord> decode(ByteView b) {
    RecordReader r(b);
    CopyRecord c;
    if (r.u8() != kRoutesVersion) return fail(Errc::kUnsupportedVersion, "copy record version");
    c.alias = r.str(256);
    c.first_ms = r.i64();
    c.reported = r.boolean();
    for (auto* list : {&c.expected, &c.delivered}) {
      const std::uint32_t n = r.u32();
      if (n > protocol::kMaxRelaysPerInvitation) return fail(Errc::kMalformed, "copy record");
      for (std::uint32_t i = 0; i < n; ++i) list->push_back(r.str(protocol::kMaxRelayUrlSize));
    }
    BC_TRY(r.finish("copy record"));
    return c;
  }
};

bool contains(const std::vector<std::string>& list, const std::string& url) {
  return std::find(list.begin(), list.end(), url) != list.end();
}

}  // namespace

void write_addresses(RecordWriter& w, const std::vector<protocol::RelayAddress>& addresses) {
  for (const auto& a : addresses) {
    w.str(a.url).bytes(a.certificate_sha256).bytes(a.queue).bytes(a.relay_key);
  }
}

Result<std::vector<protocol::RelayAddress>> read_addresses(RecordReader& r) {
  std::vector<protocol::RelayAddress> out;
  while (!r.at_end()) {
    if (out.size() == protocol::kMaxRelaysPerInvitation) {
      return fail(Errc::kMalformed, "more relay addresses than an invitation allows");
    }
    protocol::RelayAddress a;
    a.url = r.str(protocol::kMaxRelayUrlSize);
    a.certificate_sha256 = r.fixed<32>();
    a.queue = r.fixed<16>();
    a.relay_key = r.fixed<32>();
    out.push_back(std::move(a));
  }
  BC_TRY(r.finish("relay addresses"));
  return out;
}

Result<std::vector<protocol::RelayAddress>> load_mirrors(store::ClientStore& db,
                                                         const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kMirrors, alias));
  if (!raw) return std::vector<protocol::RelayAddress>();
  RecordReader r(*raw);
  if (r.u8() != kRoutesVersion) return fail(Errc::kUnsupportedVersion, "mirror record version");
  return read_addresses(r);
}

Result<void> save_mirrors(store::ClientStore& db, const std::string& alias,
                          const std::vector<protocol::RelayAddress>& mirrors) {
  if (mirrors.empty()) return db.erase(kMirrors, alias);
  RecordWriter w;
  w.u8(kRoutesVersion);
  write_addresses(w, mirrors);
  return db.put(kMirrors, alias, w.view());
}

Result<void> note_copy(store::ClientStore& db, const std::string& alias,
                       const std::string& relay_url, const crypto::Sha256Digest& digest,
                       const std::vector<std::string>& expected, std::int64_t now) {
  if (expected.size() < 2 || !contains(expected, relay_url)) return ok();
  const std::string key = to_hex(digest);
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kCopies, key));
  CopyRecord copy;
  if (raw) {
    BC_ASSIGN_OR_RETURN(copy, CopyRecord::decode(*raw));
  } else {
    copy.alias = alias;
    copy.first_ms = now;
    copy.expected = expected;
  }
  if (!contains(copy.delivered, relay_url)) copy.delivered.push_back(relay_url);
  const bool complete = std::all_of(copy.expected.begin(), copy.expected.end(),
                                    [&](const auto& url) { return contains(copy.delivered, url); });
  if (complete) return db.erase(kCopies, key);
  return db.put(kCopies, key, copy.encode());
}

Result<std::vector<Withholding>> overdue_copies(store::ClientStore& db,
                                                const std::string& relay_url, std::int64_t now,
                                                std::int64_t grace_ms) {
  BC_ASSIGN_OR_RETURN(auto rows, db.list(kCopies));
  std::map<std::pair<std::string, std::string>, Withholding> found;
  for (auto& [key, raw] : rows) {
    BC_ASSIGN_OR_RETURN(CopyRecord copy, CopyRecord::decode(raw));
    if (copy.reported || !contains(copy.expected, relay_url) ||
        contains(copy.delivered, relay_url) || now - copy.first_ms < grace_ms) {
      continue;
    }
    const std::string by = copy.delivered.empty() ? std::string() : copy.delivered.front();
    Withholding& w = found[{copy.alias, by}];
    if (w.count == 0 || copy.first_ms < w.since_ms) w.since_ms = copy.first_ms;
    w.alias = copy.alias;
    w.relay_url = relay_url;
    w.delivered_by = by;
    ++w.count;
    copy.reported = true;
    BC_TRY(db.put(kCopies, key, copy.encode()));
  }
  std::vector<Withholding> out;
  for (auto& [key, w] : found) out.push_back(std::move(w));
  return out;
}

}  // namespace bc::client
