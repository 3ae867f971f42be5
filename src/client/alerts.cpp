#include "client/alerts.hpp"

#include <algorithm>

#include "client/record.hpp"

namespace bc::client {
namespace {
constexpr std::uint8_t kAlertRecordVersion = 1;
constexpr std::size_t kMaxCodeSize = 32;
constexpr std::size_t kMaxTextSize = 4096;
}  // namespace

Bytes encode_alert(const AlertInfo& a) {
  RecordWriter w;
  w.u8(kAlertRecordVersion).str(a.code).str(a.alias).str(a.relay_url).str(a.text);
  w.i64(a.at_ms).u64(a.first_seq).u64(a.last_seq);
  return w.take();
}

Result<AlertInfo> decode_alert(ByteView bytes) {
  RecordReader r(bytes);
  if (r.u8() != kAlertRecordVersion) return fail(Errc::kUnsupportedVersion, "alert record version");
  AlertInfo a;
  a.code = r.str(kMaxCodeSize);
  a.alias = r.str(256);
  a.relay_url = r.str(1024);
  a.text = r.str(kMaxTextSize);
  a.at_ms = r.i64();
  a.first_seq = r.u64();
  a.last_seq = r.u64();
  BC_TRY(r.finish("alert record"));
  return a;
}

Result<Event> store_alert(store::ClientStore& db, const std::string& key, AlertInfo alert) {
  BC_TRY(db.put(kAlertsTable, key, encode_alert(alert)));
  Event e;
  e.kind = EventKind::kAlert;
  e.alias = alert.alias;
  e.text = alert.text;
  e.alert = std::move(alert);
  return e;
}

Result<std::vector<AlertInfo>> load_alerts(store::ClientStore& db, const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto rows, db.list(kAlertsTable));
  std::vector<AlertInfo> out;
  const std::string prefix = alias + '\x1f';
  for (auto& [key, raw] : rows) {
    if (!alias.empty() && !key.starts_with(prefix)) continue;
    BC_ASSIGN_OR_RETURN(AlertInfo a, decode_alert(raw));
    out.push_back(std::move(a));
  }
  // Keys order one alias's alerts; across aliases the time they were raised does.
  std::stable_sort(out.begin(), out.end(),
                   [](const AlertInfo& x, const AlertInfo& y) { return x.at_ms < y.at_ms; });
  return out;
}

}  // namespace bc::client
