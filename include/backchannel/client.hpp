// The Backchannel client API: one user's home (identity, contacts, sessions, messages) and every
// operation of the `backchannel` command line. Programs that embed the client use only this.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace bc::client {

// KdfCost picks the Argon2id cost that seals a new home: kModerate (default, 256 MiB),
// kInteractive (64 MiB), kMinimum (tests and demos only).
enum class KdfCost : std::uint8_t { kModerate, kInteractive, kMinimum };

// ClientOptions tune a client. Clock and Rng default to the system's.
struct ClientOptions {
  Clock* clock = nullptr;
  Rng* rng = nullptr;
  std::uint32_t relay_timeout_ms = 10'000;
  // sync_quiet_ms: sync stops once the relay has pushed nothing for this long.
  std::uint32_t sync_quiet_ms = 400;
  // watch_idle_ms: how long watch waits on a silent connection before it reconnects (and how
  // often it looks at its stop flag).
  std::uint32_t watch_idle_ms = 15'000;
  // relay_grace_ms: with two relays, how long after one relay delivered a message the other may
  // still deliver it before it is reported as withholding (default 2 minutes).
  std::int64_t relay_grace_ms = 2LL * 60 * 1000;
  // invitation_validity_ms: how long an invitation code works (default 7 days).
  std::int64_t invitation_validity_ms = 7LL * 24 * 60 * 60 * 1000;
};

// ContactInfo describes one contact.
struct ContactInfo {
  std::string alias;
  std::string name;               // the name the contact chose for itself
  std::string identity_key_hex;   // 33-byte identity key
  std::string introduced_by;      // alias of the mediator who introduced us; empty if direct
  bool verified = false;          // safety number compared and confirmed
  bool identity_changed = false;  // the key changed since it was confirmed: sending is blocked
  bool session_ready = false;     // a session exists (we can send)
  std::string relay_url;
  std::int64_t added_ms = 0;
};

// MessageInfo is one message of a conversation.
struct MessageInfo {
  std::string alias;
  bool outgoing = false;
  std::string kind;  // "text", "file", ... or "undecryptable"
  std::string text;  // text, file name, or the reason it could not be read
  std::string message_id_hex;
  std::int64_t sent_ms = 0;      // sender's clock
  std::int64_t received_ms = 0;  // our clock (0 for outgoing)
  std::string status;            // outgoing: "queued" | "sent"; incoming: "received"
  std::size_t size = 0;          // body bytes
};

// IntroductionInfo describes an introduction, as the mediator or as one of the parties sees it.
struct IntroductionInfo {
  std::string id;                  // hex
  std::string role;                // "mediator" | "party"
  std::string mediator;            // party: the mediator's alias
  std::string other;               // party: the proposed contact's name; mediator: "A + B"
  std::string other_identity_hex;  // party: the proposed contact's identity key
  std::string state;               // "offered" | "accepted" | "declined" | "completed"
  std::int64_t created_ms = 0;
};

// EventKind is what sync/watch reports.
enum class EventKind : std::uint8_t {
  kMessage,
  kContactAdded,
  kIntroductionOffered,
  kIntroductionCompleted,
  kIntroductionDeclined,
  kUndecryptable,
  kWarning,
  kAlert,
};

// AlertInfo is a finding about the channel itself: something the relay (or the network) did to
// the conversation that the two parties should know about. Codes are stable:
//   "missing"    a gap: messages the sender sent have not arrived
//   "replayed"   a message or envelope delivered again (including an old PreKeySignalMessage)
//   "reordered"  a message arrived after later ones (it fills a gap)
//   "altered"    a tampered, truncated or undecryptable envelope, or a broken hash chain
//   "diverged"   the two sides' transcripts differ
//   "silent"     no message or heartbeat from the contact for two heartbeat intervals
//   "relay_withholding"  a second relay delivered what this one did not
//   "bad_receipt"        a relay receipt whose signature does not verify
// first_seq..last_seq name the sender's conversation sequence numbers concerned (0 when not
// known, e.g. for an envelope that could not be decrypted).
struct AlertInfo {
  std::string code;
  std::string alias;
  std::string relay_url;
  std::string text;  // one sentence for the user
  std::int64_t at_ms = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
};

// Event is one thing sync/watch found.
struct Event {
  EventKind kind = EventKind::kMessage;
  std::string alias;  // the contact concerned (if any)
  std::string text;   // human-readable detail
  std::optional<MessageInfo> message;
  std::optional<IntroductionInfo> introduction;
  std::optional<AlertInfo> alert;  // set for kAlert
};

// event_kind_name gives "message", "contact_added", ...
[[nodiscard]] std::string event_kind_name(EventKind kind);

// InvitationInfo is a freshly made invitation.
struct InvitationInfo {
  std::string code;  // one line, starts with "bc1"
  std::string id_hex;
  std::int64_t expires_ms = 0;
};

// SafetyNumber is what `verify` shows.
struct SafetyNumber {
  std::string alias;
  std::string digits;  // 60 digits
  Bytes scannable;     // QR payload
  bool verified = false;
};

