// Relay routes: a contact reached through two relays run by different intermediaries. Where else
// we deposit for a contact (its second address), and which relay has not delivered a message that
// the other relay delivered (a relay that is late or withholding).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/record.hpp"
#include "core/result.hpp"
#include "crypto/hash.hpp"
#include "protocol/invitation.hpp"
#include "store/client_store.hpp"

namespace bc::client {

// Tables of the client store kept by this file.
inline constexpr std::string_view kMirrors = "mirrors";  // alias -> further deposit addresses
inline constexpr std::string_view kCopies = "copies";    // envelope hash -> relays that delivered

// load_mirrors gives the addresses beyond the first where we deposit for `alias` (empty for a
// contact reached through one relay). kMalformed when the stored record is damaged.
[[nodiscard]] Result<std::vector<protocol::RelayAddress>> load_mirrors(store::ClientStore& db,
                                                                       const std::string& alias);
// save_mirrors records them (erases the record when `mirrors` is empty).
[[nodiscard]] Result<void> save_mirrors(store::ClientStore& db, const std::string& alias,
                                        const std::vector<protocol::RelayAddress>& mirrors);

// write_addresses appends each address as str(url) bytes(certificate sha256) bytes(queue)
// bytes(relay signing key): the encoding of a relay address inside an invitation acceptance.
void write_addresses(RecordWriter& w, const std::vector<protocol::RelayAddress>& addresses);
// read_addresses reads addresses until the reader is at its end (at most
// kMaxRelaysPerInvitation); kMalformed for a damaged one or too many.
[[nodiscard]] Result<std::vector<protocol::RelayAddress>> read_addresses(RecordReader& r);

// Withholding is what one relay has not delivered of what another relay delivered.
struct Withholding {
  std::string alias;          // whose messages
  std::string relay_url;      // the relay that has not delivered them
  std::string delivered_by;   // the relay that did
  std::uint64_t count = 0;    // how many envelopes
  std::int64_t since_ms = 0;  // when the first of them arrived through the other relay
};

// note_copy records that `relay_url` delivered the envelope with `digest` for `alias`, whose
// messages come through every relay in `expected`. Nothing is kept for a single-relay contact;
// the record is deleted once every expected relay has delivered it.
[[nodiscard]] Result<void> note_copy(store::ClientStore& db, const std::string& alias,
                                     const std::string& relay_url,
                                     const crypto::Sha256Digest& digest,
                                     const std::vector<std::string>& expected, std::int64_t now);

// overdue_copies is called after a pass over `relay_url`: it returns, per contact, the envelopes
// that another relay delivered at least `grace_ms` ago and `relay_url` still has not. Each
// envelope is reported once.
[[nodiscard]] Result<std::vector<Withholding>> overdue_copies(store::ClientStore& db,
                                                              const std::string& relay_url,
                                                              std::int64_t now,
                                                              std::int64_t grace_ms);

}  // namespace bc::client
