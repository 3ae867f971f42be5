// Alerts: what the client found wrong with a channel (a gap, a replay, an altered envelope...),
// kept in the client store beside the conversation so that `history` and `transcript` can show
// them after the sync that raised them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backchannel/client.hpp"
#include "core/bytes.hpp"
#include "core/result.hpp"
#include "store/client_store.hpp"

namespace bc::client {

// kAlertsTable holds one record per alert, keyed "<alias>\x1f<20-digit sequence>" so that a
// contact's alerts list in the order they were raised.
inline constexpr std::string_view kAlertsTable = "alerts";

[[nodiscard]] Bytes encode_alert(const AlertInfo& alert);
[[nodiscard]] Result<AlertInfo> decode_alert(ByteView bytes);

// store_alert saves an alert under `key` (in the caller's transaction) and gives the event that
// reports it.
[[nodiscard]] Result<Event> store_alert(store::ClientStore& db, const std::string& key,
                                        AlertInfo alert);

// load_alerts lists the stored alerts of one alias (every alias when empty), oldest first.
[[nodiscard]] Result<std::vector<AlertInfo>> load_alerts(store::ClientStore& db,
                                                         const std::string& alias);

}  // namespace bc::client