// RelayInfo is a configured relay.
struct RelayInfo {
  std::string url;
  std::string fingerprint_hex;
};

// HeldEnvelope is one envelope a relay holds for this user: what the relay itself can see.
struct HeldEnvelope {
  std::string relay_url;
  std::string queue_id_hex;        // the recipient id of the queue (random, names no one)
  std::uint64_t message_id = 0;    // the relay's sequence number
  std::size_t size = 0;            // padded size (a bucket)
  std::int64_t relay_time_ms = 0;  // when the relay accepted it
};

class Client {
 public:
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // init creates a new home under `home` (made if missing, mode 0700) with a fresh identity.
  // kConflict when a home exists there; kMalformed for an empty or over-long name.
  [[nodiscard]] static Result<std::unique_ptr<Client>> init(const std::string& home,
                                                            ByteView passphrase,
                                                            const std::string& name, KdfCost cost,
                                                            ClientOptions options = {});
  // open opens an existing home. kNotFound when there is none, kAuthFailed for a wrong
  // passphrase, kMalformed for a damaged store file (nothing is written on failure).
  [[nodiscard]] static Result<std::unique_ptr<Client>> open(const std::string& home,
                                                            ByteView passphrase,
                                                            ClientOptions options = {});

  // name is the name this user chose; identity_key_hex its 33-byte identity key.
  [[nodiscard]] Result<std::string> name();
  [[nodiscard]] Result<std::string> identity_key_hex();

  // relay_add records a relay (URL wss://HOST:PORT and its certificate's SHA-256) after checking
  // that it answers with that certificate. The first relay added is the one new queues go to.
  // kMalformed for a bad URL or fingerprint, kAuthFailed when the certificate differs,
  // kUnavailable when it cannot be reached.
  [[nodiscard]] Result<RelayInfo> relay_add(const std::string& url,
                                            const std::string& fingerprint_hex);
  [[nodiscard]] Result<std::vector<RelayInfo>> relays();

  // invite_create makes a one-time invitation code (a new queue on the first relay and a fresh
  // one-time prekey). kNotFound when no relay is configured.
  [[nodiscard]] Result<InvitationInfo> invite_create();
  // invite_accept opens a session from a code and tells its issuer (through the relay); the
  // issuer lists us as a contact at its next sync. kMalformed for a damaged code, kConflict for
  // an expired code, an alias in use or our own code, kAuthFailed for a bad signature.
  [[nodiscard]] Result<ContactInfo> invite_accept(const std::string& code,
                                                  const std::optional<std::string>& alias);

  // introduce (mediator) offers contacts `a` and `b` to each other. Returns the introduction id.
  [[nodiscard]] Result<std::string> introduce(const std::string& a, const std::string& b);
  [[nodiscard]] Result<std::vector<IntroductionInfo>> introductions();
  // intro_accept / intro_decline answer an introduction offered to us (kNotFound if unknown,
  // kConflict if already answered).
  [[nodiscard]] Result<void> intro_accept(const std::string& id);
  [[nodiscard]] Result<void> intro_decline(const std::string& id);

  [[nodiscard]] Result<std::vector<ContactInfo>> contacts();
  // verify computes the safety number with a contact; with confirm, records that it was compared
  // (and unblocks sending after an identity change).
  [[nodiscard]] Result<SafetyNumber> verify(const std::string& alias, bool confirm);

  // send_text / send_file encrypt and deposit a message. kNotFound for an unknown alias,
  // kUntrustedIdentity when the contact's identity changed since it was confirmed, kConflict when
  // no session exists yet, kUnavailable when the relay cannot be reached (the message stays
  // queued and goes out with the next send or sync).
  [[nodiscard]] Result<MessageInfo> send_text(const std::string& alias, const std::string& text);
  [[nodiscard]] Result<MessageInfo> send_file(const std::string& alias, const std::string& path);

  // sync connects to every relay, receives what is pending, decrypts, stores, acknowledges, and
  // returns what happened. kUnavailable when a relay cannot be reached (what was received before
  // is kept).
  [[nodiscard]] Result<std::vector<Event>> sync();
  // watch stays connected and calls on_event as things arrive, reconnecting after failures,
  // until `stop` becomes true. Fails only on a local error (the store).
  [[nodiscard]] Result<void> watch(const std::function<void(const Event&)>& on_event,
                                   const std::atomic<bool>& stop);

  // held_by_relays lists what the relays hold for us right now, without taking or deleting
  // anything. kUnavailable when a relay cannot be reached.
  [[nodiscard]] Result<std::vector<HeldEnvelope>> held_by_relays();

  // history returns a contact's conversation, oldest first.
  [[nodiscard]] Result<std::vector<MessageInfo>> history(const std::string& alias);

  // alerts returns the alerts raised about a contact's conversation, oldest first (every
  // contact's when alias is empty). kNotFound for an unknown alias.
  [[nodiscard]] Result<std::vector<AlertInfo>> alerts(const std::string& alias);

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// default_home resolves the home directory: BACKCHANNEL_HOME, else $XDG_DATA_HOME/backchannel,
// else ~/.local/share/backchannel.
[[nodiscard]] std::string default_home();

}  // namespace bc::client
