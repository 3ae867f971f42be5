// AssuranceBook: the client's assurances (direct and escrowed) over the client store: proposing,
// receiving, acknowledging, withdrawing, expiring, exporting and verifying. It reaches the rest
// of the client (sessions, outbox, relays) only through AssuranceHost.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backchannel/client.hpp"
#include "client/relay_link.hpp"
#include "core/bytes.hpp"
#include "core/result.hpp"
#include "protocol/assurance.hpp"
#include "protocol/keys.hpp"
#include "store/client_store.hpp"

namespace bc::client {

// AssurancePeer is what the book needs to know of a contact.
struct AssurancePeer {
  std::string alias;
  protocol::IdentityKey identity;
  bool identity_changed = false;
  // Where we deposit for the contact (their queue) and the relay it is on.
  std::string relay_url;
  std::array<std::uint8_t, 32> relay_fingerprint{};
  wire::QueueId their_queue{};
  // The queue the contact writes to (ours), and its relay.
  std::string our_relay_url;
  wire::QueueId our_queue{};
};

// AssuranceHost is the part of the client the book uses. Calls that write run inside the
// caller's store transaction.
class AssuranceHost {
 public:
  virtual ~AssuranceHost() = default;
  virtual store::ClientStore& store() = 0;
  virtual std::int64_t now() = 0;
  virtual Rng& rng() = 0;
  virtual Result<protocol::IdentityKeyPair> identity() = 0;
  // peer gives a contact (kNotFound for an unknown alias).
  virtual Result<AssurancePeer> peer(const std::string& alias) = 0;
  // send encrypts a kAssurance payload with `body` to the contact and queues it in the outbox
  // (kUntrustedIdentity when the contact's key changed, kConflict without a session).
  virtual Result<void> send(const std::string& alias, ByteView body) = 0;
  // flush deposits the outbox (kUnavailable when a relay cannot be reached).
  virtual Result<void> flush() = 0;
  // outbox_empty tells whether every queued envelope has reached its relay.
  virtual Result<bool> outbox_empty() = 0;
  // seal encrypts a kAssurance payload to the contact into a padded envelope that is not
  // queued: the caller hands it to the relay's escrow. The session advances.
  virtual Result<Bytes> seal(const std::string& alias, ByteView body) = 0;
  // link connects to a relay (pinned certificate).
  virtual Result<std::unique_ptr<RelayLink>> link(const std::string& url, ByteView fingerprint) = 0;
  // alert stores an alert (code, alias, text) and reports it as an event.
  virtual Result<void> alert(const std::string& code, const std::string& alias,
                             const std::string& text, std::vector<Event>& events) = 0;
};

class AssuranceBook {
 public:
  explicit AssuranceBook(AssuranceHost& host) : host_(host) {}

  Result<AssuranceInfo> propose(const std::string& alias, const AssuranceTerms& terms);
  Result<std::vector<AssuranceInfo>> list();
  Result<AssuranceInfo> show(const std::string& id);
  Result<AssuranceInfo> ack(const std::string& id);
  Result<AssuranceInfo> withdraw(const std::string& id);
  Result<std::string> export_to(const std::string& id, const std::string& path);
  static Result<VerifiedExport> verify_file(const std::string& path);

  Result<EscrowInfo> escrow_open(const std::string& alias, std::int64_t deadline_in_ms);
  Result<EscrowInfo> escrow_deposit(const std::string& exchange_id, const AssuranceTerms& terms);
  Result<EscrowInfo> escrow_cancel(const std::string& exchange_id);
  Result<std::vector<EscrowInfo>> escrows();

  // on_payload handles a kAssurance payload from contact `alias` (inside the delivery's
  // transaction); `envelope` is the padded envelope it came in (what an escrow certificate
  // hashes).
  Result<void> on_payload(const std::string& alias, ByteView body, ByteView envelope,
                          std::vector<Event>& events);
  // poll_escrows asks the relay about every exchange still open on our side: a release brings
  // the certificate, which is checked against both deposits; an expiry ends the exchange. Sets
  // `again` when a released deposit has not been received yet (receive once more, then poll:
  // still missing then is an alert).
  Result<void> poll_escrows(std::vector<Event>& events, bool& again);
  // after_sync marks sent assurances delivered once the outbox is empty and expires what is
  // due, reporting each change.
  Result<void> after_sync(std::vector<Event>& events);

 private:
  struct Record;
  struct Escrow;
  Result<void> settle(Escrow& x, std::vector<Event>& events);
  Result<void> receive(const std::string& alias, ByteView doc, const std::string& exchange_id,
                       std::vector<Event>& events, bool& accepted);
  Result<void> on_escrow_invitation(const std::string& alias, const AssurancePeer& peer,
                                    ByteView body, std::vector<Event>& events);
  Result<void> on_escrow_deposit(const std::string& alias, ByteView body, ByteView envelope,
                                 std::vector<Event>& events);
  Result<Escrow> load_escrow(const std::string& exchange_id);
  Result<void> dispute(Escrow& x, const std::string& code, const std::string& problem,
                       std::vector<Event>& events);
  Result<protocol::Assurance> build(const AssurancePeer& peer, const AssuranceTerms& terms);
  Result<AssuranceInfo> change(const std::string& id, protocol::AssuranceState to,
                               Record* out = nullptr);
  AssuranceHost& host_;
};

}  // namespace bc::client
